#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "sbc/transport/flow_table.hpp"

using namespace sbc::transport;
using sbc::FlowInfo;
using sbc::Protocol;
namespace asio = boost::asio;

namespace {
struct RecordingSink : FlowSink {
  std::string sent;
  bool send_down(std::string_view bytes) override {
    sent += bytes;
    return true;
  }
  FlowAddress address() const override {
    return {Protocol::Tcp, "192.0.2.1", 5060, "192.0.2.9", 5060};
  }
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

TEST_CASE("new UDP peers never evict a held peer, only unverified ones", "[flows]") {
  FlowTable table(0, 0, 16);  // 14 may be held, 2 slots always stay for unverified peers
  auto* listener = reinterpret_cast<UdpListener*>(0x1000);
  CHECK(table.udp_held_capacity() == 14);
  const FlowToken registered = table.touch_udp(listener, peer("192.0.2.1", 5060), true);
  const FlowToken dialog = table.touch_udp(listener, peer("192.0.2.2", 5060));
  // Unverified at first; held once a dialog-creating request from it passed the policies.
  CHECK(table.touch_udp(listener, peer("192.0.2.2", 5060), true).value == dialog.value);
  CHECK(table.udp_held() == 2);
  // A flood of new peers (every one from another port) fills the table many times over.
  for (std::uint16_t port = 1000; port < 1400; ++port)
    (void)table.touch_udp(listener, peer("198.51.100.7", port));
  CHECK(table.udp_peers() == 16);
  CHECK(table.find(registered));
  CHECK(table.find(dialog));
  CHECK(table.udp_evicted() == 400 - 14);
  CHECK(table.udp_demoted() == 0);
  // A keep-alive refreshes a flow and makes none.
  CHECK(table.refresh_udp(listener, peer("192.0.2.1", 5060)).value == registered.value);
  CHECK_FALSE(table.refresh_udp(listener, peer("203.0.113.1", 5060)));
  CHECK(table.udp_peers() == 16);
}

TEST_CASE("a full held tier demotes its least recently seen peer, which keeps its flow",
          "[flows]") {
  FlowTable table(0, 0, 16);
  auto* listener = reinterpret_cast<UdpListener*>(0x1000);
  std::vector<FlowToken> held;
  for (std::uint16_t port = 1; port <= 14; ++port)
    held.push_back(table.touch_udp(listener, peer("192.0.2.1", port), true));
  CHECK(table.udp_held() == 14);
  (void)table.touch_udp(listener, peer("192.0.2.1", 1));  // 1 is now the most recent
  const FlowToken newer = table.touch_udp(listener, peer("192.0.2.1", 15), true);
  CHECK(table.udp_held() == 14);
  CHECK(table.udp_demoted() == 1);
  CHECK(table.find(newer));
  CHECK(table.find(held[1]));  // demoted (port 2, the oldest), still there
  // Now unverified: new peers evict it before any held one.
  (void)table.touch_udp(listener, peer("198.51.100.7", 1));
  (void)table.touch_udp(listener, peer("198.51.100.7", 2));
  CHECK_FALSE(table.find(held[1]));
  for (std::size_t i = 0; i < held.size(); ++i)
    if (i != 1) CHECK(table.find(held[i]));
}
