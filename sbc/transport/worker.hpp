#pragma once
// One worker: a thread running its own io_context, with its own edge handler and sockets. Workers
// share no mutable state on the message path.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <time.h>
#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "sbc/transport/connection_limiter.hpp"
#include "sbc/transport/edge_handler.hpp"
#include "sbc/transport/flow_table.hpp"
#include "sbc/transport/inside_streams.hpp"
#include "sbc/transport/limits.hpp"
#include "sbc/transport/reject_log.hpp"

namespace sbc::transport {

namespace asio = boost::asio;

// Textual address as the SIP layer shows it: IPv4-mapped IPv6 addresses become IPv4.
std::string address_text(const asio::ip::address& address);

// State all workers see: read-only limits, and the connection caps (accept and close only).
struct Shared {
  // `ipv6_prefix`, `trusted`: how the policies count sources and whom they trust
  // (policy.ipv6_prefix, policy.acl.trusted), for the connection caps.
  explicit Shared(const StreamLimits& l, unsigned ipv6_prefix = 64,
                  std::vector<sbc::Cidr> trusted = {})
      : limits(l), limiter(limiter_settings(l, ipv6_prefix, std::move(trusted))) {}
  static ConnectionLimiterSettings limiter_settings(const StreamLimits& l, unsigned ipv6_prefix,
                                                    std::vector<sbc::Cidr> trusted) {
    ConnectionLimiterSettings s;
    s.max_total = l.max_connections;
    s.max_per_source = l.max_connections_per_source;
    s.max_per_ipv6_48 = l.max_connections_per_ipv6_48;
    s.max_per_ipv4_24 = l.max_connections_per_ipv4_24;
    s.reserved = l.max_connections * l.reserved_connections_percent / 100;
    s.ipv6_prefix = ipv6_prefix;
    s.trusted = std::move(trusted);
    return s;
  }
  const StreamLimits limits;
  ConnectionLimiter limiter;
  std::atomic<bool> draining{false};
};

class UdpListener;

enum class RelayDirection : std::uint8_t { OutsideToCore = 0, CoreToOutside = 1 };

// Why the SBC closed a stream connection of the outside (sbc_stream_connections_closed_total).
enum class StreamCloseReason : std::uint8_t {
  SendQueueFull = 0,  // a message did not fit its bounded outgoing queue (the peer stopped reading)
  WriteTimeout = 1,   // its queue made no progress for transport.write_timeout_ms
  Banned = 2,         // its source was banned
};
constexpr std::size_t kStreamCloseReasons = 3;

// The worker is the relay's Wire: it owns the flows and the inside socket toward the core.
class Worker final : public Wire, public FlowBinder {
 public:
  Worker(unsigned index, const EdgeOptions& options, Shared& shared);
  ~Worker() override;

  asio::io_context& io() noexcept { return io_; }
  EdgeHandler& handler() noexcept { return handler_; }
  const sip::Limits& handler_limits() const noexcept { return limits_; }
  FlowTable& flows() noexcept { return flows_; }
  // Sends bytes down one of this worker's flows (call on this worker's thread). False when the
  // flow is gone: the caller answers 430 Flow Failed (RFC 5626).
  bool deliver(FlowToken token, std::string_view bytes);
  Shared& shared() noexcept { return shared_; }

  // The inside: binds this worker's UDP socket toward the core (port 0: any free port) and
  // returns where it is bound. Call before start().
  asio::ip::udp::endpoint bind_inside(const asio::ip::udp::endpoint& endpoint);
  // Who may send to the inside UDP socket: the UDP cores' addresses and ports (`any_port`: any
  // port of those addresses). Everything else is dropped unread and counted. Without a call,
  // every sender is taken (tests). Call before start().
  void set_inside_peers(const std::vector<asio::ip::udp::endpoint>& cores, bool any_port);
  std::uint64_t inside_dropped() const noexcept { return inside_dropped_.value(); }
  // Hands valid messages to `router` (the relay) and ticks its timers. Call before start().
  void set_router(Router* router);

  bool send_outside(std::uint64_t flow_token, std::string_view bytes) noexcept override;
  std::optional<FlowAddress> flow_address(std::uint64_t flow_token) const noexcept override;
  void send_inside(Protocol protocol, std::string_view ip, std::uint16_t port,
                   std::string_view bytes) noexcept override;
  // The flow of the datagram a UDP listener of this worker is handling (see FlowBinder).
  bool draining() const noexcept override {
    return shared_.draining.load(std::memory_order_relaxed);
  }
  void close_after_sent(std::uint64_t flow_token) noexcept override;
  std::uint64_t bind_flow(bool hold) noexcept override;
  // Which datagram that is: set by the listener around EdgeHandler::handle().
  void binding(UdpListener* listener, const asio::ip::udp::endpoint* peer) noexcept {
    binding_listener_ = listener;
    binding_peer_ = peer;
  }
  // The inside over TCP and TLS: a listener on `local` (the inside socket's address and port)
  // for connections from the `cores`, and connections to them opened on first use. Throws
  // boost::system::system_error when the port cannot be bound. Call before start().
  void listen_inside_streams(const asio::ip::tcp::endpoint& local, std::vector<StreamCore> cores,
                             TlsConnector tls);
  // The cores allowed to connect to the inside port, with their names (cores by DNS name change
  // them).
  void set_inside_stream_cores(std::vector<StreamCore> cores);
  const InsideStreams* inside_streams() const noexcept { return inside_streams_.get(); }
  Router* router() const noexcept { return router_; }
  // Stops reading the inside socket and the tick (drain).
  void close_inside();
  unsigned index() const noexcept { return index_; }
  // Logs this worker's rejected messages, at most `per_second` lines a second. Call before start().
  void set_reject_log(std::uint32_t per_second, RejectLog::Sink sink) {
    reject_log_.emplace(index_, per_second, std::move(sink));
  }
  // Each outside message's outcome, for the rejection log.
  void note(const EdgeHandler::Outcome& outcome, const FlowInfo& flow) noexcept {
    const sip::Verdict& v = outcome.verdict;
    const bool answered = outcome.action == EdgeHandler::Action::Reply;
    if (answered) count_sent(flow.protocol);
    if (!reject_log_ || v.kind == sip::Verdict::Kind::Valid || (answered && v.status < 300)) return;
    // The coarse clock (a few ms) is plenty for a lines-per-second limit and costs less.
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    reject_log_->rejected(flow, v, answered,
                          static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec);
  }

  // Times the relay's processing of one message: from its arrival (construction) to the first
  // send in its direction while it is in hand (the relay's hand-off), into EdgeStats. Messages
  // not relayed, and sends made later by timers, are not measured.
  class InHand {
   public:
    InHand(Worker& worker, RelayDirection direction) noexcept : worker_(worker) {
      if (worker_.router_ == nullptr) return;
      worker_.in_hand_since_ns_ = metrics::monotonic_ns();
      worker_.in_hand_direction_ = direction;
    }
    ~InHand() { worker_.in_hand_since_ns_ = 0; }
    InHand(const InHand&) = delete;
    InHand& operator=(const InHand&) = delete;

   private:
    Worker& worker_;
  };

  void start();  // runs io() on a new thread
  void stop();   // stops io() and joins
  // Runs `f` on this worker's thread.
  void post(std::function<void()> f);

 private:
  unsigned index_;
  asio::io_context io_{1};
  sip::Limits limits_;
  EdgeHandler handler_;
  Shared& shared_;
  FlowTable flows_;
  Router* router_ = nullptr;
  std::unique_ptr<asio::ip::udp::socket> inside_;
  asio::ip::udp::endpoint inside_sender_;
  std::unique_ptr<std::array<char, 65536>> inside_buffer_;
  std::unique_ptr<InsideStreams> inside_streams_;
  asio::steady_timer tick_{io_};
  std::uint64_t ticks_ = 0;

 public:
  // Flows of this worker, refreshed every second for the scrape: TCP/TLS connections, UDP peers.
  std::size_t stream_flows() const noexcept {
    return stream_flows_.load(std::memory_order_relaxed);
  }
  std::size_t udp_flows() const noexcept { return udp_flows_.load(std::memory_order_relaxed); }
  // Open connections of this worker by Protocol (TCP, TLS), refreshed every second.
  std::size_t connections(Protocol p) const noexcept {
    return connections_seen_[static_cast<std::size_t>(p)].load(std::memory_order_relaxed);
  }
  // A message sent to the outside over `p` (an answer of the edge, or relayed).
  void count_sent(Protocol p) noexcept {
    handler_.counters().sent[static_cast<std::size_t>(p)].inc();
  }
  void count_stream_closed(StreamCloseReason r) noexcept {
    stream_closed_[static_cast<std::size_t>(r)].inc();
  }
  std::uint64_t stream_closed(StreamCloseReason r) const noexcept {
    return stream_closed_[static_cast<std::size_t>(r)].value();
  }
  // On this worker's thread, by its stream sessions.
  void count_connection(Protocol p, int delta) noexcept {
    connections_open_[static_cast<std::size_t>(p)] += delta;
  }

 private:
  std::atomic<std::size_t> stream_flows_{0}, udp_flows_{0};
  std::array<long, 3> connections_open_{};
  std::array<metrics::Counter, kStreamCloseReasons> stream_closed_;
  std::array<std::atomic<std::size_t>, 3> connections_seen_{};
  // The last inside destination parsed from text (the core, usually): no parse per message.
  std::string last_inside_ip_;
  mutable std::string remote_text_;  // flow_address() of a UDP flow
  asio::ip::udp::endpoint last_inside_endpoint_;
  struct InsidePeer {
    asio::ip::address address;
    std::uint16_t port;  // 0: any
  };
  std::optional<std::vector<InsidePeer>> inside_peers_;
  metrics::Counter inside_dropped_;
  bool from_core(const asio::ip::udp::endpoint& sender) const noexcept;
  UdpListener* binding_listener_ = nullptr;
  const asio::ip::udp::endpoint* binding_peer_ = nullptr;
  void receive_inside();
  void schedule_tick();
  void close_banned_streams(std::chrono::steady_clock::time_point now) noexcept;
  void relayed(RelayDirection direction) noexcept;
  std::optional<RejectLog> reject_log_;
  std::int64_t in_hand_since_ns_ = 0;  // 0: no message in hand
  RelayDirection in_hand_direction_ = RelayDirection::OutsideToCore;
  std::thread thread_;
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work_;
};

// A UDP socket of one worker. Every worker binds the same address and port with SO_REUSEPORT;
// the kernel spreads datagrams over them.
class UdpListener {
 public:
  UdpListener(Worker& worker, const asio::ip::udp::endpoint& endpoint);
  void start();
  void close();
  asio::ip::udp::endpoint local_endpoint() const { return socket_.local_endpoint(); }
  void send_to(const asio::ip::udp::endpoint& peer, std::string_view bytes);
  // What our Via and Record-Route show for this listener: its address and port, or `advertise`
  // (port 0: the bound one).
  void set_advertised(std::string ip, std::uint16_t port) {
    local_ip_ = std::move(ip);
    shown_port_ = port != 0 ? port : bound_port_;
  }
  FlowAddress address() const noexcept {
    return {Protocol::Udp, local_ip_, shown_port_, {}, bound_port_};
  }
  std::uint16_t bound_port() const noexcept { return bound_port_; }

 private:
  void receive();

  Worker& worker_;
  asio::ip::udp::socket socket_;
  asio::ip::udp::endpoint sender_;
  std::string local_ip_;
  std::uint16_t bound_port_ = 0;
  std::uint16_t shown_port_ = 0;
  std::unique_ptr<std::array<char, 65536>> buffer_;
};

// Accepts stream connections for one worker (SO_REUSEPORT, as for UDP) and hands each accepted
// socket that the connection limits allow to `on_accept`.
class StreamAcceptor {
 public:
  using OnAccept = std::function<void(asio::ip::tcp::socket, ConnectionTicket)>;
  StreamAcceptor(Worker& worker, const asio::ip::tcp::endpoint& endpoint, OnAccept on_accept);
  void start();
  void close();
  asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  std::uint64_t refused() const noexcept {
    std::uint64_t n = 0;
    for (const auto& c : refused_) n += c.value();
    return n;
  }
  std::uint64_t refused(ConnectionLimiter::Refusal why) const noexcept {
    return refused_[static_cast<std::size_t>(why)].value();
  }

 private:
  void accept();

  Worker& worker_;
  asio::ip::tcp::acceptor acceptor_;
  asio::steady_timer backoff_;  // after accept errors such as EMFILE, instead of spinning
  OnAccept on_accept_;
  std::array<metrics::Counter, ConnectionLimiter::kRefusals> refused_;  // by Refusal
};

}  // namespace sbc::transport
