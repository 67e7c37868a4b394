#include "tls/tls_server.hpp"

#include <boost/asio/steady_timer.hpp>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <filesystem>
#include <sstream>
#include <stdexcept>

#include "metrics/histogram.hpp"
#include "sbc/transport/stream_session.hpp"
#include "tls/tls_io.hpp"

namespace sbc::tls {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// TLS 1.2 suites: ECDHE key exchange and AEAD only. TLS 1.3 suites are fixed in BoringSSL.
constexpr const char* kCiphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";

std::string last_ssl_error() {
  const uint32_t code = ERR_get_error();
  if (code == 0) return "unknown error";
  char text[256];
  ERR_error_string_n(code, text, sizeof text);
  ERR_clear_error();
  return text;
}

struct LoadedCertificate {
  bssl::UniquePtr<SSL_CTX> context;
  std::vector<std::string> names;  // DNS names from SAN, else the CN
  std::string subject;
  long days_left = 0;
  double not_after = 0;  // seconds since the epoch
};

std::vector<std::string> certificate_names(X509* cert) {
  std::vector<std::string> names;
  if (auto* sans = static_cast<GENERAL_NAMES*>(
          X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr))) {
    for (size_t i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* name = sk_GENERAL_NAME_value(sans, i);
      if (name->type != GEN_DNS) continue;
      const ASN1_STRING* dns = name->d.dNSName;
      names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(dns)),
                         static_cast<std::size_t>(ASN1_STRING_length(dns)));
    }
    GENERAL_NAMES_free(sans);
  }
  X509_NAME* subject = X509_get_subject_name(cert);
  const int cn = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (names.empty() && cn >= 0) {
    const ASN1_STRING* value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, cn));
    names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(value)),
                       static_cast<std::size_t>(ASN1_STRING_length(value)));
  }
  return names;
}

std::string subject_text(X509* cert) {
  char buffer[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buffer, sizeof buffer);
  return buffer;
}

bool name_matches(const std::string& pattern, std::string_view host) {
  auto lower_equal = [](std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(a[i])) !=
          std::tolower(static_cast<unsigned char>(b[i])))
        return false;
    return true;
  };
  if (pattern.rfind("*.", 0) == 0) {
    const std::size_t dot = host.find('.');
    return dot != std::string_view::npos && dot > 0 &&
           lower_equal(std::string_view(pattern).substr(1), host.substr(dot));
  }
  return lower_equal(pattern, host);
}

bssl::UniquePtr<SSL_CTX> new_context(const TlsSettings& settings) {
  bssl::UniquePtr<SSL_CTX> context(SSL_CTX_new(TLS_server_method()));
  if (!context) throw std::runtime_error("cannot create a TLS context: " + last_ssl_error());
  SSL_CTX* ctx = context.get();
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  if (SSL_CTX_set_strict_cipher_list(ctx, kCiphers) != 1)
    throw std::runtime_error("cipher list rejected: " + last_ssl_error());
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // Resumption: tickets (BoringSSL's default) and a server-side session cache.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
  SSL_CTX_set_num_tickets(ctx, 2);
  static constexpr unsigned char kSessionContext[] = "sbc";
  SSL_CTX_set_session_id_context(ctx, kSessionContext, sizeof kSessionContext - 1);
  if (!settings.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, settings.client_ca.c_str(), nullptr) != 1)
      throw std::runtime_error(settings.client_ca +
                               ": cannot load the client CA bundle: " + last_ssl_error());
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(settings.client_ca.c_str()))
      SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(
        ctx,
        SSL_VERIFY_PEER |
            (settings.require_client_certificate ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
        nullptr);
  }
  return context;
}

LoadedCertificate load_files(const CertificateFiles& files, const TlsSettings& settings) {
  LoadedCertificate loaded;
  loaded.context = new_context(settings);
  SSL_CTX* ctx = loaded.context.get();
  if (SSL_CTX_use_certificate_chain_file(ctx, files.certificate_chain.c_str()) != 1)
    throw std::runtime_error(files.certificate_chain +
                             ": cannot load the certificate chain: " + last_ssl_error());
  if (SSL_CTX_use_PrivateKey_file(ctx, files.private_key.c_str(), SSL_FILETYPE_PEM) != 1)
    throw std::runtime_error(files.private_key +
                             ": cannot load the private key: " + last_ssl_error());
  if (SSL_CTX_check_private_key(ctx) != 1)
    throw std::runtime_error(files.private_key + ": the key does not match " +
                             files.certificate_chain);
  X509* leaf = SSL_CTX_get0_certificate(ctx);
  loaded.names = certificate_names(leaf);
  loaded.subject = subject_text(leaf);
  int days = 0, seconds = 0;
  if (ASN1_TIME_diff(&days, &seconds, nullptr, X509_get0_notAfter(leaf)) == 1) {
    loaded.days_left = days;
    loaded.not_after = static_cast<double>(std::time(nullptr)) + days * 86400.0 + seconds;
  }
  if (loaded.days_left < 0 || (loaded.days_left == 0 && seconds < 0))
    throw std::runtime_error(files.certificate_chain + ": the certificate has expired");
  return loaded;
}

LoadedCertificate make_self_signed(const TlsSettings& settings) {
  LoadedCertificate loaded;
  loaded.context = new_context(settings);
  bssl::UniquePtr<EC_KEY> ec(EC_KEY_new_by_curve_name(NID_X9_62_prime256v1));
  bssl::UniquePtr<EVP_PKEY> key(EVP_PKEY_new());
  bssl::UniquePtr<X509> cert(X509_new());
  if (!ec || !EC_KEY_generate_key(ec.get()) || !key ||
      !EVP_PKEY_assign_EC_KEY(key.get(), ec.release()) || !cert)
    throw std::runtime_error("cannot generate a key: " + last_ssl_error());
  uint64_t serial = 0;
  RAND_bytes(reinterpret_cast<uint8_t*>(&serial), sizeof serial);
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), serial >> 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 90L * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const uint8_t*>("sbc self-signed (development only)"),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  bssl::UniquePtr<X509_EXTENSION> san(X509V3_EXT_nconf_nid(nullptr, &v3, NID_subject_alt_name,
                                                           "DNS:localhost,IP:127.0.0.1,IP:::1"));
  if (!san || !X509_add_ext(cert.get(), san.get(), -1) ||
      !X509_sign(cert.get(), key.get(), EVP_sha256()))
    throw std::runtime_error("cannot build a self-signed certificate: " + last_ssl_error());
  SSL_CTX* ctx = loaded.context.get();
  if (!SSL_CTX_use_certificate(ctx, cert.get()) || !SSL_CTX_use_PrivateKey(ctx, key.get()))
    throw std::runtime_error("cannot use the self-signed certificate: " + last_ssl_error());
  loaded.names = {"localhost"};
  loaded.subject = subject_text(cert.get());
  loaded.days_left = 90;
  loaded.not_after = static_cast<double>(std::time(nullptr)) + 90.0 * 24 * 3600;
  return loaded;
}

std::filesystem::file_time_type modified(const std::string& path) {
  std::error_code ec;
  const auto t = std::filesystem::last_write_time(path, ec);
  return ec ? std::filesystem::file_time_type::min() : t;
}

}  // namespace

struct TlsServer::Contexts {
  std::vector<LoadedCertificate> certificates;  // [0] is the default
  bool self_signed = false;
  std::vector<std::pair<std::string, std::filesystem::file_time_type>> stamps;

  static int on_server_name(SSL* ssl, int*, void* arg) {
    const auto* self = static_cast<const Contexts*>(arg);
    const char* requested = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    if (requested == nullptr) return SSL_TLSEXT_ERR_OK;  // default certificate
    for (const LoadedCertificate& c : self->certificates) {
      for (const std::string& n : c.names) {
        if (name_matches(n, requested)) {
          SSL_set_SSL_CTX(ssl, c.context.get());
          return SSL_TLSEXT_ERR_OK;
        }
      }
    }
    return SSL_TLSEXT_ERR_OK;  // unknown name: the default certificate
  }

  static std::shared_ptr<const Contexts> load(const TlsSettings& settings) {
    auto contexts = std::make_shared<Contexts>();
    if (settings.certificates.empty()) {
      contexts->certificates.push_back(make_self_signed(settings));
      contexts->self_signed = true;
    }
    for (const CertificateFiles& files : settings.certificates) {
      contexts->certificates.push_back(load_files(files, settings));
      contexts->stamps.emplace_back(files.certificate_chain, modified(files.certificate_chain));
      contexts->stamps.emplace_back(files.private_key, modified(files.private_key));
    }
    if (!settings.client_ca.empty())
      contexts->stamps.emplace_back(settings.client_ca, modified(settings.client_ca));
    SSL_CTX* first = contexts->certificates.front().context.get();
    SSL_CTX_set_tlsext_servername_callback(first, &Contexts::on_server_name);
    SSL_CTX_set_tlsext_servername_arg(first, contexts.get());
    return contexts;
  }
};

TlsServer::TlsServer(TlsSettings settings) : settings_(std::move(settings)) {
  contexts_.store(Contexts::load(settings_));
}

TlsServer::~TlsServer() = default;

bool TlsServer::self_signed() const {
  return contexts_.load()->self_signed;
}

bool TlsServer::files_changed() const {
  const auto contexts = contexts_.load();
  for (const auto& [path, stamp] : contexts->stamps)
    if (modified(path) != stamp) return true;
  return false;
}

double TlsServer::earliest_expiry() const {
  const auto contexts = contexts_.load();
  double earliest = 0;
  for (const LoadedCertificate& c : contexts->certificates)
    if (earliest == 0 || c.not_after < earliest) earliest = c.not_after;
  return earliest;
}

std::string TlsServer::describe() const {
  const auto contexts = contexts_.load();
  std::ostringstream out;
  for (std::size_t i = 0; i < contexts->certificates.size(); ++i) {
    const LoadedCertificate& c = contexts->certificates[i];
    if (i > 0) out << "; ";
    out << c.subject << " (names:";
    for (const std::string& n : c.names) out << ' ' << n;
    out << ", expires in " << c.days_left << " days)";
  }
  return out.str();
}

TlsServer::ReloadResult TlsServer::reload() {
  try {
    contexts_.store(Contexts::load(settings_));
    return {true, "certificates reloaded: " + describe()};
  } catch (const std::exception& e) {
    return {false,
            std::string("certificate reload failed, keeping the old certificates: ") + e.what()};
  }
}

namespace {

// The server side of a TLS handshake, driven by socket readiness, under the handshake deadline.
class Handshake : public std::enable_shared_from_this<Handshake> {
 public:
  Handshake(tcp::socket socket, bssl::UniquePtr<SSL> ssl,
            std::shared_ptr<const TlsServer::Contexts> contexts, transport::Worker& worker,
            transport::ConnectionTicket ticket, std::string advertised_ip,
            std::uint16_t advertised_port)
      : socket_(std::move(socket)),
        ssl_(std::move(ssl)),
        contexts_(std::move(contexts)),
        worker_(worker),
        timer_(worker.io()),
        ticket_(std::move(ticket)),
        advertised_ip_(std::move(advertised_ip)),
        advertised_port_(advertised_port) {}

  void start() {
    started_ns_ = metrics::monotonic_ns();
    timer_.expires_after(worker_.shared().limits.handshake_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->socket_.close(ignored);  // the pending wait ends with operation_aborted
    });
    step();
  }

 private:
  void step() {
    const int result = SSL_do_handshake(ssl_.get());
    if (result == 1) return done();
    asio::socket_base::wait_type wait;
    switch (SSL_get_error(ssl_.get(), result)) {
      case SSL_ERROR_WANT_READ:
        wait = asio::socket_base::wait_read;
        break;
      case SSL_ERROR_WANT_WRITE:
        wait = asio::socket_base::wait_write;
        break;
      default:  // a refused version, an unknown client certificate, garbage: just close
        ERR_clear_error();
        return fail();
    }
    socket_.async_wait(wait, [self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return self->fail();
      self->step();
    });
  }

  void fail() {
    if (!finished_) {
      finished_ = true;
      transport::EdgeStats& stats = worker_.handler().counters();
      (timed_out_ ? stats.tls_handshakes_timed_out : stats.tls_handshakes_failed).inc();
    }
    timer_.cancel();
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  void done() {
    finished_ = true;
    transport::EdgeStats& stats = worker_.handler().counters();
    stats.tls_handshake_duration.observe_ns(metrics::monotonic_ns() - started_ns_);
    stats.tls_handshakes_ok[SSL_version(ssl_.get()) == TLS1_3_VERSION ? 1 : 0].inc();
    timer_.cancel();
    // BoringSSL holds TLS 1.3 session tickets until the server writes; a client that sends
    // first would otherwise never get them before its request. A zero-byte write flushes them.
    SSL_write(ssl_.get(), "", 0);
    ERR_clear_error();
    boost::system::error_code ec;
    const auto local = socket_.local_endpoint(ec);
    const auto remote = socket_.remote_endpoint(ec);
    if (ec) return fail();
    SSL* ssl = ssl_.get();
    transport::StreamSession<TlsIo>::Identity identity;
    identity.local_ip =
        advertised_ip_.empty() ? transport::address_text(local.address()) : advertised_ip_;
    identity.advertised_port = advertised_port_;
    identity.remote_ip = transport::address_text(remote.address());
    identity.tls_version = SSL_get_version(ssl);
    if (const char* sni = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name))
      identity.server_name = sni;
    if (X509* peer = SSL_get_peer_certificate(ssl)) {
      if (SSL_get_verify_result(ssl) == X509_V_OK) {
        const auto names = certificate_names(peer);
        identity.peer_identity = names.empty() ? subject_text(peer) : names.front();
      }
      X509_free(peer);
    }
    std::make_shared<transport::StreamSession<TlsIo>>(
        TlsIo(std::move(socket_), std::move(ssl_)), worker_, sbc::Protocol::Tls,
        std::move(identity), local.port(), remote.port(), std::move(ticket_))
        ->start();
  }

  tcp::socket socket_;
  bssl::UniquePtr<SSL> ssl_;
  std::shared_ptr<const TlsServer::Contexts> contexts_;  // alive while the handshake may use them
  transport::Worker& worker_;
  asio::steady_timer timer_;
  transport::ConnectionTicket ticket_;
  std::string advertised_ip_;
  std::uint16_t advertised_port_;
  bool timed_out_ = false;
  bool finished_ = false;
  std::int64_t started_ns_ = 0;
};

}  // namespace

void TlsServer::start_session(tcp::socket socket, transport::Worker& worker,
                              transport::ConnectionTicket ticket, const std::string& advertised_ip,
                              std::uint16_t advertised_port) {
  auto contexts = contexts_.load();
  bssl::UniquePtr<SSL> ssl(SSL_new(contexts->certificates.front().context.get()));
  boost::system::error_code ec;
  socket.non_blocking(true, ec);
  if (!ssl || ec || SSL_set_fd(ssl.get(), socket.native_handle()) != 1) return;
  SSL_set_accept_state(ssl.get());
  std::make_shared<Handshake>(std::move(socket), std::move(ssl), std::move(contexts), worker,
                              std::move(ticket), advertised_ip, advertised_port)
      ->start();
}

}  // namespace sbc::tls
