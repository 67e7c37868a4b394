#pragma once
// Non-blocking TLS over a connected socket, for the edge's stream sessions (TLS server) and the
// connections toward the core (TLS client). BoringSSL reads and writes the socket itself and
// keeps record buffers only while they hold data, so an idle connection costs little more than
// its SSL object. Internal to tls/: it includes BoringSSL.

#include <boost/asio/ip/tcp.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstddef>

#include "sbc/transport/io_want.hpp"

namespace sbc::tls {

class TlsIo {
 public:
  using tcp = boost::asio::ip::tcp;
  using IoWant = transport::IoWant;

  TlsIo(tcp::socket socket, bssl::UniquePtr<SSL> ssl)
      : socket_(std::move(socket)), ssl_(std::move(ssl)) {}
  tcp::socket& socket() noexcept { return socket_; }
  // Advances the handshake: true when done, else false with `want` (Closed: it failed).
  bool handshake(IoWant& want) noexcept {
    const int result = SSL_do_handshake(ssl_.get());
    if (result == 1) return true;
    settle(result, want);
    return false;
  }
  std::size_t read_some(char* data, std::size_t size, IoWant& want) noexcept {
    const int n =
        SSL_read(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    return settle(n, want);
  }
  std::size_t write_some(const char* data, std::size_t size, IoWant& want) noexcept {
    const int n =
        SSL_write(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(size, 1 << 30)));
    return settle(n, want);
  }
  bool has_buffered_input() const noexcept { return SSL_pending(ssl_.get()) > 0; }
  void close() noexcept {
    SSL_shutdown(ssl_.get());  // best effort close_notify; the socket is non-blocking
    ERR_clear_error();
    boost::system::error_code ec;
    socket_.shutdown(boost::asio::socket_base::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  std::size_t settle(int n, IoWant& want) noexcept {
    if (n > 0) return static_cast<std::size_t>(n);
    switch (SSL_get_error(ssl_.get(), n)) {
      case SSL_ERROR_WANT_READ:
        want = IoWant::Read;
        break;
      case SSL_ERROR_WANT_WRITE:
        want = IoWant::Write;
        break;
      default:
        want = IoWant::Closed;
        ERR_clear_error();
        break;
    }
    return 0;
  }

  tcp::socket socket_;
  bssl::UniquePtr<SSL> ssl_;
};

}  // namespace sbc::tls
