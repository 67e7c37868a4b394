#include "sbc/proxy/relay.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "sbc/common/address.hpp"
#include "sbc/crypto/token_sealer.hpp"
#include "sbc/sip/message.hpp"
#include "sbc/sip/response.hpp"

using namespace sbc;
using namespace std::chrono_literals;
using proxy::Clock;
using sbc::FlowInfo;
using sbc::Protocol;

namespace {

// Records what the relay sends; flows exist while they are in `flows`.
struct FakeWire : transport::Wire {
  struct Sent {
    bool outside = false;
    std::uint64_t flow = 0;
    std::string ip;
    std::uint16_t port = 0;
    std::string bytes;
    Protocol protocol = Protocol::Udp;  // toward the inside
  };
  std::vector<Sent> sent;
  std::map<std::uint64_t, transport::FlowAddress> flows;

  bool send_outside(std::uint64_t flow_token, std::string_view bytes) noexcept override {
    if (!flows.contains(flow_token)) return false;
    sent.push_back({true, flow_token, {}, 0, std::string(bytes)});
    return true;
  }
  std::optional<transport::FlowAddress> flow_address(std::uint64_t token) const noexcept override {
    const auto it = flows.find(token);
    if (it == flows.end()) return std::nullopt;
    return it->second;
  }
  void send_inside(Protocol protocol, std::string_view ip, std::uint16_t port,
                   std::string_view bytes) noexcept override {
    sent.push_back({false, 0, std::string(ip), port, std::string(bytes), protocol});
  }
  std::vector<Sent> take() { return std::exchange(sent, {}); }
};

constexpr std::uint64_t kAliceFlow = 0x0100000200000003ull;  // a TLS connection
constexpr std::uint64_t kBobFlow = 0x0100000500000007ull;    // a UDP peer

FlowInfo alice_flow() {
  FlowInfo f;
  f.protocol = Protocol::Tls;
  f.local_ip = "198.51.100.1";
  f.local_port = 5061;
  f.remote_ip = "203.0.113.5";
  f.remote_port = 40000;
  f.flow_token = kAliceFlow;
  return f;
}

FlowInfo bob_flow() {
  FlowInfo f;
  f.protocol = Protocol::Udp;
  f.local_ip = "198.51.100.1";
  f.local_port = 5060;
  f.remote_ip = "203.0.113.9";
  f.remote_port = 5062;
  f.flow_token = kBobFlow;
  return f;
}

const sbc::crypto::TokenSealer::Key kKey =
    *sbc::crypto::TokenSealer::parse_key("7:00112233445566778899aabbccddeeff");

// What our tokens say, opened with the harness's key: kind, flow token, payload.
struct Token {
  int kind = 0;
  std::uint64_t flow = 0;
  std::array<std::uint8_t, 16> participant{};
  std::string payload;
  bool bound = false;  // carries a dialog binding (MAC of Call-ID and caller tag, expiry)
  std::uint64_t mac = 0;
  std::uint32_t expires = 0;
};
std::optional<Token> open_token(std::string_view user) {
  static const sbc::crypto::TokenSealer sealer({kKey});
  if (!user.starts_with("sbc-")) return std::nullopt;
  std::array<std::uint8_t, 512> plain;
  const auto n = sealer.open(user.substr(4), plain);
  if (!n || *n < 25) return std::nullopt;
  Token t;
  t.kind = plain[0] & ~0x40;
  t.bound = (plain[0] & 0x40) != 0;
  for (int i = 0; i < 8; ++i) t.flow = (t.flow << 8) | plain[1 + i];
  std::copy(plain.begin() + 9, plain.begin() + 25, t.participant.begin());
  std::size_t header = 25;
  if (t.bound) {
    if (*n < 37) return std::nullopt;
    for (int i = 0; i < 8; ++i) t.mac = (t.mac << 8) | plain[25 + i];
    for (int i = 0; i < 4; ++i) t.expires = (t.expires << 8) | plain[33 + i];
    header = 37;
  }
  t.payload.assign(reinterpret_cast<const char*>(plain.data() + header), *n - header);
  return t;
}
// "sbc-" + a token sealed as the relay seals them (kind, flow, the party's address, payload),
// for messages the tests play.
// A bound token (an outside Record-Route entry of a dialog) with `bind` = {Call-ID, caller tag}.
struct Bind {
  std::string_view call_id;
  std::string_view tag;
  std::uint32_t expires = 0xffffffffu;
};
std::string seal(int kind, std::uint64_t flow, std::string_view payload = {},
                 std::string_view participant = "203.0.113.5", const Bind* bind = nullptr) {
  static const sbc::crypto::TokenSealer sealer({kKey});
  std::vector<std::uint8_t> plain{static_cast<std::uint8_t>(kind | (bind != nullptr ? 0x40 : 0))};
  for (int i = 0; i < 8; ++i) plain.push_back(static_cast<std::uint8_t>(flow >> (56 - 8 * i)));
  const auto address = *sbc::parse_address(participant);
  plain.insert(plain.end(), address.begin(), address.end());
  if (bind != nullptr) {
    const std::uint64_t mac = sealer.bind(bind->call_id, bind->tag);
    for (int i = 0; i < 8; ++i) plain.push_back(static_cast<std::uint8_t>(mac >> (56 - 8 * i)));
    for (int i = 0; i < 4; ++i)
      plain.push_back(static_cast<std::uint8_t>(bind->expires >> (24 - 8 * i)));
  }
  plain.insert(plain.end(), payload.begin(), payload.end());
  std::string out(sbc::crypto::TokenSealer::sealed_size(plain.size()), '\0');
  out.resize(sealer.seal(plain, out));
  return "sbc-" + out;
}

// The name-addrs of a header, across lines and commas.
std::vector<sip::NameAddr> name_addrs(const sip::Message& m, sip::HeaderId id) {
  std::vector<sip::NameAddr> out;
  auto cursor = m.name_addrs(id);
  sip::NameAddr v;
  while (cursor.next(v)) out.push_back(v);
  return out;
}

// Checks that a name-addr is one of our entries at ip:port with a token of `kind` for `flow`.
void check_entry(const sip::NameAddr& e, std::string_view ip, std::uint16_t port, int kind,
                 std::uint64_t flow) {
  CHECK(e.uri.host == ip);
  CHECK(e.uri.port == port);
  CHECK(e.uri.param("lr"));
  const auto token = open_token(e.uri.user);
  REQUIRE(token);
  CHECK(token->kind == kind);
  CHECK(token->flow == flow);
}

struct Harness {
  FakeWire wire;
  Clock::time_point now = Clock::time_point(1000s);
  std::unique_ptr<proxy::Relay> relay;
  std::unique_ptr<sip::Message> in = std::make_unique<sip::Message>();
  std::unique_ptr<sip::Message> out = std::make_unique<sip::Message>();
  std::string in_bytes;

  explicit Harness(std::uint32_t max_transactions = 64,
                   const std::function<void(proxy::RelaySettings&)>& adjust = {}) {
    proxy::RelaySettings s;
    s.cores = {{"10.0.0.10", 5070, 1, 1}};
    s.inside_ip = "10.0.0.1";
    s.inside_port = 15060;
    s.outside_addresses = {{"198.51.100.1", 5060}, {"198.51.100.1", 5061}};
    s.max_transactions = max_transactions;
    s.probe_interval = 0ms;  // the probe tests turn them on
    s.branch_seed = 42;
    s.token_keys = {kKey};
    if (adjust) adjust(s);
    wire.flows[kAliceFlow] = {Protocol::Tls, "198.51.100.1", 5061, "203.0.113.5"};
    wire.flows[kBobFlow] = {Protocol::Udp, "198.51.100.1", 5060, "203.0.113.9"};
    relay = std::make_unique<proxy::Relay>(s, wire, [this] { return now; });
  }

  void from_outside(const std::string& bytes, const FlowInfo& flow) {
    in_bytes = bytes;
    const auto framing =
        flow.protocol == Protocol::Udp ? sip::Framing::Datagram : sip::Framing::Stream;
    REQUIRE(in->parse(in_bytes, framing, {}).is_valid());
    if (in->is_request()) {
      relay->request_from_outside(*in, flow);
    } else {
      relay->response_from_outside(*in, flow);
    }
  }
  void from_core(const std::string& bytes, std::string_view ip = "10.0.0.10",
                 std::uint16_t port = 5070) {
    relay->datagram_from_inside(bytes, ip, port);
  }
  void advance(std::chrono::milliseconds d) {
    // Tick as the worker does, every 10 ms.
    for (auto steps = d / 10ms; steps > 0; --steps) {
      now += 10ms;
      relay->tick();
    }
  }
  // Parses a sent message (kept alive in `keep`).
  const sip::Message& parse(const FakeWire::Sent& s) {
    keep = s.bytes;
    REQUIRE(out->parse(keep, sip::Framing::Datagram, {}).is_valid());
    return *out;
  }
  std::string keep;
};

std::string header(const sip::Message& m, sip::HeaderId id) {
  const sip::HeaderField* h = m.find(id);
  return h != nullptr ? std::string(h->value) : std::string();
}

std::string all_values(const sip::Message& m, sip::HeaderId id) {
  std::string joined;
  for (const sip::HeaderField& h : m.headers()) {
    if (h.id != id) continue;
    if (!joined.empty()) joined += ", ";
    joined += h.value;
  }
  return joined;
}

std::string alice_register(std::string_view branch = "z9hG4bKreg1") {
  return std::string("REGISTER sip:example.com SIP/2.0\r\n") +
         "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=" + std::string(branch) + ";rport\r\n" +
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@example.com>;tag=r1\r\n"
         "To: <sip:alice@example.com>\r\n"
         "Call-ID: reg-1@192.168.1.20\r\n"
         "CSeq: 1 REGISTER\r\n"
         "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n"
         "Path: <sip:evil@192.0.2.66;lr>\r\n"
         "P-Asserted-Identity: <sip:boss@example.com>\r\n"
         "Expires: 600\r\n"
         "Content-Length: 0\r\n\r\n";
}

// The response a core gives to `request` (as the relay sent it), with Via copied.
std::string core_answer(const sip::Message& request, int status, std::string_view reason,
                        std::string_view to_tag = "core1", std::string_view extra = "") {
  std::string r = "SIP/2.0 " + std::to_string(status) + " " + std::string(reason) + "\r\n";
  for (const sip::HeaderField& h : request.headers())
    if (h.id == sip::HeaderId::Via || h.id == sip::HeaderId::RecordRoute) r += h.line;
  r += "From: " + header(request, sip::HeaderId::From) + "\r\n";
  r += "To: " + header(request, sip::HeaderId::To);
  if (!to_tag.empty() && status > 100) r += ";tag=" + std::string(to_tag);
  r += "\r\nCall-ID: " + header(request, sip::HeaderId::CallId) + "\r\n";
  r += "CSeq: " + header(request, sip::HeaderId::CSeq) + "\r\n";
  r += extra;
  r += "Content-Length: 0\r\n\r\n";
  return r;
}

std::string alice_invite(std::string_view branch = "z9hG4bKinv1") {
  return std::string("INVITE sip:bob@example.com SIP/2.0\r\n") +
         "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=" + std::string(branch) + ";rport\r\n" +
         "Max-Forwards: 70\r\n"
         "Route: <sip:198.51.100.1:5061;transport=tls;lr>\r\n"
         "From: <sip:alice@example.com>;tag=a1\r\n"
         "To: <sip:bob@example.com>\r\n"
         "Call-ID: call-1@192.168.1.20\r\n"
         "CSeq: 10 INVITE\r\n"
         "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n"
         "Content-Length: 0\r\n\r\n";
}

}  // namespace

TEST_CASE("relay: the client's own received and rport are replaced by where it really is",
          "[relay]") {
  Harness h;
  std::string reg = alice_register();
  reg.replace(reg.find(";rport\r\n"), 8, ";received=10.66.66.66;rport=1234\r\n");
  h.from_outside(reg, alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const std::string vias = all_values(h.parse(sent[0]), sip::HeaderId::Via);
  CHECK(vias.find("10.66.66.66") == std::string::npos);
  CHECK(vias.find("1234") == std::string::npos);
  CHECK(vias.find("192.168.1.20:5061;branch=z9hG4bKreg1;received=203.0.113.5;rport=40000") !=
        std::string::npos);
}

TEST_CASE("relay: a REGISTER goes to the core with our Via, a Path naming its flow, and comes back",
          "[relay]") {
  Harness h;
  h.from_outside(alice_register(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(sent[0].ip == "10.0.0.10");
  CHECK(sent[0].port == 5070);
  const sip::Message& fwd = h.parse(sent[0]);
  // Our Via on top, the client's below it with received and rport (RFC 3581).
  CHECK(fwd.via_count() == 2);
  CHECK(fwd.top_via().host == "10.0.0.1");
  CHECK(fwd.top_via().port == 15060);
  CHECK(fwd.top_via().branch.starts_with("z9hG4bKsbc"));
  CHECK(all_values(fwd, sip::HeaderId::Via)
            .find("192.168.1.20:5061;branch=z9hG4bKreg1;received=203.0.113.5;rport=40000") !=
        std::string::npos);
  CHECK(fwd.max_forwards() == 69);
  // Our Path only: the outside's is gone, and so is the asserted identity.
  const auto path = name_addrs(fwd, sip::HeaderId::Path);
  REQUIRE(path.size() == 1);
  check_entry(path[0], "10.0.0.1", 15060, 1, kAliceFlow);
  CHECK(path[0].uri.param("transport").value == "udp");
  CHECK(fwd.find(sip::HeaderId::PAssertedIdentity) == nullptr);
  CHECK(h.relay->stats().requests_to_core.value() == 1);

  h.from_core(core_answer(fwd, 200, "OK", "core1", "Path: " + std::string(path[0].text) + "\r\n"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(sent[0].flow == kAliceFlow);
  const sip::Message& answer = h.parse(sent[0]);
  CHECK(answer.status_code() == 200);
  CHECK(answer.via_count() == 1);
  CHECK(answer.top_via().branch == "z9hG4bKreg1");
  CHECK(answer.find(sip::HeaderId::Path) == nullptr);
  CHECK(h.relay->stats().responses_to_outside.value() == 1);
}

TEST_CASE("relay: retransmissions are absorbed and answered from the transaction", "[relay]") {
  Harness h;
  h.from_outside(alice_register(), bob_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const std::string first = sent[0].bytes;
  // The same request again before the core answered: nothing more goes to the core.
  h.from_outside(alice_register(), bob_flow());
  CHECK(h.wire.take().empty());
  const sip::Message& fwd = h.parse(FakeWire::Sent{false, 0, {}, 0, first});
  h.from_core(core_answer(fwd, 200, "OK"));
  REQUIRE(h.wire.take().size() == 1);
  // After the answer: a retransmission gets the same answer again, from state.
  h.from_outside(alice_register(), bob_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 200);
  CHECK(h.relay->stats().retransmissions_absorbed.value() == 2);
  CHECK(h.relay->stats().requests_to_core.value() == 1);
  // A new branch is a new transaction.
  h.from_outside(alice_register("z9hG4bKreg2"), bob_flow());
  CHECK(h.relay->stats().requests_to_core.value() == 2);
}

TEST_CASE("relay: over UDP the core gets retransmissions (timer E) and the client 408 (timer F)",
          "[relay]") {
  Harness h;
  h.from_outside(alice_register(), alice_flow());
  REQUIRE(h.wire.take().size() == 1);
  h.advance(490ms);
  CHECK(h.wire.take().empty());
  h.advance(10ms);  // T1
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  h.advance(1000ms);  // 2 T1 later
  CHECK(h.wire.take().size() == 1);
  h.advance(32s - 1500ms);  // 64 T1 after the start
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  const auto& last = sent.back();
  CHECK(last.outside);
  CHECK(h.parse(last).status_code() == 408);
  CHECK(h.relay->stats().timeouts.value() == 1);
  CHECK(h.relay->stats().retransmissions_sent.value() >= 5);
  // The 408 is kept for retransmissions of the request (64 T1 over UDP), then all is gone.
  h.advance(33s);
  CHECK(h.relay->active_transactions() == 0);
}

TEST_CASE("relay: INVITE gets 100 Trying, Record-Route twice, ACK for a failure hop by hop",
          "[relay]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  const std::string to_core = sent[0].bytes;
  CHECK_FALSE(sent[0].outside);
  CHECK(sent[1].outside);
  CHECK(h.parse(sent[1]).status_code() == 100);
  const sip::Message& fwd = h.parse(FakeWire::Sent{false, 0, {}, 0, to_core});
  // The Route naming us is consumed; two Record-Route entries, the inside one on top.
  CHECK(fwd.find(sip::HeaderId::Route) == nullptr);
  const auto rr = name_addrs(fwd, sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 2);
  check_entry(rr[0], "10.0.0.1", 15060, 1, kAliceFlow);
  check_entry(rr[1], "198.51.100.1", 5061, 1, kAliceFlow);
  CHECK(rr[1].uri.param("transport").value == "tls");
  const std::string ringing = core_answer(fwd, 180, "Ringing");
  const std::string busy = core_answer(fwd, 486, "Busy Here");
  h.from_core(ringing);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 180);
  h.from_core(busy);
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  // The 486 to Alice, and an ACK with our branch to the core.
  REQUIRE(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 486);
  const sip::Message& ack = h.parse(sent[1]);
  CHECK_FALSE(sent[1].outside);
  CHECK(ack.method() == sip::Method::Ack);
  CHECK(ack.cseq().number == 10);
  CHECK(ack.to().tag == "core1");
  CHECK(ack.via_count() == 1);
  CHECK(ack.top_via().branch.starts_with("z9hG4bKsbc"));
  // The core retransmits its 486: another ACK, nothing to Alice.
  h.from_core(busy);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  // Alice's ACK ends the transaction without going anywhere.
  std::string alice_ack =
      "ACK sip:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKinv1;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@example.com>;tag=a1\r\n"
      "To: <sip:bob@example.com>;tag=core1\r\n"
      "Call-ID: call-1@192.168.1.20\r\n"
      "CSeq: 10 ACK\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_outside(alice_ack, alice_flow());
  CHECK(h.wire.take().empty());
  h.advance(100ms);
  CHECK(h.relay->active_transactions() == 0);
}

TEST_CASE("relay: CANCEL is answered and relayed once the core is ringing", "[relay]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  const std::string to_core = sent[0].bytes;
  std::string cancel =
      "CANCEL sip:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKinv1;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@example.com>;tag=a1\r\n"
      "To: <sip:bob@example.com>\r\n"
      "Call-ID: call-1@192.168.1.20\r\n"
      "CSeq: 10 CANCEL\r\n"
      "Content-Length: 0\r\n\r\n";
  // Before any provisional answer the CANCEL waits (RFC 3261 9.1).
  h.from_outside(cancel, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 200);
  const sip::Message& fwd = h.parse(FakeWire::Sent{false, 0, {}, 0, to_core});
  const std::string our_branch(fwd.top_via().branch);
  h.from_core(core_answer(fwd, 180, "Ringing"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  CHECK(h.parse(sent[0]).status_code() == 180);
  const sip::Message& relayed_cancel = h.parse(sent[1]);
  CHECK_FALSE(sent[1].outside);
  CHECK(relayed_cancel.method() == sip::Method::Cancel);
  CHECK(relayed_cancel.top_via().branch == our_branch);
  CHECK(relayed_cancel.cseq().number == 10);
  CHECK(h.relay->stats().cancels.value() == 1);
  // An unknown CANCEL: 481.
  std::string stray = cancel;
  stray.replace(stray.find("z9hG4bKinv1"), 11, "z9hG4bKnone");
  h.from_outside(stray, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 481);
}

TEST_CASE("relay: a request from the core follows our Path down the user's flow, Vias hidden",
          "[relay]") {
  Harness h;
  const std::string invite =
      std::string("INVITE sip:alice@192.168.1.20:5061;transport=tls SIP/2.0\r\n") +
      "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=z9hG4bKcore1\r\n"
      "Via: SIP/2.0/UDP 10.0.0.20:5060;branch=z9hG4bKpbx1\r\n"
      "Max-Forwards: 69\r\n"
      "Route: <sip:" +
      seal(1, kAliceFlow) +
      "@10.0.0.1:15060;transport=udp;lr>\r\n"
      "Record-Route: <sip:10.0.0.10:5070;lr>\r\n"
      "From: <sip:carol@example.com>;tag=c1\r\n"
      "To: <sip:alice@example.com>\r\n"
      "Call-ID: call-2@10.0.0.20\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:carol@10.0.0.20:5060>\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_core(invite);
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].outside);
  CHECK(sent[0].flow == kAliceFlow);
  const sip::Message& down = h.parse(sent[0]);
  CHECK(down.via_count() == 1);
  CHECK(down.top_via().transport == "TLS");
  CHECK(down.top_via().host == "198.51.100.1");
  CHECK(down.top_via().port == 5061);
  CHECK(std::string(down.bytes()).find("10.0.0.20:5060;branch") == std::string::npos);
  CHECK(down.find(sip::HeaderId::Route) == nullptr);
  // One Record-Route entry of ours; the core's own travels sealed inside it.
  const auto rr = name_addrs(down, sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  check_entry(rr[0], "198.51.100.1", 5061, 2, kAliceFlow);
  CHECK(open_token(rr[0].uri.user)->payload == "<sip:10.0.0.10:5070;lr>");
  // Carol's Contact is ours too, with hers sealed inside.
  const auto contact = name_addrs(down, sip::HeaderId::Contact);
  REQUIRE(contact.size() == 1);
  CHECK(contact[0].uri.host == "198.51.100.1");
  CHECK(open_token(contact[0].uri.user)->payload == "sip:carol@10.0.0.20:5060");
  // Nothing of the inside shows but the Call-ID, which the core chose (relay.mask_call_id
  // hides it too; off here).
  std::string shown(down.bytes());
  shown.erase(shown.find("Call-ID:"),
              shown.find("\r\n", shown.find("Call-ID:")) - shown.find("Call-ID:"));
  CHECK(shown.find("10.0.0.") == std::string::npos);
  const std::string hidden_rr(rr[0].text);
  CHECK_FALSE(sent[1].outside);
  CHECK(h.parse(sent[1]).status_code() == 100);

  // Alice answers over her flow: the core gets its own Via stack back.
  std::string ok = "SIP/2.0 200 OK\r\n";
  ok += "Via: " + header(h.parse(sent[0]), sip::HeaderId::Via) + "\r\n";
  ok += "Record-Route: " + hidden_rr + "\r\n";
  ok +=
      "From: <sip:carol@example.com>;tag=c1\r\n"
      "To: <sip:alice@example.com>;tag=a9\r\n"
      "Call-ID: call-2@10.0.0.20\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_outside(ok, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(sent[0].ip == "10.0.0.10");
  CHECK(sent[0].port == 5070);
  const sip::Message& up = h.parse(sent[0]);
  CHECK(up.status_code() == 200);
  CHECK(up.via_count() == 2);
  CHECK(up.top_via().branch == "z9hG4bKcore1");
  // The core gets the Record-Route list it would have seen without hiding.
  const auto restored = name_addrs(up, sip::HeaderId::RecordRoute);
  REQUIRE(restored.size() == 3);
  check_entry(restored[0], "198.51.100.1", 5061, 1, kAliceFlow);
  check_entry(restored[1], "10.0.0.1", 15060, 1, kAliceFlow);
  CHECK(restored[2].text == "<sip:10.0.0.10:5070;lr>");
  CHECK(h.relay->stats().responses_to_core.value() == 1);
}

TEST_CASE("relay: the Route entries after ours go on in order, however many there are", "[relay]") {
  // The relay keeps a few Route entries of the message at hand parsed; more are parsed as
  // they come: both give the same request.
  for (const int others : {2, 12}) {
    Harness h;
    std::string routes;
    for (int i = 1; i <= others; ++i) {
      routes += ", <sip:h";
      routes += std::to_string(i);
      routes += ".example.com;lr>";
    }
    const std::string invite =
        std::string("INVITE sip:alice@192.168.1.20:5061;transport=tls SIP/2.0\r\n") +
        "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=z9hG4bKcore1\r\n"
        "Max-Forwards: 69\r\n"
        "Route: <sip:" +
        seal(1, kAliceFlow) + "@10.0.0.1:15060;transport=udp;lr>" + routes +
        "\r\n"
        "From: <sip:carol@example.com>;tag=c1\r\n"
        "To: <sip:alice@example.com>\r\n"
        "Call-ID: call-2@10.0.0.20\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:carol@10.0.0.20:5060>\r\n"
        "Content-Length: 0\r\n\r\n";
    h.from_core(invite);
    auto sent = h.wire.take();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].outside);
    CHECK(sent[0].flow == kAliceFlow);
    const auto left = name_addrs(h.parse(sent[0]), sip::HeaderId::Route);
    REQUIRE(left.size() == static_cast<std::size_t>(others));
    for (int i = 0; i < others; ++i) {
      std::string host = "h";
      host += std::to_string(i + 1);
      host += ".example.com";
      CHECK(left[static_cast<std::size_t>(i)].uri.host == host);
    }
  }
}

TEST_CASE("relay: requests from the core without our route get 403, for a gone flow 430",
          "[relay]") {
  Harness h;
  std::string request =
      "MESSAGE sip:alice@192.168.1.20 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=z9hG4bKm1\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:carol@example.com>;tag=c1\r\n"
      "To: <sip:alice@example.com>\r\n"
      "Call-ID: m-1@10.0.0.10\r\n"
      "CSeq: 1 MESSAGE\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_core(request);
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 403);
  CHECK(h.relay->stats().not_routable.value() == 1);

  // A token that is not sealed by us (forged, altered) routes nowhere.
  const std::string forged = std::string(request).insert(
      request.find("From:"), "Route: <sip:sbc-0100000200000003@10.0.0.1:15060;lr>\r\n");
  h.from_core(forged);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 403);
  CHECK(h.relay->stats().not_routable.value() == 2);

  const std::string routed = std::string(request).insert(
      request.find("From:"),
      "Route: <sip:" + seal(1, 0x0100000900000009ull) + "@10.0.0.1:15060;lr>\r\n");
  h.from_core(routed);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 430);
  CHECK(h.relay->stats().flow_failed.value() == 1);
}

const Bind kAliceDialog{"call-1@192.168.1.20", "a1"};

TEST_CASE("relay: an ACK for a 2xx is routed without a transaction", "[relay]") {
  Harness h;
  const std::string ack =
      "ACK sip:bob@10.0.0.30:5060 SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKack1;rport\r\n"
      "Max-Forwards: 70\r\n"
      "Route: <sip:" +
      seal(1, kAliceFlow, {}, "203.0.113.5", &kAliceDialog) +
      "@198.51.100.1:5061;transport=tls;lr>, "
      "<sip:" +
      seal(1, kAliceFlow) +
      "@10.0.0.1:15060;transport=udp;lr>, <sip:10.0.0.10:5070;lr>\r\n"
      "From: <sip:alice@example.com>;tag=a1\r\n"
      "To: <sip:bob@example.com>;tag=b1\r\n"
      "Call-ID: call-1@192.168.1.20\r\n"
      "CSeq: 10 ACK\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_outside(ack, alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(sent[0].ip == "10.0.0.10");
  const sip::Message& fwd = h.parse(sent[0]);
  CHECK(fwd.method() == sip::Method::Ack);
  CHECK(all_values(fwd, sip::HeaderId::Route) == "<sip:10.0.0.10:5070;lr>");
  CHECK(fwd.top_via().branch.starts_with("z9hG4bKsbA"));
  const std::string branch(fwd.top_via().branch);
  // A retransmitted ACK keeps its branch.
  h.from_outside(ack, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).top_via().branch == branch);
  CHECK(h.relay->stats().stateless_forwarded.value() == 2);
  CHECK(h.relay->active_transactions() == 0);
}

TEST_CASE("relay: a request that comes back unchanged is a loop (482)", "[relay]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  // The core sends it straight back to our outside listener.
  std::string looped = sent[0].bytes;
  looped.insert(looped.find("Via:"), "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=z9hG4bKcoreL\r\n");
  FlowInfo from_core = bob_flow();
  from_core.remote_ip = "10.0.0.10";
  h.from_outside(looped, from_core);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 482);
  CHECK(h.relay->stats().loops.value() == 1);
}

TEST_CASE("relay: a full transaction table answers 503 and recovers", "[relay]") {
  Harness h(16);
  for (int i = 0; i < 16; ++i)
    h.from_outside(alice_register("z9hG4bKfill" + std::to_string(i)), bob_flow());
  h.wire.take();
  h.from_outside(alice_register("z9hG4bKone-too-many"), bob_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 503);
  CHECK(h.relay->stats().table_full.value() == 1);
  h.advance(70s);  // all timed out (64 T1), and their 408s no longer kept (64 T1)
  CHECK(h.relay->active_transactions() == 0);
  h.wire.take();
  h.from_outside(alice_register("z9hG4bKafter"), bob_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
}

TEST_CASE("relay: transaction memory is bounded by relay.max_transaction_bytes",
          "[relay][memory]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.max_transaction_bytes = 1u << 20; });
  const std::string body(60000, 'x');
  auto big_invite = [&](int i) {
    std::string m = alice_invite("z9hG4bKbig" + std::to_string(i));
    m.replace(m.find("call-1@"), 7, "call-big" + std::to_string(i) + "@");
    m.replace(m.find("Content-Length: 0"), 17,
              "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()));
    return m + body;
  };
  // The core rings and never answers: each transaction must keep its request (a fail-over, our
  // 408), about 60 KB. The budget admits what fits, then 503 with Retry-After.
  std::vector<std::string> relayed;
  int refused = 0;
  for (int i = 0; i < 24; ++i) {
    h.from_outside(big_invite(i), alice_flow());
    for (const auto& s : h.wire.take()) {
      if (!s.outside) {
        relayed.push_back(s.bytes);
        sip::Message fwd;
        REQUIRE(fwd.parse(s.bytes, sip::Framing::Datagram, {}).is_valid());
        h.from_core(core_answer(fwd, 180, "Ringing"));
      } else if (h.parse(s).status_code() == 503) {
        ++refused;
        CHECK(h.parse(s).find("Retry-After") != nullptr);
        CHECK(h.parse(s).reason_phrase() == "Service Unavailable (transaction memory full)");
      }
    }
    h.wire.take();
  }
  INFO("relayed " << relayed.size() << ", refused " << refused);
  CHECK(relayed.size() >= 8);
  CHECK(relayed.size() + refused == 24);
  CHECK(refused > 0);
  CHECK(h.relay->stats().memory_full.value() == static_cast<std::uint64_t>(refused));
  CHECK(h.relay->transaction_bytes() <= 1u << 20);
  // Ringing, an INVITE keeps one copy of its request (the relayed one gave way to an ACK
  // skeleton, from which a CANCEL is built as from the request itself).
  CHECK(h.relay->transaction_bytes() < relayed.size() * 64 * 1024);
  const std::string cancel =
      "CANCEL sip:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKbig0;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@example.com>;tag=a1\r\n"
      "To: <sip:bob@example.com>\r\n"
      "Call-ID: call-big0@192.168.1.20\r\n"
      "CSeq: 10 CANCEL\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_outside(cancel, alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);  // 200 to the CANCEL, the CANCEL to the core
  sip::Message first;
  REQUIRE(first.parse(relayed[0], sip::Framing::Datagram, {}).is_valid());
  const sip::Message& to_core = h.parse(sent[1]);
  CHECK(to_core.method() == sip::Method::Cancel);
  CHECK(to_core.top_via().branch == first.top_via().branch);
  CHECK(to_core.cseq().number == 10);
  CHECK(to_core.request_uri().text == first.request_uri().text);
  // The core refuses them all (486), never ACKed by Alice: each keeps its answer and an ACK,
  // not 60 KB; the ACK of a retransmitted 486 is still right.
  for (const std::string& r : relayed) {
    sip::Message fwd;
    REQUIRE(fwd.parse(r, sip::Framing::Datagram, {}).is_valid());
    h.from_core(core_answer(fwd, 486, "Busy Here"));
  }
  h.wire.take();
  CHECK(h.relay->transaction_bytes() < relayed.size() * 4096 + (64 << 10));
  h.from_core(core_answer(first, 486, "Busy Here"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const sip::Message& ack = h.parse(sent[0]);
  CHECK(ack.method() == sip::Method::Ack);
  CHECK(ack.to().tag == "core1");
  CHECK(ack.cseq().number == 10);
  CHECK(ack.top_via().branch == first.top_via().branch);
  // Room again: the next large INVITE is relayed.
  h.from_outside(big_invite(100), alice_flow());
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK_FALSE(sent[0].outside);
  // When everything has ended, the slots keep no large buffers.
  h.advance(70s);
  CHECK(h.relay->active_transactions() == 0);
  CHECK(h.relay->transaction_bytes() < std::size_t{64} * 4096);
}

namespace {
Harness two_cores(unsigned priority0 = 1, unsigned priority1 = 2, unsigned weight0 = 1,
                  unsigned weight1 = 1) {
  return Harness(64, [&](proxy::RelaySettings& s) {
    s.cores = {{"10.0.0.10", 5070, priority0, weight0}, {"10.0.0.11", 5070, priority1, weight1}};
  });
}
}  // namespace

TEST_CASE("relay: a core that stays silent is failed over to the next one", "[relay][failover]") {
  Harness h = two_cores();
  h.from_outside(alice_register(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].ip == "10.0.0.10");
  const std::string first_try = sent[0].bytes;
  h.advance(2000ms);  // failover_timeout: retransmissions to the first core, then the second
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK(sent.back().ip == "10.0.0.11");
  const sip::Message& second = h.parse(sent.back());
  const std::string second_branch(second.top_via().branch);
  CHECK(second.via_count() == 2);
  const auto path = name_addrs(second, sip::HeaderId::Path);
  REQUIRE(path.size() == 1);
  check_entry(path[0], "10.0.0.1", 15060, 1, kAliceFlow);
  const std::string answer = core_answer(second, 200, "OK");
  // A late answer from the first core matches nothing: its branch is not the current one.
  const sip::Message& first = h.parse(FakeWire::Sent{false, 0, {}, 0, first_try});
  CHECK(std::string(first.top_via().branch) != second_branch);
  h.from_core(core_answer(first, 200, "OK"));
  CHECK(h.wire.take().empty());
  CHECK(h.relay->stats().stray_responses.value() == 1);
  h.from_core(answer, "10.0.0.11");
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 200);
  CHECK(h.relay->stats().failovers.value() == 1);
  CHECK(h.relay->cores().stats(0).failures.value() == 1);
  CHECK_FALSE(h.relay->cores().stats(0).up.load());
  // The next request goes straight to the second core.
  h.from_outside(alice_register("z9hG4bKreg2"), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].ip == "10.0.0.11");
}

TEST_CASE("relay: a 503 from a core fails over; from the last one the client gets 500",
          "[relay][failover]") {
  Harness h = two_cores();
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);  // to the first core, 100 Trying
  h.from_core(core_answer(h.parse(sent[0]), 503, "Service Unavailable"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);  // ACK for the 503 to the first core, the INVITE to the second
  CHECK(h.parse(sent[0]).method() == sip::Method::Ack);
  CHECK(sent[0].ip == "10.0.0.10");
  CHECK(h.parse(sent[1]).method() == sip::Method::Invite);
  CHECK(sent[1].ip == "10.0.0.11");
  h.from_core(core_answer(h.parse(sent[1]), 503, "Service Unavailable"), "10.0.0.11");
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);  // ACK, then the answer to Alice
  CHECK(h.parse(sent[0]).method() == sip::Method::Ack);
  REQUIRE(sent[1].outside);
  CHECK(h.parse(sent[1]).status_code() == 500);
  // Both down, no probes: new requests get 503 from the SBC at once.
  h.from_outside(alice_register(), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 503);
  CHECK(h.relay->stats().no_core.value() == 1);
  // Without probes a failed core is retried after 30 s.
  h.advance(31s);
  h.wire.take();
  h.from_outside(alice_register("z9hG4bKlater"), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
}

TEST_CASE("relay: OPTIONS probes take a silent core out and bring it back when it answers",
          "[relay][probes]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.probe_interval = 1000ms; });
  h.advance(10ms);
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const sip::Message& probe = h.parse(sent[0]);
  CHECK(probe.method() == sip::Method::Options);
  CHECK(probe.request_uri().text == "sip:10.0.0.10:5070");
  CHECK(probe.max_forwards() == 70);
  CHECK(h.relay->cores().stats(0).up.load());
  h.advance(2000ms);  // two probes unanswered
  CHECK_FALSE(h.relay->cores().stats(0).up.load());
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  h.from_outside(alice_register(), alice_flow());
  auto answers = h.wire.take();
  REQUIRE(answers.size() == 1);
  CHECK(h.parse(answers[0]).status_code() == 503);
  // The core answers the latest probe: it is back.
  h.from_core(core_answer(h.parse(sent.back()), 200, "OK"));
  CHECK(h.relay->cores().stats(0).up.load());
  h.from_outside(alice_register("z9hG4bKback"), alice_flow());
  answers = h.wire.take();
  REQUIRE(answers.size() == 1);
  CHECK_FALSE(answers[0].outside);
  CHECK(h.relay->cores().stats(0).probes.value() >= 3);
}

TEST_CASE("relay: a forged 503 to a guessed probe branch does not mark the core down",
          "[relay][probes]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.probe_interval = 1000ms; });
  h.advance(10ms);
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const std::string real_probe = sent[0].bytes;
  const std::string real_branch(h.parse(sent[0]).top_via().branch);
  // The attacker knows the code: branch "z9hG4bKsbP" + core index (2 hex) + sequence (8 hex),
  // and the sequence counts probes from 1. Forged 503s for every sequence an attacker would try,
  // from the core's own address (a forged source), each with the probe's other headers.
  auto forged = [&](const std::string& branch) {
    std::string bytes = real_probe;
    bytes.replace(bytes.find(real_branch), real_branch.size(), branch);
    sip::Message m;
    REQUIRE(m.parse(bytes, sip::Framing::Datagram, {}).is_valid());
    return core_answer(m, 503, "Service Unavailable");
  };
  char branch[64];
  for (unsigned sequence = 0; sequence < 16; ++sequence) {
    std::snprintf(branch, sizeof branch, "z9hG4bKsbP%02x%08x", 0u, sequence);
    h.from_core(forged(branch));
    // The same length as the real branch, prefix and index right, the rest guessed.
    std::snprintf(branch, sizeof branch, "%.*s%0*x", 12, real_branch.c_str(),
                  static_cast<int>(real_branch.size() - 12), sequence);
    if (real_branch != branch) h.from_core(forged(branch));
  }
  CHECK(h.relay->cores().stats(0).up.load());
  CHECK(h.relay->stats().probe_mismatches.value() >= 16);
  h.from_outside(alice_register(), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);  // relayed to the core, not answered 503
  h.wire.take();
  // The core's real 503 to the real probe does.
  sip::Message probe;
  REQUIRE(probe.parse(real_probe, sip::Framing::Datagram, {}).is_valid());
  h.from_core(core_answer(probe, 503, "Service Unavailable"));
  CHECK_FALSE(h.relay->cores().stats(0).up.load());
  // Probe branches differ between probes and between relays (workers, restarts).
  h.advance(1000ms);
  sent = h.wire.take();
  const auto options = std::find_if(sent.begin(), sent.end(), [](const FakeWire::Sent& s) {
    return s.bytes.starts_with("OPTIONS ");
  });
  REQUIRE(options != sent.end());
  const FakeWire::Sent next_probe = *options;
  const std::string next_branch(h.parse(next_probe).top_via().branch);
  CHECK(next_branch != real_branch);
  CHECK(next_branch.size() == real_branch.size());
  Harness other(64, [](proxy::RelaySettings& s) { s.probe_interval = 1000ms; });
  other.advance(10ms);
  const auto other_sent = other.wire.take();
  REQUIRE(other_sent.size() == 1);
  CHECK(std::string(other.parse(other_sent[0]).top_via().branch) != real_branch);
  // A late answer to the earlier probe does not count for the new one; the real answer does.
  h.from_core(core_answer(probe, 200, "OK"));
  CHECK_FALSE(h.relay->cores().stats(0).up.load());
  h.from_core(core_answer(h.parse(next_probe), 200, "OK"));
  CHECK(h.relay->cores().stats(0).up.load());
}

TEST_CASE("relay: cores of one priority share the load by weight", "[relay][failover]") {
  Harness h = two_cores(1, 1, 3, 1);
  int to_first = 0, to_second = 0;
  for (int i = 0; i < 8; ++i) {
    h.from_outside(alice_register("z9hG4bKw" + std::to_string(i)), alice_flow());
    for (const auto& s : h.wire.take()) {
      if (s.ip == "10.0.0.10") ++to_first;
      if (s.ip == "10.0.0.11") ++to_second;
    }
  }
  CHECK(to_first == 6);
  CHECK(to_second == 2);
}

TEST_CASE("relay: the core's Record-Route and Contact leave sealed and come back restored",
          "[relay][hiding]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  const sip::Message& fwd = h.parse(sent[0]);
  // The core records its route on top of ours and answers with a Contact of the inside.
  std::string ok = "SIP/2.0 200 OK\r\n";
  for (const sip::HeaderField& f : fwd.headers())
    if (f.id == sip::HeaderId::Via) ok += f.line;
  ok += "Record-Route: <sip:10.0.0.12:5070;lr>, <sip:10.0.0.10:5070;lr>, " +
        all_values(fwd, sip::HeaderId::RecordRoute) + "\r\n";
  ok += "From: " + header(fwd, sip::HeaderId::From) + "\r\nTo: " + header(fwd, sip::HeaderId::To) +
        ";tag=b1\r\nCall-ID: " + header(fwd, sip::HeaderId::CallId) +
        "\r\nCSeq: " + header(fwd, sip::HeaderId::CSeq) +
        "\r\nContact: <sip:bob@10.0.0.30:5060>\r\nContent-Length: 0\r\n\r\n";
  h.from_core(ok);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const sip::Message& answer = h.parse(sent[0]);
  CHECK(answer.status_code() == 200);
  CHECK(std::string(answer.bytes()).find("10.0.0.") == std::string::npos);
  const auto rr = name_addrs(answer, sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  check_entry(rr[0], "198.51.100.1", 5061, 2, kAliceFlow);
  // Alice's route set is the list reversed: after ours, the core's in that order.
  CHECK(open_token(rr[0].uri.user)->payload == "<sip:10.0.0.10:5070;lr>, <sip:10.0.0.12:5070;lr>");
  const auto contact = name_addrs(answer, sip::HeaderId::Contact);
  REQUIRE(contact.size() == 1);
  const std::string target(contact[0].uri.text);
  const std::string route(rr[0].text);

  // Alice hangs up: Request-URI her remote target (our sealed Contact), Route her route set.
  const std::string bye = "BYE " + target +
                          " SIP/2.0\r\n"
                          "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKbye1;rport\r\n"
                          "Max-Forwards: 70\r\n"
                          "Route: " +
                          route +
                          "\r\n"
                          "From: <sip:alice@example.com>;tag=a1\r\n"
                          "To: <sip:bob@example.com>;tag=b1\r\n"
                          "Call-ID: call-1@192.168.1.20\r\n"
                          "CSeq: 11 BYE\r\n"
                          "Content-Length: 0\r\n\r\n";
  h.from_outside(bye, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(sent[0].ip == "10.0.0.10");  // the core the first hidden route names
  const sip::Message& up = h.parse(sent[0]);
  CHECK(up.request_uri().text == "sip:bob@10.0.0.30:5060");
  CHECK(all_values(up, sip::HeaderId::Route) == "<sip:10.0.0.10:5070;lr>, <sip:10.0.0.12:5070;lr>");

  // An altered token opens nothing: the request goes on as it is, without the inside routes.
  std::string altered = bye;
  const std::size_t at = altered.find("sbc-", altered.find("Route:")) + 10;
  altered[at] = altered[at] == 'A' ? 'B' : 'A';
  altered.replace(altered.find("z9hG4bKbye1"), 11, "z9hG4bKbye2");
  h.from_outside(altered, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(all_values(h.parse(sent[0]), sip::HeaderId::Route).empty());
}

TEST_CASE("relay: every Contact of a 3xx from the core leaves sealed; a retry gets the original",
          "[relay][hiding]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  const sip::Message& fwd = h.parse(sent[0]);
  // Addresses of the inside in every form a Contact list takes: bracketed with parameters,
  // an addr-spec, several values on one line and a second line.
  const std::string moved = core_answer(
      fwd, 302, "Moved Temporarily", "core1",
      "Contact: <sip:bob@10.0.0.30:5060;transport=udp>;q=0.9, sip:bob@10.0.0.31;expires=60\r\n"
      "Contact: \"Bob mobile\" <sip:bob-mobile@10.0.0.32:5080>;q=0.5\r\n");
  h.from_core(moved);
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);  // the 302 to Alice, our ACK to the core
  REQUIRE(sent[0].outside);
  const sip::Message& answer = h.parse(sent[0]);
  CHECK(answer.status_code() == 302);
  CHECK(std::string(answer.bytes()).find("10.0.0.") == std::string::npos);
  const auto contacts = name_addrs(answer, sip::HeaderId::Contact);
  REQUIRE(contacts.size() == 3);
  const char* originals[] = {"sip:bob@10.0.0.30:5060;transport=udp", "sip:bob@10.0.0.31",
                             "sip:bob-mobile@10.0.0.32:5080"};
  for (std::size_t i = 0; i < contacts.size(); ++i) {
    CHECK(contacts[i].uri.host == "198.51.100.1");
    CHECK(contacts[i].uri.port == 5061);
    CHECK(contacts[i].uri.param("transport").value == "tls");
    const auto token = open_token(contacts[i].uri.user);
    REQUIRE(token);
    CHECK(token->kind == 3);
    CHECK(token->flow == kAliceFlow);
    CHECK(token->payload == originals[i]);
  }
  // What the core said about each target stays with it.
  CHECK(contacts[0].param("q").value == "0.9");
  CHECK(contacts[1].param("expires").value == "60");
  CHECK(contacts[2].display_name == "\"Bob mobile\"");
  CHECK(contacts[2].param("q").value == "0.5");

  // Alice follows the redirection to the second target: the core gets the original URI.
  std::string retry = alice_invite("z9hG4bKinv2");
  retry.replace(retry.find("sip:bob@example.com SIP/2.0"), 19, std::string(contacts[1].uri.text));
  retry.replace(retry.find("CSeq: 10"), 8, "CSeq: 11");
  h.from_outside(retry, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).request_uri().text == "sip:bob@10.0.0.31");
}

TEST_CASE("relay: a 3xx whose Contact list is too long to hide is not relayed", "[relay][hiding]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  const sip::Message& fwd = h.parse(sent[0]);
  std::string list = "Contact: ";
  for (int i = 0; i < 17; ++i)
    list += (i ? ", <sip:u@10.0.1." : "<sip:u@10.0.1.") + std::to_string(i) + ">";
  h.from_core(core_answer(fwd, 300, "Multiple Choices", "core1", list + "\r\n"));
  for (const auto& s : h.wire.take())
    CHECK_FALSE((s.outside && s.bytes.find("10.0.1.") != std::string::npos));
  CHECK(h.relay->stats().too_large.value() == 1);
}

// Alice's call, answered 200 by Bob at the core with tag b1: what the relay sent (the answer to
// Alice first). Her route set is then our one sealed entry in its Record-Route.
std::vector<FakeWire::Sent> alice_call_answered(Harness& h) {
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  const sip::Message& fwd = h.parse(sent[0]);
  std::string ok = "SIP/2.0 200 OK\r\n";
  for (const sip::HeaderField& f : fwd.headers())
    if (f.id == sip::HeaderId::Via || f.id == sip::HeaderId::RecordRoute) ok += f.line;
  ok += "From: " + header(fwd, sip::HeaderId::From) + "\r\nTo: " + header(fwd, sip::HeaderId::To) +
        ";tag=b1\r\nCall-ID: " + header(fwd, sip::HeaderId::CallId) +
        "\r\nCSeq: " + header(fwd, sip::HeaderId::CSeq) +
        "\r\nContact: <sip:bob@10.0.0.30:5060>\r\nContent-Length: 0\r\n\r\n";
  h.from_core(ok);
  sent = h.wire.take();
  return sent;
}

TEST_CASE("relay: requests inside a dialog only through our entry, from the party it was issued to",
          "[relay][dialog]") {
  Harness h;
  auto sent = alice_call_answered(h);
  const auto rr = name_addrs(h.parse(sent[0]), sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  const auto token = open_token(rr[0].uri.user);
  REQUIRE(token);
  CHECK(token->participant == *sbc::parse_address("203.0.113.5"));
  const std::string route(rr[0].text);
  auto bye = [&](std::string_view route_header, std::string_view branch) {
    return "BYE sip:bob@10.0.0.30:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 203.0.113.77:5060;branch=" +
           std::string(branch) +
           "\r\n"
           "Max-Forwards: 70\r\n" +
           (route_header.empty() ? std::string() : "Route: " + std::string(route_header) + "\r\n") +
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>;tag=b1\r\n"
           "Call-ID: call-1@192.168.1.20\r\n"
           "CSeq: 11 BYE\r\n"
           "Content-Length: 0\r\n\r\n";
  };
  // A third party without our entry: 481, nothing reaches the core.
  FlowInfo mallory = bob_flow();
  mallory.remote_ip = "203.0.113.77";
  h.from_outside(bye({}, "z9hG4bKm1"), mallory);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 481);
  // With Alice's entry copied from somewhere, but from its own address: 481 as well.
  h.from_outside(bye(route, "z9hG4bKm2"), mallory);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 481);
  CHECK(h.relay->stats().dialog_refused.value() == 2);
  // Alice herself, from her address (a new connection is fine): relayed to the core.
  FlowInfo alice_again = alice_flow();
  alice_again.remote_port = 40001;
  h.from_outside(bye(route, "z9hG4bKa1"), alice_again);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).method() == sip::Method::Bye);
  CHECK(token->bound);
}

TEST_CASE("relay: a dialog's entry opens that dialog only, and not forever", "[relay][dialog]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.dialog_token_lifetime = 3600s; });
  auto sent = alice_call_answered(h);
  const auto rr = name_addrs(h.parse(sent[0]), sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  const std::string route(rr[0].text);
  auto request = [&](std::string_view method, std::string_view ruri, std::string_view call_id,
                     std::string_view from_tag, std::string_view to_tag, int n) {
    return std::string(method) + " " + std::string(ruri) +
           " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKd" +
           std::to_string(n) +
           "\r\n"
           "Max-Forwards: 70\r\n"
           "Route: " +
           route +
           "\r\n"
           "From: <sip:alice@example.com>;tag=" +
           std::string(from_tag) + "\r\nTo: <sip:bob@example.com>;tag=" + std::string(to_tag) +
           "\r\nCall-ID: " + std::string(call_id) + "\r\nCSeq: " + std::to_string(20 + n) + " " +
           std::string(method) + "\r\nContent-Length: 0\r\n\r\n";
  };
  auto refused = [&](const std::string& bytes) {
    h.from_outside(bytes, alice_flow());
    auto out = h.wire.take();
    return out.size() == 1 && out[0].outside && h.parse(out[0]).status_code() == 481;
  };
  const std::uint64_t before = h.relay->stats().requests_to_core.value();
  // Her own address, her own entry, but a dialog she invents (a call to a premium number with a
  // made-up Call-ID and To tag): 481, nothing reaches the core.
  CHECK(
      refused(request("INVITE", "sip:+19005550100@premium.example", "invented-1", "a1", "x1", 1)));
  CHECK(refused(request("INVITE", "sip:+19005550100@premium.example", "call-1@192.168.1.20",
                        "other", "x1", 2)));
  CHECK(refused(request("MESSAGE", "sip:bob@10.0.0.30", "invented-2", "zz", "a1", 3)));
  CHECK(h.relay->stats().dialog_refused.value() == 3);
  CHECK(h.relay->stats().requests_to_core.value() == before);
  // Her real dialog: relayed, whichever side's tag is in From.
  h.from_outside(request("INFO", "sip:bob@10.0.0.30:5060", "call-1@192.168.1.20", "a1", "b1", 4),
                 alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  h.from_outside(request("INFO", "sip:bob@10.0.0.30:5060", "call-1@192.168.1.20", "b1", "a1", 5),
                 alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  // A REGISTER is never in a dialog: its To tag asks for nothing (it goes on as a REGISTER, for
  // the policies to challenge), it is not refused as a dialog request.
  h.from_outside(request("REGISTER", "sip:example.com", "invented-3", "r1", "r2", 6), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.relay->stats().dialog_refused.value() == 3);
  // After the entry's lifetime, even her real dialog is refused.
  h.now += 3601s;
  CHECK(refused(request("INFO", "sip:bob@10.0.0.30:5060", "call-1@192.168.1.20", "a1", "b1", 7)));
}

TEST_CASE(
    "relay: after authentication at the edge the core gets the identity, not the "
    "credentials, also after a fail-over",
    "[relay][auth]") {
  Harness h = two_cores();
  std::string reg = alice_register();
  const std::string credentials =
      "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", "
      "uri=\"sip:example.com\", response=\"00112233445566778899aabbccddeeff\"\r\n";
  const std::string core_credentials =
      "Authorization: Digest username=\"alice\", realm=\"core\", nonce=\"m\", "
      "uri=\"sip:example.com\", response=\"00112233445566778899aabbccddeeff\"\r\n";
  reg.insert(reg.find("Expires:"), credentials + core_credentials);
  h.in_bytes = reg;
  REQUIRE(h.in->parse(h.in_bytes, sip::Framing::Stream, {}).is_valid());
  FlowInfo flow = alice_flow();
  flow.asserted_identity = "<sip:alice@example.com>";
  for (const sip::HeaderField& f : h.in->headers())
    if (f.id == sip::HeaderId::Authorization && f.line == credentials)
      flow.consumed_credentials = f.line;
  REQUIRE_FALSE(flow.consumed_credentials.empty());
  h.relay->request_from_outside(*h.in, flow);
  auto check_sent = [&h](const FakeWire::Sent& s) {
    const sip::Message& m = h.parse(s);
    // The client's own P-Asserted-Identity is gone; ours is the only one.
    CHECK(header(m, sip::HeaderId::PAssertedIdentity) == "<sip:alice@example.com>");
    CHECK(m.count(sip::HeaderId::PAssertedIdentity) == 1);
    // The credentials we checked are spent; the core's own (another realm) stay.
    REQUIRE(m.count(sip::HeaderId::Authorization) == 1);
    CHECK(header(m, sip::HeaderId::Authorization).find("realm=\"core\"") != std::string::npos);
  };
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].ip == "10.0.0.10");
  check_sent(sent[0]);
  h.advance(2000ms);  // the first core is silent: the second gets the same
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK(sent.back().ip == "10.0.0.11");
  check_sent(sent.back());
}

TEST_CASE("relay: the ACK of the edge's own transaction-less answer (a challenge) ends here",
          "[relay][auth]") {
  Harness h;
  // The INVITE the edge challenged with 407 (a stateless answer: its To tag is derived from the
  // Call-ID, From and top Via, which the ACK repeats, RFC 3261 17.1.1.3).
  const std::string invite = alice_invite("z9hG4bKchallenged");
  REQUIRE(h.in->parse(invite, sip::Framing::Stream, {}).is_valid());
  std::array<char, 16> tag_buffer;
  const std::string tag(sip::stateless_to_tag(*h.in, tag_buffer));
  auto ack = [](std::string_view to_tag) {
    return "ACK sip:bob@example.com SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKchallenged;rport\r\n"
           "Max-Forwards: 70\r\n"
           "Route: <sip:198.51.100.1:5061;transport=tls;lr>\r\n"
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>;tag=" +
           std::string(to_tag) +
           "\r\n"
           "Call-ID: call-1@192.168.1.20\r\n"
           "CSeq: 10 ACK\r\n"
           "Content-Length: 0\r\n\r\n";
  };
  h.from_outside(ack(tag), alice_flow());
  CHECK(h.wire.take().empty());
  CHECK(h.relay->stats().stateless_acks_absorbed.value() == 1);
  CHECK(h.relay->stats().dialog_refused.value() == 0);
  // Any other To tag is an ACK inside a dialog, which must come through our route.
  h.from_outside(ack("someone-else"), alice_flow());
  CHECK(h.relay->stats().stateless_acks_absorbed.value() == 1);
  CHECK(h.relay->stats().dialog_refused.value() == 1);
}

TEST_CASE("relay: the core's refusals of credentials are reported with the client's address",
          "[relay][auth]") {
  Harness h;
  std::vector<std::string> reported;
  std::vector<Protocol> protocols;
  h.relay->set_refusal_listener([&](std::string_view ip, Protocol protocol) {
    reported.emplace_back(ip);
    protocols.push_back(protocol);
  });
  auto answer_with = [&h](const std::string& request, int status, std::string_view branch) {
    std::string r = request;
    r.replace(r.find("z9hG4bKreg1"), 11, branch);
    h.from_outside(r, alice_flow());
    auto sent = h.wire.take();
    REQUIRE_FALSE(sent.empty());
    h.from_core(core_answer(h.parse(sent[0]), status, "No"));
    (void)h.wire.take();
  };
  const std::string plain = alice_register();
  std::string with_credentials = plain;
  with_credentials.insert(
      with_credentials.find("Expires:"),
      "Authorization: Digest username=\"alice\", realm=\"core\", nonce=\"n\", "
      "uri=\"sip:example.com\", response=\"00112233445566778899aabbccddeeff\"\r\n");
  answer_with(plain, 401, "z9hG4bKreg2");  // a first challenge: nothing wrong yet
  CHECK(reported.empty());
  answer_with(with_credentials, 401, "z9hG4bKreg3");  // the credentials did not do
  REQUIRE(reported.size() == 1);
  CHECK(reported[0] == "203.0.113.5");
  CHECK(protocols[0] == Protocol::Tls);  // the policies weigh a refusal by its transport
  answer_with(plain, 403, "z9hG4bKreg4");
  CHECK(reported.size() == 2);
  answer_with(with_credentials, 200, "z9hG4bKreg5");
  CHECK(reported.size() == 2);
}

TEST_CASE("relay: every first final answer relayed to a client is reported with its status",
          "[relay][policy]") {
  Harness h;
  std::vector<std::pair<std::string, int>> reported;
  h.relay->set_answer_listener([&reported](std::string_view ip, std::uint16_t status) {
    reported.emplace_back(std::string(ip), status);
  });
  auto transaction = [&h](std::string_view branch, std::initializer_list<int> answers) {
    std::string r = alice_register();
    r.replace(r.find("z9hG4bKreg1"), 11, branch);
    h.from_outside(r, alice_flow());
    auto sent = h.wire.take();
    REQUIRE(sent.size() == 1);
    std::vector<std::string> texts;
    for (int status : answers) texts.push_back(core_answer(h.parse(sent[0]), status, "X"));
    for (const std::string& text : texts) {
      h.from_core(text);
      (void)h.wire.take();
    }
  };
  transaction("z9hG4bKreg2", {100});  // provisional: not an answer class
  CHECK(reported.empty());
  transaction("z9hG4bKreg3", {401, 401});  // the second is a retransmission
  REQUIRE(reported.size() == 1);
  CHECK(reported[0] == std::pair<std::string, int>{"203.0.113.5", 401});
  transaction("z9hG4bKreg4", {100, 200});
  REQUIRE(reported.size() == 2);
  CHECK(reported[1].second == 200);
}

TEST_CASE("relay: Max-Forwards leaves clamped to relay.max_forwards", "[relay]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.max_forwards = 20; });
  std::string reg = alice_register();
  reg.replace(reg.find("Max-Forwards: 70"), 16, "Max-Forwards: 200");
  h.from_outside(reg, alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).max_forwards() == 19);
}

namespace {

void mask_call_ids(proxy::RelaySettings& s) {
  s.mask_call_id = true;
}

// An INVITE the core sends down Alice's flow through the Path token, from a PBX of the inside
// whose Call-ID names its host.
std::string core_invite(std::string_view branch = "z9hG4bKcore1") {
  return "INVITE sip:alice@192.168.1.20:5061;transport=tls SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=" +
         std::string(branch) +
         "\r\n"
         "Via: SIP/2.0/UDP 10.0.0.20:5060;branch=z9hG4bKpbx1\r\n"
         "Max-Forwards: 69\r\n"
         "Route: <sip:" +
         seal(1, kAliceFlow) +
         "@10.0.0.1:15060;transport=udp;lr>\r\n"
         "Record-Route: <sip:10.0.0.10:5070;lr>\r\n"
         "From: <sip:carol@example.com>;tag=c1\r\n"
         "To: <sip:alice@example.com>\r\n"
         "Call-ID: call-2@10.0.0.20\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:carol@10.0.0.20:5060>\r\n"
         "Content-Length: 0\r\n\r\n";
}

// A request inside the dialog of core_invite() from the core, through `route`.
std::string core_in_dialog(std::string_view method, std::string_view branch, std::string_view route,
                           std::string_view call_id, unsigned cseq = 2) {
  return std::string(method) +
         " sip:alice@192.168.1.20:5061;transport=tls SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=" +
         std::string(branch) +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "Route: " +
         std::string(route) +
         "\r\n"
         "From: <sip:carol@example.com>;tag=c1\r\n"
         "To: <sip:alice@example.com>;tag=a9\r\n"
         "Call-ID: " +
         std::string(call_id) + "\r\nCSeq: " + std::to_string(cseq) + " " + std::string(method) +
         "\r\nContent-Length: 0\r\n\r\n";
}

}  // namespace

// Alice's answer to a request the relay sent down her flow: Via and Record-Route copied, her
// tag, and the Call-ID as she got it.
std::string alice_answer(const sip::Message& request, int status, std::string_view reason) {
  return core_answer(request, status, reason, request.to().tag.empty() ? "a9" : "",
                     status >= 200 && status < 300 && request.method() == sip::Method::Invite
                         ? "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n"
                         : "");
}

TEST_CASE("relay.mask_call_id: the core's Call-ID leaves sealed and every answer brings it back",
          "[relay][callid]") {
  Harness h(64, mask_call_ids);
  h.from_core(core_invite());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  REQUIRE(sent[0].outside);
  const std::string invite_down = sent[0].bytes;
  const sip::Message& down = h.parse(sent[0]);
  const std::string masked(down.call_id());
  CHECK(masked.starts_with("sbc-"));
  CHECK(masked.find("call-2") == std::string::npos);
  // Nothing of the inside shows any more, the Call-ID included.
  CHECK(std::string(down.bytes()).find("10.0.0.") == std::string::npos);
  const std::string hidden_rr(name_addrs(down, sip::HeaderId::RecordRoute).at(0).text);
  // The 100 Trying to the core is about the core's own Call-ID.
  CHECK(h.parse(sent[1]).call_id() == "call-2@10.0.0.20");

  // The core's retransmission is absorbed and answered with the core's Call-ID.
  h.from_core(core_invite());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).call_id() == "call-2@10.0.0.20");

  // Alice rings, answers, and retransmits her 200: the core gets its own Call-ID each time.
  const std::string ringing =
      alice_answer(h.parse({true, kAliceFlow, {}, 0, invite_down}), 180, "Ringing");
  const std::string ok = alice_answer(h.parse({true, kAliceFlow, {}, 0, invite_down}), 200, "OK");
  CHECK(ok.find("Call-ID: " + masked) != std::string::npos);
  for (const std::string* answer : {&ringing, &ok, &ok}) {
    h.from_outside(*answer, alice_flow());
    sent = h.wire.take();
    REQUIRE(sent.size() == 1);
    CHECK_FALSE(sent[0].outside);
    CHECK(h.parse(sent[0]).call_id() == "call-2@10.0.0.20");
  }
  // The core learns a route set whose entries of ours say "masked leg".
  const sip::Message& up = h.parse(sent[0]);
  const auto restored = name_addrs(up, sip::HeaderId::RecordRoute);
  REQUIRE(restored.size() == 3);
  CHECK(open_token(restored[1].uri.user)->kind == (1 | 0x80));
  const std::string inside_route(restored[1].text);

  // The core's ACK and BYE go down the masked leg with the very same masked Call-ID.
  h.from_core(core_in_dialog("ACK", "z9hG4bKcoreack", inside_route, "call-2@10.0.0.20", 1));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  REQUIRE(sent[0].outside);
  CHECK(h.parse(sent[0]).method() == sip::Method::Ack);
  CHECK(h.parse(sent[0]).call_id() == masked);
  h.from_core(core_in_dialog("BYE", "z9hG4bKcorebye", inside_route, "call-2@10.0.0.20"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  REQUIRE(sent[0].outside);
  const std::string bye_down = sent[0].bytes;
  CHECK(h.parse(sent[0]).call_id() == masked);
  CHECK(bye_down.find("10.0.0.") == std::string::npos);
  h.from_outside(alice_answer(h.parse({true, kAliceFlow, {}, 0, bye_down}), 200, "OK"),
                 alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 200);
  CHECK(h.parse(sent[0]).call_id() == "call-2@10.0.0.20");

  // Alice's own in-dialog request (through the hidden entry she got): the core gets its
  // Call-ID, her answer the masked one again, her retransmission too.
  const std::string reinvite =
      "INVITE sip:carol@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKre1;rport\r\n"
      "Max-Forwards: 70\r\n"
      "Route: " +
      hidden_rr +
      "\r\n"
      "From: <sip:alice@example.com>;tag=a9\r\n"
      "To: <sip:carol@example.com>;tag=c1\r\n"
      "Call-ID: " +
      masked +
      "\r\n"
      "CSeq: 5 INVITE\r\n"
      "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_outside(reinvite, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  CHECK_FALSE(sent[0].outside);
  const std::string reinvite_up = sent[0].bytes;
  CHECK(h.parse(sent[0]).call_id() == "call-2@10.0.0.20");
  CHECK(h.parse(sent[1]).status_code() == 100);
  CHECK(h.parse(sent[1]).call_id() == masked);
  h.from_core(core_answer(h.parse({false, 0, {}, 0, reinvite_up}), 200, "OK", ""));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  REQUIRE(sent[0].outside);
  CHECK(h.parse(sent[0]).call_id() == masked);
  h.from_outside(reinvite, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 200);
  CHECK(h.parse(sent[0]).call_id() == masked);
  // Her ACK for that 200 (no transaction) reaches the core with its Call-ID.
  std::string ack = reinvite;
  ack.replace(0, 6, "ACK");
  ack.replace(ack.find("z9hG4bKre1"), 10, "z9hG4bKre2");
  ack.replace(ack.find("5 INVITE"), 8, "5 ACK");
  h.from_outside(ack, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).method() == sip::Method::Ack);
  CHECK(h.parse(sent[0]).call_id() == "call-2@10.0.0.20");
}

TEST_CASE("relay.mask_call_id: CANCEL from the core, and the ACK of the 487, carry the mask",
          "[relay][callid]") {
  Harness h(64, mask_call_ids);
  h.from_core(core_invite());
  auto sent = h.wire.take();
  const std::string invite_down = sent.at(0).bytes;
  const std::string masked(h.parse(sent[0]).call_id());
  h.from_outside(alice_answer(h.parse({true, kAliceFlow, {}, 0, invite_down}), 180, "Ringing"),
                 alice_flow());
  h.wire.take();
  std::string cancel = core_invite();
  cancel.replace(0, 6, "CANCEL");
  cancel.replace(cancel.find("1 INVITE"), 8, "1 CANCEL");
  h.from_core(cancel);
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  CHECK_FALSE(sent[0].outside);  // 200 for the CANCEL, about the core's Call-ID
  CHECK(h.parse(sent[0]).status_code() == 200);
  CHECK(h.parse(sent[0]).call_id() == "call-2@10.0.0.20");
  REQUIRE(sent[1].outside);
  CHECK(h.parse(sent[1]).method() == sip::Method::Cancel);
  CHECK(h.parse(sent[1]).call_id() == masked);
  h.from_outside(
      alice_answer(h.parse({true, kAliceFlow, {}, 0, invite_down}), 487, "Request Terminated"),
      alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 487);
  CHECK(h.parse(sent[0]).call_id() == "call-2@10.0.0.20");
  REQUIRE(sent[1].outside);
  CHECK(h.parse(sent[1]).method() == sip::Method::Ack);
  CHECK(h.parse(sent[1]).call_id() == masked);
}

TEST_CASE("relay.mask_call_id: an outside caller's Call-ID is its own, on its leg both ways",
          "[relay][callid]") {
  Harness h(64, mask_call_ids);
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  const sip::Message& fwd = h.parse(sent[0]);
  CHECK(fwd.call_id() == "call-1@192.168.1.20");
  const auto rr = name_addrs(fwd, sip::HeaderId::RecordRoute);
  CHECK(open_token(rr.at(0).uri.user)->kind == 1);  // not a masked leg
  const std::string inside_route(rr[0].text);
  h.from_core(core_answer(fwd, 200, "OK", "b1"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).call_id() == "call-1@192.168.1.20");

  // The core's BYE to Alice in her dialog, through her leg's entry: her Call-ID, unmasked.
  std::string bye = core_in_dialog("BYE", "z9hG4bKcorebye", inside_route, "call-1@192.168.1.20");
  h.from_core(bye);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  REQUIRE(sent[0].outside);
  CHECK(h.parse(sent[0]).call_id() == "call-1@192.168.1.20");

  // The core relays her call on to Bob (a spiral through the SBC): Bob's leg is a new one and
  // gets it masked; his answer brings back hers.
  std::string to_bob = core_invite("z9hG4bKcore7");
  const std::size_t route = to_bob.find("Route: <sip:") + 12;
  to_bob.replace(route, to_bob.find('@', route) - route, seal(1, kBobFlow, {}, "203.0.113.9"));
  to_bob.replace(to_bob.find("call-2@10.0.0.20"), 16, "call-1@192.168.1.20");
  h.from_core(to_bob);
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  REQUIRE(sent[0].outside);
  CHECK(sent[0].flow == kBobFlow);
  const std::string bob_invite = sent[0].bytes;
  const std::string masked(h.parse(sent[0]).call_id());
  CHECK(masked.starts_with("sbc-"));
  h.from_outside(core_answer(h.parse({true, kBobFlow, {}, 0, bob_invite}), 200, "OK", "b9"),
                 bob_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).call_id() == "call-1@192.168.1.20");

  // A Call-ID of the outside that merely looks like ours goes to the core as it is.
  std::string lookalike = alice_invite("z9hG4bKinv9");
  lookalike.replace(lookalike.find("call-1@192.168.1.20"), 19, "sbc-AAAAAAAAAAAAAAAAAAAAAAAAAAAA");
  h.from_outside(lookalike, alice_flow());
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK(h.parse(sent[0]).call_id() == "sbc-AAAAAAAAAAAAAAAAAAAAAAAAAAAA");

  // Without masking, the core's Call-ID goes out as it is.
  Harness plain;
  plain.from_core(core_invite());
  CHECK(plain.parse(plain.wire.take().at(0)).call_id() == "call-2@10.0.0.20");
}

TEST_CASE("relay.mask_call_id: a masked request that comes back unchanged is still a loop (482)",
          "[relay][callid]") {
  Harness h(64, mask_call_ids);
  h.from_core(core_invite());
  auto sent = h.wire.take();
  // The outside sends the INVITE straight back to our listener, with its masked Call-ID.
  std::string looped = sent.at(0).bytes;
  looped.insert(looped.find("Via:"), "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKoutL\r\n");
  looped.insert(looped.find("Record-Route:"),
                "Route: <sip:" + seal(1, kAliceFlow) + "@198.51.100.1:5061;transport=tls;lr>\r\n");
  h.from_outside(looped, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 482);
  CHECK(h.relay->stats().loops.value() == 1);
}

TEST_CASE("relay.mask_call_id: a masked Call-ID is no route, a route token no Call-ID",
          "[relay][callid]") {
  Harness h(64, mask_call_ids);
  h.from_core(core_invite());
  auto sent = h.wire.take();
  const std::string masked(h.parse(sent.at(0)).call_id());
  // The outside sees the masked Call-ID; put where a flow token goes, it names no flow.
  std::string forged = core_invite("z9hG4bKcore5");
  const std::size_t user = forged.find("Route: <sip:") + 12;
  forged.replace(user, forged.find('@', user) - user, masked);
  h.from_core(forged);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 403);
  // And a route token used as a Call-ID is not opened for the core.
  std::string invite = alice_invite("z9hG4bKinv5");
  const std::string token = seal(1, kAliceFlow);
  invite.replace(invite.find("call-1@192.168.1.20"), 19, token);
  h.from_outside(invite, alice_flow());
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).call_id() == token);
}

namespace {
// Cores over streams: the first over TCP, the second over TLS.
Harness stream_cores(bool two = true) {
  return Harness(64, [&](proxy::RelaySettings& s) {
    s.cores = {{"10.0.0.10", 5070, 1, 1, Protocol::Tcp}};
    if (two) s.cores.push_back({"10.0.0.11", 5071, 2, 1, Protocol::Tls});
  });
}
}  // namespace

TEST_CASE("relay: toward a TCP core our Via, Path and Record-Route say TCP, and nothing is resent",
          "[relay][streams]") {
  Harness h = stream_cores();
  h.from_outside(alice_register(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].protocol == Protocol::Tcp);
  CHECK(sent[0].ip == "10.0.0.10");
  const sip::Message& reg = h.parse(sent[0]);
  CHECK(reg.top_via().transport == "TCP");
  CHECK(reg.top_via().host == "10.0.0.1");
  CHECK(reg.top_via().port == 15060);
  const auto path = name_addrs(reg, sip::HeaderId::Path);
  REQUIRE(path.size() == 1);
  check_entry(path[0], "10.0.0.1", 15060, 1, kAliceFlow);
  CHECK(path[0].uri.param("transport").value == "tcp");
  // A reliable transport: no timer A/E retransmissions (RFC 3261 17.1.2.2), only timer F
  // (and the failover timeout, 2 s).
  h.advance(1990ms);
  CHECK(h.wire.take().empty());
  CHECK(h.relay->stats().retransmissions_sent.value() == 0);

  h.from_outside(alice_invite(), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);  // the INVITE to the core, 100 Trying to alice
  CHECK(sent[0].protocol == Protocol::Tcp);
  const sip::Message& invite = h.parse(sent[0]);
  const auto record = name_addrs(invite, sip::HeaderId::RecordRoute);
  REQUIRE(record.size() == 2);
  check_entry(record[0], "10.0.0.1", 15060, 1, kAliceFlow);
  CHECK(record[0].uri.param("transport").value == "tcp");
  CHECK(record[1].uri.param("transport").value == "tls");  // alice's side
  // The core's answer over its connection is matched like a datagram.
  h.relay->message_from_inside(core_answer(invite, 180, "Ringing"), Protocol::Tcp, "10.0.0.10",
                               5070);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 180);
}

TEST_CASE("relay: a request from the core over its connection is answered over it",
          "[relay][streams]") {
  Harness h = stream_cores(false);
  const std::string from_core =
      "OPTIONS sip:alice@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TCP 10.0.0.10:5070;branch=z9hG4bKcore1\r\n"
      "Max-Forwards: 70\r\n"
      "Route: <sip:10.0.0.1:15060;transport=tcp;lr>\r\n"
      "From: <sip:core@example.com>;tag=c1\r\n"
      "To: <sip:alice@example.com>\r\n"
      "Call-ID: core-opts\r\n"
      "CSeq: 1 OPTIONS\r\n"
      "Content-Length: 0\r\n\r\n";
  h.relay->message_from_inside(from_core, Protocol::Tcp, "10.0.0.10", 40001);
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);  // no route of ours to the outside: 403, on the core's connection
  CHECK_FALSE(sent[0].outside);
  CHECK(sent[0].protocol == Protocol::Tcp);
  CHECK(sent[0].ip == "10.0.0.10");
  CHECK(sent[0].port == 40001);
  CHECK(h.parse(sent[0]).status_code() == 403);
}

TEST_CASE("relay: a connection to a core that fails moves its requests to the next core at once",
          "[relay][streams][failover]") {
  Harness h = stream_cores();
  h.from_outside(alice_register(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].ip == "10.0.0.10");
  // A failure of another address, or of the same address over another transport, changes nothing.
  h.relay->inside_failed(Protocol::Tcp, "10.0.0.99", 5070);
  h.relay->inside_failed(Protocol::Tls, "10.0.0.10", 5070);
  CHECK(h.wire.take().empty());
  CHECK(h.relay->stats().transport_errors.value() == 0);
  // Long before failover_timeout: RFC 3261 17.1.4 treats it as a 503 from that core.
  h.relay->inside_failed(Protocol::Tcp, "10.0.0.10", 5070);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].protocol == Protocol::Tls);
  CHECK(sent[0].ip == "10.0.0.11");
  CHECK(sent[0].port == 5071);
  const sip::Message& second = h.parse(sent[0]);
  CHECK(second.top_via().transport == "TLS");
  CHECK(h.relay->stats().transport_errors.value() == 1);
  CHECK(h.relay->stats().failovers.value() == 1);
  CHECK_FALSE(h.relay->cores().stats(0).up.load());
  // A transaction the core already answered stays with it.
  h.relay->message_from_inside(core_answer(second, 100, "Trying"), Protocol::Tls, "10.0.0.11",
                               5071);
  h.relay->inside_failed(Protocol::Tls, "10.0.0.11", 5071);
  CHECK(h.wire.take().empty());
}

TEST_CASE("relay: when the only core cannot be reached the client gets 503 at once",
          "[relay][streams]") {
  Harness h = stream_cores(false);
  h.from_outside(alice_invite(), alice_flow());
  REQUIRE(h.wire.take().size() == 2);
  h.relay->inside_failed(Protocol::Tcp, "10.0.0.10", 5070);
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  const sip::Message& answer = h.parse(sent[0]);
  CHECK(answer.status_code() == 503);
  CHECK(answer.reason_phrase() == "Service Unavailable (core unreachable)");
  // The INVITE server transaction waits for the ACK of its 503 like any non-2xx final answer.
  h.from_outside(alice_invite(), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 503);
}

TEST_CASE("relay: a sips: request goes only to a TLS core and down a TLS flow (RFC 5630)",
          "[relay][streams][sips]") {
  const std::string sips_invite = [] {
    std::string r = alice_invite();
    r.replace(0, std::string_view("INVITE sip:").size(), "INVITE sips:");
    return r;
  }();
  SECTION("the TLS core gets it although the TCP core has the better priority") {
    Harness h = stream_cores();
    h.from_outside(sips_invite, alice_flow());
    auto sent = h.wire.take();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].protocol == Protocol::Tls);
    CHECK(sent[0].ip == "10.0.0.11");
    // It cannot fail over to a core without TLS either: 503 from the TLS core ends it (500).
    const sip::Message& invite = h.parse(sent[0]);
    h.relay->message_from_inside(core_answer(invite, 503, "Overloaded"), Protocol::Tls, "10.0.0.11",
                                 5071);
    sent = h.wire.take();
    REQUIRE_FALSE(sent.empty());
    CHECK(sent.back().outside);
    CHECK(h.parse(sent.back()).status_code() == 500);
    // A sip: request still goes to the best core.
    h.from_outside(alice_invite("z9hG4bKplain"), alice_flow());
    sent = h.wire.take();
    REQUIRE_FALSE(sent.empty());
    CHECK(sent[0].ip == "10.0.0.10");
  }
  SECTION("without a TLS core: 416") {
    Harness h = stream_cores(false);
    h.from_outside(sips_invite, alice_flow());
    auto sent = h.wire.take();
    REQUIRE(sent.size() == 1);
    CHECK(sent[0].outside);
    const sip::Message& answer = h.parse(sent[0]);
    CHECK(answer.status_code() == 416);
    CHECK(answer.reason_phrase() == "Unsupported URI Scheme (no TLS path to the core)");
    CHECK(h.relay->stats().sips_refused.value() == 1);
  }
  SECTION("relay.sips_end_to_end: false lets it reach a core over TCP") {
    Harness h(64, [](proxy::RelaySettings& s) {
      s.cores = {{"10.0.0.10", 5070, 1, 1, Protocol::Tcp}};
      s.sips_end_to_end = false;
    });
    h.from_outside(sips_invite, alice_flow());
    auto sent = h.wire.take();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].ip == "10.0.0.10");
  }
  SECTION("from the core, not down a UDP flow") {
    Harness h;
    const std::string to_bob = std::string("INVITE sips:bob@203.0.113.9 SIP/2.0\r\n") +
                               "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=z9hG4bKcs1\r\n"
                               "Max-Forwards: 70\r\n"
                               "Route: <sip:" +
                               seal(1, kBobFlow, {}, "203.0.113.9") +
                               "@10.0.0.1:15060;transport=udp;lr>\r\n"
                               "From: <sip:alice@example.com>;tag=a9\r\n"
                               "To: <sips:bob@example.com>\r\n"
                               "Call-ID: core-sips\r\n"
                               "CSeq: 1 INVITE\r\n"
                               "Contact: <sip:alice@10.0.0.10:5070>\r\n"
                               "Content-Length: 0\r\n\r\n";
    h.from_core(to_bob);
    auto sent = h.wire.take();
    REQUIRE(sent.size() == 1);
    CHECK_FALSE(sent[0].outside);
    CHECK(h.parse(sent[0]).status_code() == 416);
  }
}

TEST_CASE("relay.mask_call_id: a masked Call-ID quoted in Replaces, Join or Refer-To is opened",
          "[relay][callid]") {
  Harness h(64, mask_call_ids);
  h.from_core(core_invite());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  const std::string masked(h.parse(sent[0]).call_id());
  REQUIRE(masked.starts_with("sbc-"));
  // Alice transfers: a new INVITE that replaces the dialog she knows by its masked Call-ID, and a
  // REFER whose Refer-To carries it escaped in the URI's headers.
  auto request = [&](std::string_view method, std::string_view branch, std::string_view extra) {
    return std::string(method) + " sip:carol@example.com SIP/2.0\r\n" +
           "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=" + std::string(branch) + ";rport\r\n" +
           "Max-Forwards: 70\r\n"
           "From: <sip:alice@example.com>;tag=x1\r\n"
           "To: <sip:carol@example.com>\r\n"
           "Call-ID: transfer-" +
           std::string(branch) +
           "@192.168.1.20\r\n"
           "CSeq: 1 " +
           std::string(method) + "\r\n" +
           "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n" + std::string(extra) +
           "Content-Length: 0\r\n\r\n";
  };
  h.from_outside(request("INVITE", "z9hG4bKrep",
                         "Replaces: " + masked + ";to-tag=a7;from-tag=c9\r\nJoin: other\r\n"),
                 alice_flow());
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  const sip::Message& invite = h.parse(sent[0]);
  CHECK(std::string(invite.bytes())
            .find("\r\nReplaces: call-2@10.0.0.20;to-tag=a7;from-tag=c9\r\n") != std::string::npos);
  CHECK(std::string(invite.bytes()).find("\r\nJoin: other\r\n") != std::string::npos);

  h.from_outside(request("REFER", "z9hG4bKref",
                         "Refer-To: <sip:carol@example.com?Replaces=" + masked +
                             "%3Bto-tag%3Da7%3Bfrom-tag%3Dc9>\r\n"),
                 alice_flow());
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK(std::string(h.parse(sent[0]).bytes())
            .find("Refer-To: <sip:carol@example.com?Replaces=call-2%4010.0.0.20%3Bto-tag%3Da7") !=
        std::string::npos);

  // A Call-ID that is not one of ours, or one that does not open, is left alone.
  h.from_outside(request("INVITE", "z9hG4bKrep2", "Replaces: sbc-forged;to-tag=a;from-tag=b\r\n"),
                 alice_flow());
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK(std::string(h.parse(sent[0]).bytes()).find("Replaces: sbc-forged;to-tag=a;from-tag=b") !=
        std::string::npos);
}

TEST_CASE("relay: the transaction time runs from the request to its first final answer",
          "[relay][metrics]") {
  Harness h;
  auto snapshot = [&](std::size_t kind) {
    sbc::metrics::HistogramSnapshot s;
    h.relay->stats().transaction_time[kind].add_to(s);
    return s;
  };
  h.from_outside(alice_register(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const std::string reg = sent[0].bytes;
  h.advance(250ms);
  h.from_core(core_answer(h.parse({false, 0, {}, 0, reg}), 100, "Trying"));
  CHECK(snapshot(1).count == 0);  // a provisional answer is not the end
  h.advance(50ms);
  const std::string ok = core_answer(h.parse({false, 0, {}, 0, reg}), 200, "OK");
  h.from_core(ok);
  h.from_core(ok);  // a retransmission is not a second measurement
  const sbc::metrics::HistogramSnapshot other = snapshot(1);
  CHECK(other.count == 1);
  CHECK(other.sum == Approx(0.3));
  CHECK(snapshot(0).count == 0);
  // An INVITE the core never answers ends with our 408 after 64*T1: measured as such.
  h.from_outside(alice_invite(), alice_flow());
  h.advance(33s);
  const sbc::metrics::HistogramSnapshot invite = snapshot(0);
  CHECK(invite.count == 1);
  CHECK(invite.sum == Approx(32.0).margin(0.02));
}

TEST_CASE("relay: what goes to an unproved UDP source stays within 3x what it sent",
          "[relay][amplification]") {
  // Bob's INVITE over UDP (his address could be forged); the core refuses it with a final answer
  // that the relay retransmits (timer G) to a client that never ACKs.
  const std::string invite = std::string("INVITE sip:carol@example.com SIP/2.0\r\n") +
                             "Via: SIP/2.0/UDP 203.0.113.9:5062;branch=z9hG4bKamp1;rport\r\n"
                             "Max-Forwards: 70\r\n"
                             "From: <sip:bob@example.com>;tag=b7\r\n"
                             "To: <sip:carol@example.com>\r\n"
                             "Call-ID: amp-1@203.0.113.9\r\n"
                             "CSeq: 1 INVITE\r\n"
                             "Content-Length: 0\r\n\r\n";
  auto run = [&](bool authenticated) {
    Harness h;
    FlowInfo flow = bob_flow();
    if (authenticated) flow.asserted_identity = "<sip:bob@example.com>";  // answered a nonce
    h.from_outside(invite, flow);
    auto sent = h.wire.take();
    REQUIRE(sent.size() == 2);  // the INVITE to the core, 100 Trying to Bob
    const sip::Message& fwd = h.parse(sent[0]);
    h.from_core(core_answer(fwd, 486, "Busy Here"));
    h.advance(40000ms);  // timer G's whole run and beyond
    std::size_t bytes = sent[1].bytes.size();
    std::size_t finals = 0;
    for (const auto& s : h.wire.take()) {
      if (!s.outside) continue;
      bytes += s.bytes.size();
      if (s.bytes.starts_with("SIP/2.0 486")) ++finals;
    }
    return std::pair{bytes, finals};
  };
  const auto [unproved_bytes, unproved_finals] = run(false);
  CHECK(unproved_finals == 1);  // the first final answer goes, even past the budget
  CHECK(unproved_bytes <= 3 * invite.size());
  // A source that answered a nonce receives what we send: timer G retransmits as RFC 3261 asks.
  const auto [proved_bytes, proved_finals] = run(true);
  CHECK(proved_finals > 5);
  CHECK(proved_bytes > 3 * invite.size());
}
