#include "sbc/media/ng_client.hpp"

#include <array>
#include <boost/asio/ip/udp.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

namespace {

using boost::asio::ip::udp;
using sbc::media::NgClient;
using sbc::media::NgError;
using sbc::media::NgResult;

// A stand-in rtpengine on loopback: records what it receives and answers as told.
struct FakeEngine {
  enum class Mode { Ok, Silent, Refuse, Garbage };
  explicit FakeEngine(boost::asio::io_context& io)
      : socket(io, udp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
    receive();
  }
  void receive() {
    socket.async_receive_from(boost::asio::buffer(buffer), peer,
                              [this](const boost::system::error_code& ec, std::size_t size) {
                                if (ec) return;
                                on_request(std::string(buffer.data(), size));
                                receive();
                              });
  }
  void on_request(const std::string& request) {
    received.push_back(request);
    const std::string cookie = request.substr(0, request.find(' '));
    std::string body;
    const bool is_ping = request.find("4:ping") != std::string::npos;
    switch (mode) {
      case Mode::Silent:
        return;
      case Mode::Ok:
        body = is_ping ? "d6:result4:ponge" : "d3:sdp10:v=0\r\ns=x\r\n6:result2:oke";
        break;
      case Mode::Refuse:
        body = "d12:error-reason15:Unknown call-id6:result5:errore";
        break;
      case Mode::Garbage:
        body = "d6:result2:ok";
        break;
    }
    std::string answer = cookie;
    answer.append(" ").append(body);
    socket.send_to(boost::asio::buffer(answer), peer);
  }
  sbc::media::NgInstanceConfig config(const std::string& name, unsigned weight = 1) const {
    return {name, socket.local_endpoint(), weight};
  }
  udp::socket socket;
  udp::endpoint peer;
  std::array<char, 65536> buffer{};
  std::vector<std::string> received;
  Mode mode = Mode::Ok;
};

struct Outcome {
  bool finished = false;
  NgError error = NgError::None;
  std::string reason, sdp;
  int instance = -1;
};

sbc::media::NgDone record(Outcome& outcome) {
  return [&outcome](const NgResult& result) {
    outcome.finished = true;
    outcome.error = result.error;
    outcome.reason = std::string(result.reason);
    outcome.sdp = std::string(result.sdp);
    outcome.instance = result.instance;
  };
}

void run_until(boost::asio::io_context& io, const Outcome& outcome) {
  const auto limit = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!outcome.finished && std::chrono::steady_clock::now() < limit)
    io.run_one_for(std::chrono::milliseconds(50));
}

sbc::media::NgSettings settings_for(std::vector<sbc::media::NgInstanceConfig> instances) {
  sbc::media::NgSettings settings;
  settings.instances = std::move(instances);
  settings.timeout_ms = 60;
  settings.retries = 2;
  settings.ping_interval_s = 0;
  return settings;
}

}  // namespace

TEST_CASE("ng client: offer, cookie echo, the call's later commands stick", "[media][ng]") {
  boost::asio::io_context io;
  FakeEngine a(io), b(io);
  NgClient client(io, settings_for({a.config("a"), b.config("b")}));
  std::string error;
  REQUIRE(client.start(error));

  Outcome offered;
  client.offer("call-1", "ft", "v=0\r\n", {}, record(offered));
  run_until(io, offered);
  REQUIRE(offered.error == NgError::None);
  CHECK(offered.sdp == "v=0\r\ns=x\r\n");
  auto& chosen = offered.instance == 0 ? a : b;
  REQUIRE(chosen.received.size() == 1);
  CHECK(
      chosen.received[0].find(" d7:command5:offer7:call-id6:call-18:from-tag2:ft3:sdp5:v=0\r\ne") !=
      std::string::npos);

  // The other instance goes away: the call stays where it is (and the query says so).
  (offered.instance == 0 ? b : a).mode = FakeEngine::Mode::Silent;
  Outcome queried;
  client.query("call-1", record(queried));
  run_until(io, queried);
  CHECK(queried.error == NgError::None);
  CHECK(queried.instance == offered.instance);
  CHECK(client.route("call-1") == static_cast<std::size_t>(offered.instance));
  CHECK(client.counters().requests[0][0] == 1);  // offer, ok
}

TEST_CASE("ng client: no answer is a timeout after timeout x (retries + 1), same cookie",
          "[media][ng]") {
  boost::asio::io_context io;
  FakeEngine dead(io);
  dead.mode = FakeEngine::Mode::Silent;
  NgClient client(io, settings_for({dead.config("dead")}));
  std::string error;
  REQUIRE(client.start(error));
  Outcome pinged;
  const auto start = std::chrono::steady_clock::now();
  client.ping(0, record(pinged));
  run_until(io, pinged);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  CHECK(pinged.error == NgError::Timeout);
  CHECK(elapsed >= std::chrono::milliseconds(180));
  CHECK(elapsed < std::chrono::milliseconds(1000));
  REQUIRE(dead.received.size() == 3);
  CHECK(dead.received[0] == dead.received[1]);
  CHECK(dead.received[1] == dead.received[2]);
  CHECK_FALSE(client.instance_up(0));
  CHECK(client.counters().resends == 2);
  CHECK(client.outstanding() == 0);
}

TEST_CASE("ng client: a new call fails over from a silent instance", "[media][ng]") {
  boost::asio::io_context io;
  FakeEngine a(io), b(io);
  NgClient client(io, settings_for({a.config("a"), b.config("b")}));
  std::string error;
  REQUIRE(client.start(error));
  // A call that hashes to instance 0, which then says nothing.
  std::string call_id;
  for (int i = 0; call_id.empty() && i < 100; ++i)
    if (const auto name = std::to_string(i); client.route(name) == 0) call_id = name;
  REQUIRE_FALSE(call_id.empty());
  a.mode = FakeEngine::Mode::Silent;
  Outcome offered;
  client.offer(call_id, "ft", "v=0\r\n", {}, record(offered));
  run_until(io, offered);
  CHECK(offered.error == NgError::None);
  CHECK(offered.instance == 1);
  CHECK(a.received.size() == 3);
  CHECK(b.received.size() == 1);
  CHECK(client.counters().failovers == 1);
  CHECK(client.route(call_id) == 1);

  // The call's answer goes where its offer went, even once instance 0 answers again.
  a.mode = FakeEngine::Mode::Ok;
  Outcome answered;
  client.answer(call_id, "ft", "tt", "v=0\r\n", {}, record(answered));
  run_until(io, answered);
  CHECK(answered.instance == 1);
}

TEST_CASE("ng client: refusals, malformed answers and the bound on requests", "[media][ng]") {
  boost::asio::io_context io;
  FakeEngine engine(io);
  auto settings = settings_for({engine.config("e")});
  settings.max_outstanding = 2;
  NgClient client(io, settings);
  std::string error;
  REQUIRE(client.start(error));

  engine.mode = FakeEngine::Mode::Refuse;
  Outcome refused;
  client.remove("nope", "", record(refused));
  run_until(io, refused);
  CHECK(refused.error == NgError::Refused);
  CHECK(refused.reason == "Unknown call-id");

  engine.mode = FakeEngine::Mode::Garbage;
  Outcome garbled;
  client.query("x", record(garbled));
  run_until(io, garbled);
  CHECK(garbled.error == NgError::Malformed);
  CHECK(garbled.reason == "unterminated container");

  engine.mode = FakeEngine::Mode::Silent;
  Outcome first, second, third;
  client.ping(0, record(first));
  client.ping(0, record(second));
  client.ping(0, record(third));
  CHECK(third.finished);
  CHECK(third.error == NgError::Overloaded);
  CHECK(client.outstanding() == 2);
}

TEST_CASE("ng client: weighted rendezvous hashing spreads calls by weight", "[media][ng]") {
  boost::asio::io_context io;
  FakeEngine a(io), b(io);
  NgClient client(io, settings_for({a.config("a", 3), b.config("b", 1)}));
  int on_a = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::string call_id = std::to_string(i * 7919);
    const auto chosen = client.route(call_id);
    CHECK(client.route(call_id) == chosen);
    on_a += chosen == 0 ? 1 : 0;
  }
  CHECK(on_a > 2800);  // 3000 expected
  CHECK(on_a < 3200);
}

TEST_CASE("ng client: health pings mark an instance down, then up again", "[media][ng]") {
  boost::asio::io_context io;
  FakeEngine engine(io);
  engine.mode = FakeEngine::Mode::Silent;
  auto settings = settings_for({engine.config("e")});
  settings.ping_interval_s = 1;
  settings.retries = 0;
  NgClient client(io, settings);
  std::string error;
  REQUIRE(client.start(error));
  CHECK(client.instance_up(0));  // until told otherwise
  io.run_for(std::chrono::milliseconds(1300));
  CHECK_FALSE(client.instance_up(0));
  CHECK(engine.received.size() == 1);
  // Every instance down: a new call's offer fails at once, nothing sent.
  Outcome refused;
  client.offer("call-9", "ft", "v=0\r\n", {}, record(refused));
  CHECK(refused.finished);
  CHECK(refused.error == NgError::NoInstance);
  CHECK(refused.reason == "every rtpengine instance is down");
  CHECK(engine.received.size() == 1);
  engine.mode = FakeEngine::Mode::Ok;
  io.run_for(std::chrono::milliseconds(1000));
  CHECK(client.instance_up(0));
  CHECK(engine.received.size() == 2);
  CHECK(client.counters().requests[5][0] == 1);  // ping, ok
  CHECK(client.counters().requests[5][1] == 1);  // ping, timeout
  client.stop();
}

TEST_CASE("ng client: the options of an offer are written as rtpengine reads them", "[media][ng]") {
  boost::asio::io_context io;
  FakeEngine engine(io);
  NgClient client(io, settings_for({engine.config("a")}));
  std::string error;
  REQUIRE(client.start(error));
  const std::array<std::string_view, 2> replace = {"origin", "session-connection"};
  const std::array<std::string_view, 1> sdes = {"no-NULL_HMAC_SHA1_80"};
  sbc::media::NgOptions options;
  options.from_interface = "inside";
  options.to_interface = "outside";
  options.replace = replace;
  options.ice = "remove";
  options.transport_protocol = "RTP/SAVP";
  options.dtls = "off";
  options.sdes = sdes;
  options.received_from = "203.0.113.5";
  Outcome offered;
  client.offer("call-2", "ft", "v=0\r\n", options, record(offered));
  run_until(io, offered);
  REQUIRE(engine.received.size() == 1);
  const std::string& sent = engine.received[0];
  CHECK(sent.find("9:directionl6:inside7:outsidee") != std::string::npos);
  CHECK(sent.find("7:replacel6:origin18:session-connectione") != std::string::npos);
  CHECK(sent.find("3:ICE6:remove") != std::string::npos);
  CHECK(sent.find("18:transport-protocol8:RTP/SAVP") != std::string::npos);
  CHECK(sent.find("4:DTLS3:off") != std::string::npos);
  CHECK(sent.find("4:SDESl20:no-NULL_HMAC_SHA1_80e") != std::string::npos);
  CHECK(sent.find("13:received-froml3:IP411:203.0.113.5e") != std::string::npos);
}
