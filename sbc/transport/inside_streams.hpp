#pragma once
// One worker's stream connections to and from the core (TCP, TLS). A proxy keeps its connections
// to the next hop open and reuses them (RFC 3261 18.1.1), so every transaction toward a core goes
// over one connection per core and worker, opened on first use with a deadline.
//
// Outgoing connections are bound to the worker's inside address and port, the one our Via, Path
// and Record-Route entries name on the inside, and a listener on that same port takes the
// connections the core opens to us. A core that looks up connections by address (Kamailio,
// Asterisk) therefore sends its answers and its requests for our users over the connection we
// opened, and one that connects to our Via/Path address instead reaches us too. Only the core's
// addresses may connect.
//
// A connection that cannot be opened, or breaks with messages unsent, is reported to the router
// (Router::inside_failed), which fails over to another core (RFC 3261 17.1.4).

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/counter.hpp"
#include "sbc/common/flow.hpp"
#include "sbc/transport/io_want.hpp"

namespace sbc::transport {

namespace asio = boost::asio;

class Worker;
class InsideConnection;

// Reads and writes of one inside connection without blocking: plain TCP, or TLS (tls/).
class InsideIo {
 public:
  virtual ~InsideIo() = default;
  // Advances the handshake (TLS; plain TCP has none): true when done, else false with `want`
  // saying what to wait for (Closed: it failed).
  virtual bool handshake(IoWant& want) noexcept = 0;
  virtual std::size_t read_some(char* data, std::size_t size, IoWant& want) noexcept = 0;
  virtual std::size_t write_some(const char* data, std::size_t size, IoWant& want) noexcept = 0;
  // Bytes already decrypted, invisible to the socket.
  virtual bool has_buffered_input() const noexcept = 0;
  virtual asio::ip::tcp::socket& socket() noexcept = 0;
  virtual void close() noexcept = 0;
};

// An InsideIo over one of the edge's Io types (TcpIo, tls::TlsIo): the same non-blocking reads
// and writes, behind the interface the inside connections use for both.
template <class Io>
class InsideIoOver final : public InsideIo {
 public:
  explicit InsideIoOver(Io io) : io_(std::move(io)) {}
  bool handshake(IoWant& want) noexcept override { return io_.handshake(want); }
  std::size_t read_some(char* data, std::size_t size, IoWant& want) noexcept override {
    return io_.read_some(data, size, want);
  }
  std::size_t write_some(const char* data, std::size_t size, IoWant& want) noexcept override {
    return io_.write_some(data, size, want);
  }
  bool has_buffered_input() const noexcept override { return io_.has_buffered_input(); }
  asio::ip::tcp::socket& socket() noexcept override { return io_.socket(); }
  void close() noexcept override { io_.close(); }

 private:
  Io io_;
};

// Makes the TLS client side of a connected socket toward the core at `peer_ip`, named
// `peer_name` in the configuration (empty for a core given as an address): the identity its
// certificate must show (tls/ provides it); null when TLS cannot be set up.
using TlsConnector = std::function<std::unique_ptr<InsideIo>(
    asio::ip::tcp::socket socket, std::string_view peer_ip, std::string_view peer_name)>;

// A core over TCP or TLS: its address, and the DNS name it was found by (RFC 5922: a TLS core's
// identity is the name of the URI, not the address it resolved to); empty for an address.
struct StreamCore {
  std::string ip;
  std::string name;
};

struct InsideStreamStats {
  metrics::Counter opened;    // connections we opened to a core
  metrics::Counter accepted;  // connections a core opened to us
  metrics::Counter failed;    // could not be opened, or broke with messages unsent
  metrics::Counter refused;   // connections from addresses that are not a core, or over the bound
};

class InsideStreams {
 public:
  // `local`: the worker's inside address and port. `cores`: those allowed to connect.
  InsideStreams(Worker& worker, asio::ip::tcp::endpoint local, std::vector<StreamCore> cores,
                TlsConnector tls);
  ~InsideStreams();
  InsideStreams(const InsideStreams&) = delete;
  InsideStreams& operator=(const InsideStreams&) = delete;

  // Starts accepting the core's connections. Throws boost::system::system_error when the port
  // cannot be bound (start-up only).
  void listen();
  // Sends over the connection to ip:port (opening it when there is none). On this worker's thread.
  void send(Protocol protocol, std::string_view ip, std::uint16_t port,
            std::string_view bytes) noexcept;
  void close() noexcept;
  // Who may connect from now on (connections already open stay).
  void set_cores(std::vector<StreamCore> cores) { cores_ = std::move(cores); }

  std::size_t connections() const noexcept { return connections_.size(); }
  const InsideStreamStats& stats() const noexcept { return stats_; }

 private:
  friend class InsideConnection;
  void accept();
  void send_or_open(Protocol protocol, std::string_view ip, std::uint16_t port,
                    std::string_view bytes);
  void forget(const InsideConnection* connection) noexcept;
  void report_failure(Protocol protocol, std::string ip, std::uint16_t port) noexcept;
  // The configured name of the core at `ip` ("" for a core given as an address, or unknown).
  std::string_view core_name(std::string_view ip) const noexcept;

  Worker& worker_;
  asio::ip::tcp::endpoint local_;
  std::vector<StreamCore> cores_;
  TlsConnector tls_;
  std::unique_ptr<asio::ip::tcp::acceptor> acceptor_;
  std::vector<std::shared_ptr<InsideConnection>> connections_;
  InsideStreamStats stats_;
  bool closed_ = false;
};

}  // namespace sbc::transport
