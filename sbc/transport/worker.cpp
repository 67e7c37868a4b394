#include "sbc/transport/worker.hpp"

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
             static_cast<std::uint32_t>(shared.limits.max_udp_flows)) {}

bool Worker::deliver(FlowToken token, std::string_view bytes) {
  const auto route = flows_.find(token);
  if (!route) return false;
  if (route->stream) {
    route->stream->send_down(bytes);
  } else {
    route->udp->send_to(route->peer, bytes);
  }
  return true;
}

Worker::~Worker() {
  stop();
}

void Worker::start() {
  work_ = std::make_unique<asio::executor_work_guard<asio::io_context::executor_type>>(
      io_.get_executor());
  thread_ = std::thread([this] { io_.run(); });
}

void Worker::stop() {
  work_.reset();
  io_.stop();
  if (thread_.joinable()) thread_.join();
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
  local_port_ = socket_.local_endpoint().port();
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
          flow.local_port = local_port_;
          flow.remote_ip = remote_ip;
          flow.remote_port = sender_.port();
          flow.flow_token = worker_.flows().touch_udp(this, sender_).value;
          const std::string_view bytes(buffer_->data(), n);
          // RFC 5626 keep-alive over UDP: a lone CRLFCRLF needs no answer (STUN would).
          if (bytes.find_first_not_of("\r\n") != std::string_view::npos) {
            const auto outcome = worker_.handler().handle(bytes, sip::Framing::Datagram, flow);
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
            std::string source = address_text(remote.address());
            if (!worker_.shared().draining && worker_.shared().limiter.try_acquire(source)) {
              socket.set_option(asio::ip::tcp::no_delay(true), endpoint_error);
              on_accept_(std::move(socket),
                         ConnectionTicket(&worker_.shared().limiter, std::move(source)));
            } else {
              refused_.inc();  // closing the socket refuses the connection
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
