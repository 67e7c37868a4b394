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

// TLS toward the core (the SBC is the client).
struct TlsClientSettings {
  // Check the core's certificate: its chain up to ca_file (the system's CAs when empty) and its
  // name (server_name, or the core's IP address when empty).
  bool verify = true;
  std::string ca_file;
  std::string server_name;  // also sent as SNI when set
  // Ours, for a core that asks for a client certificate (mutual TLS); empty: none.
  CertificateFiles certificate;
};

}  // namespace sbc::tls
