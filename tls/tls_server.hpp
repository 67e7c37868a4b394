#pragma once
// TLS termination for stream listeners: BoringSSL contexts (TLS 1.2 and 1.3 only, modern AEAD
// ciphers, server preference, session resumption), certificates chosen by SNI, optional mutual
// TLS, and certificate reload that never drops established connections.

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "sbc/transport/worker.hpp"
#include "tls/tls_settings.hpp"

namespace sbc::tls {

class TlsServer {
 public:
  // Loads the certificates; throws std::runtime_error naming the file and the reason.
  explicit TlsServer(TlsSettings settings);
  ~TlsServer();

  // Runs the handshake (with the handshake deadline) on an accepted socket, then a stream
  // session carrying the TLS facts of the connection. `advertised_ip` and `advertised_port`:
  // what our Via and Record-Route show for the listener (listeners[].advertise); empty and 0 =
  // the socket's address and port.
  void start_session(transport::asio::ip::tcp::socket socket, transport::Worker& worker,
                     transport::ConnectionTicket ticket, const std::string& advertised_ip,
                     std::uint16_t advertised_port);

  // Reloads the certificate files. New connections use the new certificates; established ones
  // keep theirs. On failure the old certificates stay and the message says why.
  struct ReloadResult {
    bool ok;
    std::string message;
  };
  ReloadResult reload();

  // Whether the files changed since the last (re)load (polled by the daemon).
  bool files_changed() const;
  bool self_signed() const;
  // The earliest notAfter of the loaded certificates, in seconds since the epoch.
  double earliest_expiry() const;
  // Human-readable summary of the loaded certificates (names, expiry), for the log.
  std::string describe() const;

  struct Contexts;  // BoringSSL state, defined in tls_server.cpp

 private:
  TlsSettings settings_;
  std::atomic<std::shared_ptr<const Contexts>> contexts_;
};

}  // namespace sbc::tls
