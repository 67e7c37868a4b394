// A request from the core reaches the very connection (or UDP peer) a user agent talks over:
// real sockets on loopback, one worker whose io_context the test drives by hand.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "sbc/transport/stream_session.hpp"
#include "sbc/transport/worker.hpp"

using namespace sbc::transport;
using sbc::FlowInfo;
using sbc::Protocol;

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

// A worker with a TCP listener on a free loopback port, started.
struct TcpEdge {
  Shared shared;
  Worker worker;
  StreamAcceptor acceptor;
  explicit TcpEdge(const StreamLimits& limits)
      : shared(limits),
        worker(0, EdgeOptions{}, shared),
        acceptor(worker, {boost::asio::ip::make_address("127.0.0.1"), 0},
                 [this](boost::asio::ip::tcp::socket s, ConnectionTicket t) {
                   start_tcp_session(std::move(s), worker, std::move(t), {}, 0);
                 }) {
    acceptor.start();
  }
};

}  // namespace

TEST_CASE("a TCP connection's flow token sends down that connection until it closes",
          "[flows][sockets]") {
  StreamLimits limits;
  limits.max_connections = 4;
  TcpEdge edge(limits);
  Worker& worker = edge.worker;
  StreamAcceptor& acceptor = edge.acceptor;
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
  // The edge answered it itself: no flow (flows are made for what reaches the relay).
  REQUIRE(worker.flows().udp_peers() == 0);

  sockaddr_in self{};
  socklen_t length = sizeof self;
  getsockname(ua, reinterpret_cast<sockaddr*>(&self), &length);
  const boost::asio::ip::udp::endpoint peer(boost::asio::ip::make_address("127.0.0.1"),
                                            ntohs(self.sin_port));
  const FlowToken token = worker.flows().touch_udp(&listener, peer);
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

namespace {

// Records the flow token of every message the edge hands over.
class FlowRecorder final : public Router {
 public:
  void request_from_outside(const sbc::sip::Message&, const FlowInfo& flow) noexcept override {
    tokens.push_back(flow.flow_token);
  }
  void response_from_outside(const sbc::sip::Message&, const FlowInfo& flow) noexcept override {
    tokens.push_back(flow.flow_token);
  }
  void message_from_inside(std::string_view, Protocol, std::string_view,
                           std::uint16_t) noexcept override {}
  void inside_failed(Protocol, std::string_view, std::uint16_t) noexcept override {}
  void tick() noexcept override {}
  std::vector<std::uint64_t> tokens;
};

std::string udp_request(std::string_view method) {
  std::string m(method);
  return m + " sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK" + m +
         "\r\nMax-Forwards: 70\r\nFrom: <sip:bob@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\n"
         "Call-ID: " +
         m + "@test\r\nCSeq: 1 " + m +
         "\r\nContact: <sip:bob@127.0.0.1:5099>\r\nContent-Length: 0\r\n\r\n";
}

}  // namespace

TEST_CASE("UDP flows are made only for what reaches the relay, held for registrations",
          "[flows][sockets]") {
  Shared shared(StreamLimits{});
  Worker worker(0, EdgeOptions{}, shared);
  FlowRecorder router;
  worker.set_router(&router);
  UdpListener listener(worker, {boost::asio::ip::make_address("127.0.0.1"), 0});
  listener.start();
  const auto port = listener.local_endpoint().port();

  // Garbage, a lone keep-alive and an invalid request: no flow at all.
  const int junk = client_socket(SOCK_DGRAM, port);
  for (std::string_view d : {std::string_view("x"), std::string_view("\r\n\r\n"),
                             std::string_view("INVITE nonsense\r\n\r\n")})
    REQUIRE(send(junk, d.data(), d.size(), 0) == static_cast<ssize_t>(d.size()));
  run_for(worker, 20);
  CHECK(worker.flows().udp_peers() == 0);
  CHECK(router.tokens.empty());

  // A MESSAGE reaches the relay with an unverified flow; a REGISTER with a held one.
  const int ua = client_socket(SOCK_DGRAM, port);
  const std::string message = udp_request("MESSAGE");
  REQUIRE(send(ua, message.data(), message.size(), 0) == static_cast<ssize_t>(message.size()));
  run_for(worker, 20);
  REQUIRE(router.tokens.size() == 1);
  CHECK(router.tokens[0] != 0);
  CHECK(worker.flows().udp_peers() == 1);
  CHECK(worker.flows().udp_held() == 0);
  const std::string reg = udp_request("REGISTER");
  REQUIRE(send(ua, reg.data(), reg.size(), 0) == static_cast<ssize_t>(reg.size()));
  run_for(worker, 20);
  REQUIRE(router.tokens.size() == 2);
  CHECK(router.tokens[1] == router.tokens[0]);  // the same peer, the same flow
  CHECK(worker.flows().udp_peers() == 1);
  CHECK(worker.flows().udp_held() == 1);
  close(junk);
  close(ua);
}

namespace {

class InsideRecorder final : public Router {
 public:
  void request_from_outside(const sbc::sip::Message&, const FlowInfo&) noexcept override {}
  void response_from_outside(const sbc::sip::Message&, const FlowInfo&) noexcept override {}
  void message_from_inside(std::string_view bytes, Protocol, std::string_view,
                           std::uint16_t) noexcept override {
    heard.emplace_back(bytes);
    count.store(heard.size());
  }
  void inside_failed(Protocol, std::string_view, std::uint16_t) noexcept override {}
  void tick() noexcept override {}
  std::vector<std::string> heard;  // read after the worker stopped
  std::atomic<std::size_t> count{0};
};

int bound_udp(std::uint16_t& port) {
  const int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t n = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  port = ntohs(a.sin_port);
  return fd;
}

}  // namespace

TEST_CASE("the inside socket hears only the cores' addresses and ports", "[flows][sockets]") {
  Shared shared(StreamLimits{});
  Worker worker(0, EdgeOptions{}, shared);
  InsideRecorder router;
  worker.set_router(&router);
  const auto inside = worker.bind_inside({boost::asio::ip::make_address("127.0.0.1"), 0});
  std::uint16_t core_port = 0, other_port = 0;
  const int core = bound_udp(core_port);
  const int other = bound_udp(other_port);  // the core's address, another port
  worker.set_inside_peers({{boost::asio::ip::make_address("127.0.0.1"), core_port}}, false);
  worker.start();
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(inside.port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  auto send_from = [&](int fd, std::string_view what) {
    REQUIRE(sendto(fd, what.data(), what.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to) ==
            static_cast<ssize_t>(what.size()));
  };
  send_from(other, "forged");
  send_from(core, "from the core");
  for (int i = 0; i < 200 && (worker.inside_dropped() < 1 || router.count.load() == 0); ++i)
    usleep(2000);
  worker.stop();
  CHECK(worker.inside_dropped() == 1);
  CHECK(router.heard == std::vector<std::string>{"from the core"});
  close(core);
  close(other);
}

namespace {

// A TCP client of `worker`'s acceptor that never reads (a tiny receive buffer), with its flow.
struct StalledClient {
  int fd = -1;
  FlowToken token;
};

StalledClient stalled_client(Worker& worker, StreamAcceptor& acceptor) {
  StalledClient c;
  c.fd = socket(AF_INET, SOCK_STREAM, 0);
  const int small = 1024;
  setsockopt(c.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(acceptor.local_endpoint().port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(c.fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  for (int i = 0; i < 200 && worker.flows().streams() == 0; ++i) run_for(worker, 1);
  REQUIRE(worker.flows().streams() == 1);
  c.token = FlowToken::make(0, 0, 1);  // the first flow of a fresh table
  return c;
}

}  // namespace

TEST_CASE("a peer that stops reading is closed when its queue is full, and sends fail",
          "[flows][sockets]") {
  StreamLimits limits;
  limits.max_queued_bytes = std::size_t{64} * 1024;
  TcpEdge edge(limits);
  Shared& shared = edge.shared;
  Worker& worker = edge.worker;
  StreamAcceptor& acceptor = edge.acceptor;
  const StalledClient client = stalled_client(worker, acceptor);
  const std::string message(std::size_t{16} * 1024, 'x');
  std::size_t accepted = 0;
  // The kernel's buffers take some; then our queue; then the bound closes the connection.
  while (accepted < 2000 && worker.deliver(client.token, message)) {
    ++accepted;
    worker.io().poll();
  }
  CHECK(accepted < 2000);
  CHECK(worker.stream_closed(StreamCloseReason::SendQueueFull) == 1);
  CHECK_FALSE(worker.deliver(client.token, message));  // the relay answers 430
  run_for(worker, 5);
  CHECK(worker.flows().streams() == 0);
  CHECK(shared.limiter.total() == 0);
  close(client.fd);
}

TEST_CASE("a peer whose queue makes no progress is closed after the write timeout",
          "[flows][sockets]") {
  StreamLimits limits;
  limits.max_queued_bytes = std::size_t{64} << 20;  // the queue bound is not what closes it
  limits.write_timeout = std::chrono::milliseconds(100);
  TcpEdge edge(limits);
  Worker& worker = edge.worker;
  StreamAcceptor& acceptor = edge.acceptor;
  const StalledClient client = stalled_client(worker, acceptor);
  const std::string message(std::size_t{64} * 1024, 'x');
  for (int i = 0; i < 160; ++i) REQUIRE(worker.deliver(client.token, message));  // 10 MiB
  for (int i = 0; i < 200 && worker.flows().streams() != 0; ++i) run_for(worker, 1);
  CHECK(worker.stream_closed(StreamCloseReason::WriteTimeout) == 1);
  CHECK(worker.flows().streams() == 0);
  CHECK_FALSE(worker.deliver(client.token, message));
  close(client.fd);
}
