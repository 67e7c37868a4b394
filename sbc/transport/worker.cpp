#include "sbc/transport/worker.hpp"

#include <algorithm>

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>

#include <sys/socket.h>

namespace sbc::transport {
namespace {

// SO_REUSEPORT: every worker binds its own socket to the same address and port.
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

}  // namespace

std::string address_text(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6()).to_string();
  return address.to_string();
}

Worker::Worker(unsigned index, const EdgeOptions& options, Shared& shared)
    : index_(index),
      limits_(options.limits),
      handler_(options),
      shared_(shared),
      flows_(index, static_cast<std::uint32_t>(shared.limits.max_connections),
             static_cast<std::uint32_t>(shared.limits.max_udp_flows)) {
  handler_.set_flow_binder(this);
  handler_.set_draining(&shared.draining);
}

std::uint64_t Worker::bind_flow(bool hold) noexcept {
  if (binding_listener_ == nullptr || binding_peer_ == nullptr) return 0;
  try {
    return flows_.touch_udp(binding_listener_, *binding_peer_, hold).value;
  } catch (...) {
    return 0;  // out of memory: no flow; answers to this request are lost, as over UDP they may be
  }
}

bool Worker::deliver(FlowToken token, std::string_view bytes) {
  const auto route = flows_.find(token);
  if (!route) return false;
  if (route->stream) {
    if (!route->stream->send_down(bytes)) return false;
    count_sent(route->stream->address().protocol);
  } else {
    route->udp->send_to(route->peer, bytes);
    count_sent(Protocol::Udp);
  }
  return true;
}

std::optional<FlowAddress> Worker::flow_address(std::uint64_t flow_token) const noexcept {
  const auto route = flows_.find(FlowToken{flow_token});
  if (!route) return std::nullopt;
  if (route->stream) return route->stream->address();
  FlowAddress address = route->udp->address();
  remote_text_ = address_text(route->peer.address());
  address.remote_ip = remote_text_;
  return address;
}

void Worker::close_after_sent(std::uint64_t flow_token) noexcept {
  const auto route = flows_.find(FlowToken{flow_token});
  if (route && route->stream) route->stream->shut_after_sent();
}

void Worker::relayed(RelayDirection direction) noexcept {
  if (in_hand_since_ns_ == 0 || in_hand_direction_ != direction) return;
  handler_.counters().relay_processing[static_cast<std::size_t>(direction)].observe_ns(
      metrics::monotonic_ns() - in_hand_since_ns_);
  in_hand_since_ns_ = 0;  // one measurement per message, however many copies it sends
}

bool Worker::send_outside(std::uint64_t flow_token, std::string_view bytes) noexcept {
  relayed(RelayDirection::CoreToOutside);
  return deliver(FlowToken{flow_token}, bytes);
}

void Worker::send_inside(Protocol protocol, std::string_view ip, std::uint16_t port,
                         std::string_view bytes) noexcept {
  if (protocol != Protocol::Udp) {
    relayed(RelayDirection::OutsideToCore);
    if (inside_streams_) {
      inside_streams_->send(protocol, ip, port, bytes);
    } else if (router_ != nullptr) {
      // No inside connections configured: as if the connection could not be opened.
      try {
        asio::post(io_, [this, protocol, ip = std::string(ip), port] {
          router_->inside_failed(protocol, ip, port);
        });
      } catch (...) {
        // Out of memory: the transaction times out instead.
      }
    }
    return;
  }
  if (!inside_) return;
  relayed(RelayDirection::OutsideToCore);
  if (ip != last_inside_ip_ || port != last_inside_endpoint_.port()) {
    boost::system::error_code ec;
    const auto address = asio::ip::make_address(ip, ec);
    if (ec) return;
    last_inside_ip_.assign(ip);
    last_inside_endpoint_ = asio::ip::udp::endpoint(address, port);
    // An IPv4 core from a socket bound to an IPv6 wildcard.
    if (inside_->local_endpoint().address().is_v6() && address.is_v4())
      last_inside_endpoint_ = asio::ip::udp::endpoint(
          asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4()), port);
  }
  // A full socket buffer drops this datagram, as UDP may; the transaction retransmits.
  boost::system::error_code ec;
  inside_->send_to(asio::buffer(bytes.data(), bytes.size()), last_inside_endpoint_, 0, ec);
}

asio::ip::udp::endpoint Worker::bind_inside(const asio::ip::udp::endpoint& endpoint) {
  inside_ = std::make_unique<asio::ip::udp::socket>(io_);
  inside_->open(endpoint.protocol());
  if (endpoint.address().is_v6()) inside_->set_option(asio::ip::v6_only(false));
  inside_->bind(endpoint);
  inside_buffer_ = std::make_unique<std::array<char, 65536>>();
  return inside_->local_endpoint();
}

void Worker::listen_inside_streams(const asio::ip::tcp::endpoint& local,
                                   std::vector<StreamCore> cores, TlsConnector tls) {
  auto streams = std::make_unique<InsideStreams>(*this, local, std::move(cores), std::move(tls));
  streams->listen();
  inside_streams_ = std::move(streams);
}

void Worker::set_inside_stream_cores(std::vector<StreamCore> cores) {
  if (inside_streams_) inside_streams_->set_cores(std::move(cores));
}

void Worker::set_router(Router* router) {
  router_ = router;
  handler_.set_router(router);
}

void Worker::close_inside() {
  boost::system::error_code ec;
  if (inside_) inside_->close(ec);
  if (inside_streams_) inside_streams_->close();
  tick_.cancel();
}

namespace {
// IPv4-mapped IPv6 (a socket bound to an IPv6 wildcard) as IPv4.
asio::ip::address unmapped(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  return a;
}
}  // namespace

void Worker::set_inside_peers(const std::vector<asio::ip::udp::endpoint>& cores, bool any_port) {
  std::vector<InsidePeer> peers;
  peers.reserve(cores.size());
  for (const auto& core : cores)
    peers.push_back({unmapped(core.address()), any_port ? std::uint16_t{0} : core.port()});
  inside_peers_ = std::move(peers);
}

bool Worker::from_core(const asio::ip::udp::endpoint& sender) const noexcept {
  if (!inside_peers_) return true;
  const asio::ip::address address = unmapped(sender.address());
  return std::any_of(inside_peers_->begin(), inside_peers_->end(), [&](const InsidePeer& p) {
    return (p.port == 0 || p.port == sender.port()) && p.address == address;
  });
}

void Worker::receive_inside() {
  inside_->async_receive_from(asio::buffer(*inside_buffer_), inside_sender_,
                              [this](boost::system::error_code ec, std::size_t n) {
                                if (ec == asio::error::operation_aborted || !inside_->is_open())
                                  return;
                                if (!ec && n > 0 && !from_core(inside_sender_)) {
                                  // Not a core (forged answers to our probes, requests from
                                  // anywhere): dropped unread.
                                  inside_dropped_.inc();
                                } else if (!ec && n > 0 && router_ != nullptr) {
                                  const InHand in_hand(*this, RelayDirection::CoreToOutside);
                                  const std::string source = address_text(inside_sender_.address());
                                  router_->message_from_inside({inside_buffer_->data(), n},
                                                               Protocol::Udp, source,
                                                               inside_sender_.port());
                                }
                                receive_inside();
                              });
}

void Worker::close_banned_streams(std::chrono::steady_clock::time_point now) noexcept {
  // A ban (made here or imposed from another worker) ends the source's open connections too: it
  // must not keep what it holds, and its keep-alives alone never reach the policies.
  policy::Chain* chain = handler_.policy();
  flows_.for_each_stream([&](FlowSink& sink) {
    const FlowInfo* flow = sink.flow_info();
    if (flow == nullptr || !chain->banned(*flow, now)) return;
    count_stream_closed(StreamCloseReason::Banned);
    sink.shut();
  });
}

void Worker::schedule_tick() {
  // Transaction timers are multiples of T1 (500 ms by default): 10 ms granularity is plenty.
  tick_.expires_after(std::chrono::milliseconds(10));
  tick_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    if (router_ != nullptr) router_->tick();
    if (++ticks_ % 100 == 0) {
      stream_flows_.store(flows_.streams(), std::memory_order_relaxed);
      udp_flows_.store(flows_.udp_peers(), std::memory_order_relaxed);
      for (std::size_t p = 0; p < connections_open_.size(); ++p)
        connections_seen_[p].store(static_cast<std::size_t>(std::max(0L, connections_open_[p])),
                                   std::memory_order_relaxed);
      if (handler_.policy() != nullptr) {
        const auto now = std::chrono::steady_clock::now();
        handler_.policy()->maintain(now);
        close_banned_streams(now);
      }
      if (reject_log_) reject_log_->flush();
    }
    schedule_tick();
  });
}

Worker::~Worker() {
  stop();
}

void Worker::start() {
  work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      io_.get_executor());
  if (inside_) receive_inside();
  if (router_ != nullptr || handler_.policy() != nullptr || reject_log_) schedule_tick();
  thread_ = std::thread([this] { io_.run(); });
}

void Worker::stop() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
  if (reject_log_) reject_log_->flush();
}

void Worker::post(std::function<void()> f) {
  asio::post(io_, std::move(f));
}

UdpListener::UdpListener(Worker& worker, const asio::ip::udp::endpoint& endpoint)
    : worker_(worker), socket_(worker.io()), buffer_(std::make_unique<std::array<char, 65536>>()) {
  socket_.open(endpoint.protocol());
  if (endpoint.address().is_v6()) socket_.set_option(asio::ip::v6_only(false));
  socket_.set_option(asio::socket_base::reuse_address(true));
  socket_.set_option(reuse_port(true));
  socket_.bind(endpoint);
  local_ip_ = address_text(socket_.local_endpoint().address());
  bound_port_ = shown_port_ = socket_.local_endpoint().port();
}

void UdpListener::start() {
  receive();
}

void UdpListener::close() {
  boost::system::error_code ec;
  socket_.close(ec);
}

void UdpListener::send_to(const asio::ip::udp::endpoint& peer, std::string_view bytes) {
  // Answers are small; a full socket buffer drops this one, as UDP may.
  boost::system::error_code ec;
  socket_.send_to(asio::buffer(bytes.data(), bytes.size()), peer, 0, ec);
}

void UdpListener::receive() {
  socket_.async_receive_from(
      asio::buffer(*buffer_), sender_, [this](boost::system::error_code ec, std::size_t n) {
        if (ec == asio::error::operation_aborted || !socket_.is_open()) return;
        if (!ec && n > 0) {
          const std::string remote_ip = address_text(sender_.address());
          FlowInfo flow;
          flow.protocol = Protocol::Udp;
          flow.local_ip = local_ip_;
          flow.local_port = shown_port_;
          flow.listener_port = bound_port_;
          flow.remote_ip = remote_ip;
          flow.remote_port = sender_.port();
          // No flow yet: the edge binds one (Worker::bind_flow) only when it hands the message
          // to the relay, so that what is invalid, banned or refused never touches the table.
          const std::string_view bytes(buffer_->data(), n);
          // RFC 5626 keep-alive over UDP: a lone CRLFCRLF needs no answer (STUN would). It keeps
          // an existing flow fresh, and makes none.
          if (bytes.find_first_not_of("\r\n") == std::string_view::npos) {
            (void)worker_.flows().refresh_udp(this, sender_);
          } else {
            const Worker::InHand in_hand(worker_, RelayDirection::OutsideToCore);
            worker_.binding(this, &sender_);
            const auto outcome = worker_.handler().handle(bytes, sip::Framing::Datagram, flow);
            worker_.binding(nullptr, nullptr);
            worker_.note(outcome, flow);
            if (outcome.action == EdgeHandler::Action::Reply) {
              // Answers are small; a full socket buffer drops this one, as UDP may.
              boost::system::error_code send_error;
              socket_.send_to(asio::buffer(outcome.reply.data(), outcome.reply.size()), sender_, 0,
                              send_error);
            }
          }
        }
        receive();
      });
}

StreamAcceptor::StreamAcceptor(Worker& worker, const asio::ip::tcp::endpoint& endpoint,
                               OnAccept on_accept)
    : worker_(worker),
      acceptor_(worker.io()),
      backoff_(worker.io()),
      on_accept_(std::move(on_accept)) {
  acceptor_.open(endpoint.protocol());
  if (endpoint.address().is_v6()) acceptor_.set_option(asio::ip::v6_only(false));
  acceptor_.set_option(asio::socket_base::reuse_address(true));
  acceptor_.set_option(reuse_port(true));
  acceptor_.bind(endpoint);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void StreamAcceptor::start() {
  accept();
}

void StreamAcceptor::close() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  backoff_.cancel();
}

void StreamAcceptor::accept() {
  acceptor_.async_accept(
      worker_.io(), [this](boost::system::error_code ec, asio::ip::tcp::socket socket) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
        if (!ec) {
          boost::system::error_code endpoint_error;
          const auto remote = socket.remote_endpoint(endpoint_error);
          if (!endpoint_error) {
            const std::string source = address_text(remote.address());
            ConnectionLimiter::Keys keys;
            const auto refusal = worker_.shared().draining
                                     ? std::optional(ConnectionLimiter::Refusal::Total)
                                     : worker_.shared().limiter.try_acquire(source, keys);
            if (!refusal) {
              socket.set_option(asio::ip::tcp::no_delay(true), endpoint_error);
              on_accept_(std::move(socket), ConnectionTicket(&worker_.shared().limiter, keys));
            } else {
              refused_[static_cast<std::size_t>(*refusal)].inc();  // closing the socket refuses it
            }
          }
        } else {
          backoff_.expires_after(std::chrono::milliseconds(100));
          backoff_.async_wait([this](boost::system::error_code wait_error) {
            if (!wait_error) accept();
          });
          return;
        }
        accept();
      });
}

}  // namespace sbc::transport
