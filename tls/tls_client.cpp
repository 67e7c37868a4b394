#include "tls/tls_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <stdexcept>

#include "tls/tls_io.hpp"

namespace sbc::tls {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

std::string last_error() {
  const uint32_t code = ERR_get_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

}  // namespace

transport::TlsConnector make_tls_connector(const TlsClientSettings& settings) {
  std::shared_ptr<SSL_CTX> context(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
  if (!context) throw std::runtime_error("core.tls: cannot create a TLS context: " + last_error());
  SSL_CTX* ctx = context.get();
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (settings.verify) {
    const bool loaded = settings.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx) == 1
                                                 : SSL_CTX_load_verify_locations(
                                                       ctx, settings.ca_file.c_str(), nullptr) == 1;
    if (!loaded)
      throw std::runtime_error("core.tls.ca_file: cannot load \"" + settings.ca_file +
                               "\": " + last_error());
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  const CertificateFiles& own = settings.certificate;
  if (!own.certificate_chain.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, own.certificate_chain.c_str()) != 1)
      throw std::runtime_error("core.tls.certificate.chain: cannot load \"" +
                               own.certificate_chain + "\": " + last_error());
    if (SSL_CTX_use_PrivateKey_file(ctx, own.private_key.c_str(), SSL_FILETYPE_PEM) != 1)
      throw std::runtime_error("core.tls.certificate.key: cannot load \"" + own.private_key +
                               "\": " + last_error());
    if (SSL_CTX_check_private_key(ctx) != 1)
      throw std::runtime_error("core.tls.certificate: the key does not match the certificate");
  }
  return [context, verify = settings.verify, server_name = settings.server_name](
             tcp::socket socket, std::string_view peer_ip,
             std::string_view peer_name) -> std::unique_ptr<transport::InsideIo> {
    bssl::UniquePtr<SSL> ssl(SSL_new(context.get()));
    boost::system::error_code ec;
    socket.non_blocking(true, ec);
    if (!ssl || ec || SSL_set_fd(ssl.get(), socket.native_handle()) != 1) return nullptr;
    SSL_set_connect_state(ssl.get());
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    // The name the certificate must carry: core.tls.server_name, else the name the core was
    // configured by (RFC 5922 section 4: the URI's domain, not the SRV target or the address).
    const std::string name(server_name.empty() ? peer_name : std::string_view(server_name));
    if (!name.empty()) {
      if (SSL_set_tlsext_host_name(ssl.get(), name.c_str()) != 1) return nullptr;
      if (verify && X509_VERIFY_PARAM_set1_host(param, name.data(), name.size()) != 1)
        return nullptr;
    } else if (verify) {
      // A core named by its address must hold a certificate for that address (an IP SAN).
      const std::string ip(peer_ip);
      if (X509_VERIFY_PARAM_set1_ip_asc(param, ip.c_str()) != 1) return nullptr;
    }
    return std::make_unique<transport::InsideIoOver<TlsIo>>(
        TlsIo(std::move(socket), std::move(ssl)));
  };
}

}  // namespace sbc::tls
