#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "sbc/transport/flow_table.hpp"

using namespace sbc::transport;
namespace asio = boost::asio;

namespace {
struct RecordingSink : FlowSink {
  std::string sent;
  void send_down(std::string_view bytes) override { sent += bytes; }
  FlowAddress address() const override { return {Protocol::Tcp, "192.0.2.1", 5060, "192.0.2.9"}; }
};
asio::ip::udp::endpoint peer(const char* ip, unsigned short port) {
  return {asio::ip::make_address(ip), port};
}
}  // namespace

TEST_CASE("flow tokens round-trip through text and refuse anything else", "[flows]") {
  const FlowToken t = FlowToken::make(3, 0x123456, 0xdeadbeef);
  CHECK(t.worker() == 3);
  CHECK(t.slot() == 0x123456);
  CHECK(t.generation() == 0xdeadbeef);
  CHECK(t.text() == "03123456deadbeef");
  REQUIRE(FlowToken::parse(t.text()));
  CHECK(FlowToken::parse(t.text())->value == t.value);
  CHECK_FALSE(FlowToken::parse("03123456DEADBEEF"));
  CHECK_FALSE(FlowToken::parse("0312345"));
  CHECK_FALSE(FlowToken::parse("0000000000000000"));
  CHECK_FALSE(FlowToken::parse("g3123456deadbeef"));
}

TEST_CASE("a stream flow is found while its connection lives, never after", "[flows]") {
  FlowTable table(1, 2, 4);
  auto sink = std::make_shared<RecordingSink>();
  const FlowToken token = table.add_stream(sink);
  REQUIRE(token);
  CHECK(token.worker() == 1);
  auto route = table.find(token);
  REQUIRE(route);
  route->stream->send_down("hello");
  CHECK(sink->sent == "hello");

  table.remove(token);
  CHECK_FALSE(table.find(token));
  // The slot is reused with a new generation: the old token does not reach the new flow.
  auto other = std::make_shared<RecordingSink>();
  const FlowToken reused = table.add_stream(other);
  CHECK(reused.slot() == token.slot());
  CHECK(reused.generation() != token.generation());
  CHECK_FALSE(table.find(token));
  CHECK(table.find(reused));
  // A connection that died without removing itself is not found either.
  other.reset();
  CHECK_FALSE(table.find(reused));
  // Tokens of another worker, or out of range, are refused.
  CHECK_FALSE(table.find(FlowToken::make(2, reused.slot(), reused.generation())));
  CHECK_FALSE(table.find(FlowToken::make(1, 999, 1)));
}

TEST_CASE("stream flows are bounded", "[flows]") {
  FlowTable table(0, 2, 0);
  auto a = std::make_shared<RecordingSink>(), b = std::make_shared<RecordingSink>(),
       c = std::make_shared<RecordingSink>();
  CHECK(table.add_stream(a));
  CHECK(table.add_stream(b));
  CHECK_FALSE(table.add_stream(c));
  CHECK(table.streams() == 2);
}

TEST_CASE("UDP peers keep their token and the least recently seen is evicted", "[flows]") {
  FlowTable table(0, 0, 2);
  auto* listener = reinterpret_cast<UdpListener*>(0x1000);  // only compared, never used
  const FlowToken a = table.touch_udp(listener, peer("192.0.2.1", 5060));
  const FlowToken b = table.touch_udp(listener, peer("2001:db8::1", 5060));
  CHECK(table.touch_udp(listener, peer("192.0.2.1", 5060)).value == a.value);  // a is now newest
  CHECK(table.udp_peers() == 2);
  const FlowToken c = table.touch_udp(listener, peer("192.0.2.3", 5070));  // evicts b
  CHECK(table.udp_peers() == 2);
  CHECK(table.find(a));
  CHECK_FALSE(table.find(b));
  REQUIRE(table.find(c));
  CHECK(table.find(c)->udp == listener);
  CHECK(table.find(c)->peer == peer("192.0.2.3", 5070));
  // The same address on another port is another peer.
  CHECK(table.touch_udp(listener, peer("192.0.2.3", 5071)).value != c.value);
}
