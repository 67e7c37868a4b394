#pragma once
// TLS settings of a listener, as configured. No BoringSSL here: only tls/*.cpp include it.

#include <string>
#include <vector>

namespace sbc::tls {

struct CertificateFiles {
  std::string certificate_chain;  // PEM: leaf first, then intermediates
  std::string private_key;        // PEM
};

struct TlsSettings {
  // The first is the default; the others are chosen by SNI (names from their SAN/CN). Empty:
  // a self-signed certificate is generated at start for development, with a loud warning.
  std::vector<CertificateFiles> certificates;
  std::string client_ca;  // PEM bundle: when set, client certificates are asked for and verified
  bool require_client_certificate = false;
};

}  // namespace sbc::tls
