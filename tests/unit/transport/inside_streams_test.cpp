// Connections toward the core (sbc/transport/inside_streams.hpp): real sockets on loopback, one
// worker whose io_context the test drives by hand, a "core" made of plain POSIX sockets.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "sbc/transport/worker.hpp"

using namespace sbc::transport;
using sbc::FlowInfo;
using sbc::Protocol;

namespace {

// Records what reaches the router from the inside.
class InsideRouter final : public Router {
 public:
  struct Message {
    std::string bytes;
    Protocol protocol;
    std::string ip;
    std::uint16_t port;
  };
  std::vector<Message> messages;
  std::vector<Message> failures;  // bytes empty
  void request_from_outside(const sbc::sip::Message&, const FlowInfo&) noexcept override {}
  void response_from_outside(const sbc::sip::Message&, const FlowInfo&) noexcept override {}
  void message_from_inside(std::string_view bytes, Protocol protocol, std::string_view ip,
                           std::uint16_t port) noexcept override {
    messages.push_back({std::string(bytes), protocol, std::string(ip), port});
  }
  void inside_failed(Protocol protocol, std::string_view ip, std::uint16_t port) noexcept override {
    failures.push_back({{}, protocol, std::string(ip), port});
  }
  void tick() noexcept override {}
};

std::uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t n = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
  return ntohs(a.sin_port);
}

int listening_core() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(listen(fd, 8) == 0);
  return fd;
}

// A TCP port with nothing listening on it (bound, so nobody else takes it, but not listening).
int closed_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  return fd;
}

// Runs the worker until `done` or about two seconds pass.
template <class Done>
bool run_until(Worker& worker, Done done) {
  for (int i = 0; i < 1000; ++i) {
    worker.io().poll();
    if (done()) return true;
    usleep(2000);
  }
  return false;
}

std::string read_some(int fd, Worker& worker) {
  std::string got;
  run_until(worker, [&] {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 0) != 1) return false;
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) got.append(buffer, static_cast<std::size_t>(n));
    return true;
  });
  return got;
}

int accept_from(int listener, Worker& worker) {
  int fd = -1;
  run_until(worker, [&] {
    pollfd p{listener, POLLIN, 0};
    if (poll(&p, 1, 0) != 1) return false;
    fd = accept(listener, nullptr, nullptr);
    return true;
  });
  return fd;
}

constexpr std::string_view kRequest =
    "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKin\r\n"
    "Max-Forwards: 70\r\nFrom: <sip:sbc@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\n"
    "Call-ID: inside@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
constexpr std::string_view kAnswer =
    "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1;branch=z9hG4bKin\r\n"
    "From: <sip:sbc@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>;tag=2\r\n"
    "Call-ID: inside@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 4\r\n\r\nbody";

struct Fixture {
  Shared shared{StreamLimits{}};
  Worker worker{0, EdgeOptions{}, shared};
  InsideRouter router;
  boost::asio::ip::udp::endpoint inside;
  // `cores`: the addresses that may connect to the worker's inside port.
  explicit Fixture(std::vector<StreamCore> cores = {{"127.0.0.1", ""}}) {
    inside = worker.bind_inside({boost::asio::ip::make_address("127.0.0.1"), 0});
    worker.listen_inside_streams({inside.address(), inside.port()}, std::move(cores), nullptr);
    worker.set_router(&router);
  }
};

}  // namespace

TEST_CASE("inside streams: one connection per core, from our inside port, both ways",
          "[inside][sockets]") {
  Fixture f;
  const int core = listening_core();
  const std::uint16_t core_port = port_of(core);
  f.worker.send_inside(Protocol::Tcp, "127.0.0.1", core_port, kRequest);
  f.worker.send_inside(Protocol::Tcp, "127.0.0.1", core_port, kRequest);  // queued while opening
  const int connection = accept_from(core, f.worker);
  REQUIRE(connection >= 0);
  // It comes from the inside address and port our Via and Path name: a core that looks
  // connections up by address sends its requests for our users over this one.
  sockaddr_in peer{};
  socklen_t n = sizeof peer;
  getpeername(connection, reinterpret_cast<sockaddr*>(&peer), &n);
  CHECK(ntohs(peer.sin_port) == f.inside.port());
  std::string got;
  run_until(f.worker, [&] {
    got += read_some(connection, f.worker);
    return got.size() >= 2 * kRequest.size();
  });
  CHECK(got == std::string(kRequest) + std::string(kRequest));
  // A third message reuses the connection.
  f.worker.send_inside(Protocol::Tcp, "127.0.0.1", core_port, kRequest);
  CHECK(read_some(connection, f.worker) == kRequest);
  CHECK(f.worker.inside_streams()->stats().opened.value() == 1);

  // The core answers in two pieces with a keep-alive before: framed, handed to the router once.
  REQUIRE(send(connection, "\r\n\r\n", 4, 0) == 4);
  CHECK(read_some(connection, f.worker) == "\r\n");  // RFC 5626 pong
  REQUIRE(send(connection, kAnswer.data(), 20, 0) == 20);
  REQUIRE(send(connection, kAnswer.data() + 20, kAnswer.size() - 20, 0) ==
          static_cast<ssize_t>(kAnswer.size() - 20));
  REQUIRE(run_until(f.worker, [&] { return !f.router.messages.empty(); }));
  REQUIRE(f.router.messages.size() == 1);
  CHECK(f.router.messages[0].bytes == kAnswer);
  CHECK(f.router.messages[0].protocol == Protocol::Tcp);
  CHECK(f.router.messages[0].port == core_port);
  CHECK(f.router.failures.empty());

  // The core closes the idle connection: no failure (nothing was unsent); the next message
  // opens a new one.
  close(connection);
  run_until(f.worker, [&] { return f.worker.inside_streams()->connections() == 0; });
  CHECK(f.worker.inside_streams()->connections() == 0);
  CHECK(f.router.failures.empty());
  f.worker.send_inside(Protocol::Tcp, "127.0.0.1", core_port, kRequest);
  const int again = accept_from(core, f.worker);
  REQUIRE(again >= 0);
  CHECK(read_some(again, f.worker) == kRequest);
  CHECK(f.worker.inside_streams()->stats().opened.value() == 2);
  close(again);
  close(core);
}

TEST_CASE("inside streams: a refused connection is reported to the router, after the send",
          "[inside][sockets]") {
  Fixture f;
  const int dead = closed_port();
  const std::uint16_t port = port_of(dead);
  f.worker.send_inside(Protocol::Tcp, "127.0.0.1", port, kRequest);
  CHECK(f.router.failures.empty());  // never from inside send_inside
  REQUIRE(run_until(f.worker, [&] { return !f.router.failures.empty(); }));
  CHECK(f.router.failures[0].protocol == Protocol::Tcp);
  CHECK(f.router.failures[0].ip == "127.0.0.1");
  CHECK(f.router.failures[0].port == port);
  CHECK(f.worker.inside_streams()->stats().failed.value() == 1);
  CHECK(f.worker.inside_streams()->connections() == 0);
  close(dead);
}

TEST_CASE("inside streams: the core may connect to our inside port, others may not",
          "[inside][sockets]") {
  Fixture f(std::vector<StreamCore>{{"127.0.0.2", ""}});  // only 127.0.0.2 is a core here
  Worker& worker = f.worker;
  InsideRouter& router = f.router;
  const auto& inside = f.inside;
  auto connect_from = [&](const char* source) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    inet_pton(AF_INET, source, &from.sin_addr);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(inside.port());
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
    return fd;
  };
  const int stranger = connect_from("127.0.0.1");
  REQUIRE(send(stranger, kRequest.data(), kRequest.size(), 0) > 0);
  run_until(worker, [&] { return worker.inside_streams()->stats().refused.value() == 1; });
  CHECK(worker.inside_streams()->stats().refused.value() == 1);
  const int core = connect_from("127.0.0.2");
  REQUIRE(send(core, kRequest.data(), kRequest.size(), 0) > 0);
  REQUIRE(run_until(worker, [&] { return !router.messages.empty(); }));
  CHECK(router.messages.size() == 1);  // the stranger's never reached the router
  CHECK(router.messages[0].ip == "127.0.0.2");
  const std::uint16_t core_port = router.messages[0].port;
  // An answer to the core's request goes back over the connection it came on.
  worker.send_inside(Protocol::Tcp, "127.0.0.2", core_port, kAnswer);
  CHECK(read_some(core, worker) == kAnswer);
  CHECK(worker.inside_streams()->stats().accepted.value() == 1);
  CHECK(worker.inside_streams()->stats().opened.value() == 0);
  close(stranger);
  close(core);
}

TEST_CASE("inside streams: a core that closes before sending anything back lost our requests",
          "[inside][sockets]") {
  Fixture f;
  const int core = listening_core();
  const std::uint16_t core_port = port_of(core);
  f.worker.send_inside(Protocol::Tcp, "127.0.0.1", core_port, kRequest);
  const int connection = accept_from(core, f.worker);
  REQUIRE(connection >= 0);
  CHECK(read_some(connection, f.worker) == kRequest);
  // Like a TLS 1.3 core refusing our client certificate, or one that crashed at once: closed
  // without a byte back, the request is as good as lost.
  close(connection);
  REQUIRE(run_until(f.worker, [&] { return !f.router.failures.empty(); }));
  CHECK(f.router.failures[0].port == core_port);
  CHECK(f.worker.inside_streams()->stats().failed.value() == 1);
  close(core);
}
