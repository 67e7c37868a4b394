// A request from the core reaches the very connection (or UDP peer) a user agent talks over:
// real sockets on loopback, one worker whose io_context the test drives by hand.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "sbc/transport/stream_session.hpp"
#include "sbc/transport/worker.hpp"

using namespace sbc::transport;

namespace {

int client_socket(int type, unsigned short port) {
  const int fd = socket(AF_INET, type, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  return fd;
}

std::string receive(int fd, Worker& worker) {
  // Let the worker run until the bytes arrive (bounded).
  for (int i = 0; i < 200; ++i) {
    worker.io().poll();
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10) == 1) {
      char buffer[2048];
      const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
      return n > 0 ? std::string(buffer, static_cast<std::size_t>(n)) : std::string();
    }
  }
  return {};
}

void run_for(Worker& worker, int rounds) {
  for (int i = 0; i < rounds; ++i) {
    worker.io().poll();
    usleep(2000);
  }
}

constexpr std::string_view kOptions =
    "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKflow\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:ua@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
    "Call-ID: flow@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

}  // namespace

TEST_CASE("a TCP connection's flow token sends down that connection until it closes",
          "[flows][sockets]") {
  StreamLimits limits;
  limits.max_connections = 4;
  Shared shared(limits);
  Worker worker(0, EdgeOptions{}, shared);
  StreamAcceptor acceptor(worker, {boost::asio::ip::make_address("127.0.0.1"), 0},
                          [&worker](boost::asio::ip::tcp::socket s, ConnectionTicket t) {
                            start_tcp_session(std::move(s), worker, std::move(t));
                          });
  acceptor.start();
  const int ua = client_socket(SOCK_STREAM, acceptor.local_endpoint().port());
  REQUIRE(send(ua, kOptions.data(), kOptions.size(), 0) == static_cast<ssize_t>(kOptions.size()));
  CHECK(receive(ua, worker).starts_with("SIP/2.0 200 OK\r\n"));
  REQUIRE(worker.flows().streams() == 1);

  // The first flow of a fresh table: slot 0, generation 1.
  const FlowToken token = FlowToken::make(0, 0, 1);
  const std::string request = "NOTIFY sip:ua@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
  REQUIRE(worker.deliver(token, request));
  CHECK(receive(ua, worker) == request);

  close(ua);
  run_for(worker, 20);
  CHECK(worker.flows().streams() == 0);
  CHECK_FALSE(worker.deliver(token, request));  // the relay answers 430 Flow Failed
}

TEST_CASE("a UDP peer's flow token sends to that peer", "[flows][sockets]") {
  Shared shared(StreamLimits{});
  Worker worker(0, EdgeOptions{}, shared);
  UdpListener listener(worker, {boost::asio::ip::make_address("127.0.0.1"), 0});
  listener.start();
  const int ua = client_socket(SOCK_DGRAM, listener.local_endpoint().port());
  REQUIRE(send(ua, kOptions.data(), kOptions.size(), 0) == static_cast<ssize_t>(kOptions.size()));
  CHECK(receive(ua, worker).starts_with("SIP/2.0 200 OK\r\n"));
  REQUIRE(worker.flows().udp_peers() == 1);

  sockaddr_in self{};
  socklen_t length = sizeof self;
  getsockname(ua, reinterpret_cast<sockaddr*>(&self), &length);
  const boost::asio::ip::udp::endpoint peer(boost::asio::ip::make_address("127.0.0.1"),
                                            ntohs(self.sin_port));
  const FlowToken token = worker.flows().touch_udp(&listener, peer);  // the same flow
  CHECK(worker.flows().udp_peers() == 1);
  const std::string request = "NOTIFY sip:ua@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n\r\n";
  REQUIRE(worker.deliver(token, request));
  CHECK(receive(ua, worker) == request);
  close(ua);
}

namespace {

// Relays every request to a "core" on loopback after answering 100 itself, as the relay does.
class TimedRouter final : public Router {
 public:
  TimedRouter(Worker& worker, std::uint16_t core_port) : worker_(worker), core_port_(core_port) {}
  void request_from_outside(const sbc::sip::Message&, const FlowInfo& flow) noexcept override {
    (void)worker_.send_outside(flow.flow_token, "SIP/2.0 100 Trying\r\n\r\n");  // not a relay
    worker_.send_inside(Protocol::Udp, "127.0.0.1", core_port_, "relayed");
    worker_.send_inside(Protocol::Udp, "127.0.0.1", core_port_, "a second copy");
  }
  void response_from_outside(const sbc::sip::Message&, const FlowInfo&) noexcept override {}
  void message_from_inside(std::string_view, Protocol, std::string_view,
                           std::uint16_t) noexcept override {}
  void inside_failed(Protocol, std::string_view, std::uint16_t) noexcept override {}
  void tick() noexcept override {}

 private:
  Worker& worker_;
  std::uint16_t core_port_;
};

constexpr std::string_view kMessage =
    "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKtimed\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:ua@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n"
    "Call-ID: timed@test\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n";

std::uint64_t measured(Worker& worker, RelayDirection d) {
  sbc::metrics::HistogramSnapshot s;
  worker.handler().stats().relay_processing[static_cast<std::size_t>(d)].add_to(s);
  return s.count;
}

}  // namespace

TEST_CASE("the worker times a relayed message once, from its arrival to its hand-off",
          "[flows][sockets][metrics]") {
  Shared shared(StreamLimits{});
  Worker worker(0, EdgeOptions{}, shared);
  const int core = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in core_address{};
  core_address.sin_family = AF_INET;
  core_address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(core, reinterpret_cast<sockaddr*>(&core_address), sizeof core_address) == 0);
  socklen_t length = sizeof core_address;
  getsockname(core, reinterpret_cast<sockaddr*>(&core_address), &length);
  worker.bind_inside({boost::asio::ip::make_address("127.0.0.1"), 0});
  TimedRouter router(worker, ntohs(core_address.sin_port));
  worker.set_router(&router);
  UdpListener listener(worker, {boost::asio::ip::make_address("127.0.0.1"), 0});
  listener.start();

  const int ua = client_socket(SOCK_DGRAM, listener.local_endpoint().port());
  REQUIRE(send(ua, kMessage.data(), kMessage.size(), 0) == static_cast<ssize_t>(kMessage.size()));
  CHECK(receive(ua, worker).starts_with("SIP/2.0 100 Trying"));
  CHECK(receive(core, worker) == "relayed");
  // One measurement toward the core, although it sent two copies and answered 100 first.
  CHECK(measured(worker, RelayDirection::OutsideToCore) == 1);
  CHECK(measured(worker, RelayDirection::CoreToOutside) == 0);

  {
    const Worker::InHand in_hand(worker, RelayDirection::CoreToOutside);
    const FlowToken token = worker.flows().touch_udp(&listener, [&] {
      sockaddr_in self{};
      socklen_t n = sizeof self;
      getsockname(ua, reinterpret_cast<sockaddr*>(&self), &n);
      return boost::asio::ip::udp::endpoint(boost::asio::ip::make_address("127.0.0.1"),
                                            ntohs(self.sin_port));
    }());
    REQUIRE(worker.send_outside(token.value, "NOTIFY"));
  }
  CHECK(measured(worker, RelayDirection::CoreToOutside) == 1);
  // A send with no message in hand (a timer's retransmission) is not a relay measurement.
  worker.send_inside(Protocol::Udp, "127.0.0.1", ntohs(core_address.sin_port), "retransmission");
  CHECK(measured(worker, RelayDirection::OutsideToCore) == 1);
  close(ua);
  close(core);
}

TEST_CASE("the worker logs rejected messages, not the ones it serves", "[flows][sockets][log]") {
  Shared shared(StreamLimits{});
  Worker worker(0, EdgeOptions{}, shared);
  std::vector<std::string> lines;
  worker.set_reject_log(10, [&](std::string_view l) { lines.emplace_back(l); });
  UdpListener listener(worker, {boost::asio::ip::make_address("127.0.0.1"), 0});
  listener.start();
  const int ua = client_socket(SOCK_DGRAM, listener.local_endpoint().port());
  REQUIRE(send(ua, kOptions.data(), kOptions.size(), 0) == static_cast<ssize_t>(kOptions.size()));
  CHECK(receive(ua, worker).starts_with("SIP/2.0 200 OK\r\n"));
  CHECK(lines.empty());
  // No From, no Call-ID: invalid (400), and no answer can be built from it, so dropped.
  const std::string broken = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\n\r\n";
  REQUIRE(send(ua, broken.data(), broken.size(), 0) == static_cast<ssize_t>(broken.size()));
  run_for(worker, 20);
  REQUIRE(lines.size() == 1);
  INFO(lines[0]);
  CHECK(lines[0].find("msg=\"message rejected\" worker=0 transport=udp source=127.0.0.1:") !=
        std::string::npos);
  CHECK(lines[0].find(" action=drop status=none reason=") != std::string::npos);
  close(ua);
}
