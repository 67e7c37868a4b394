#pragma once
// The relay's unit-test harness: a fake Wire that records what the relay sends, the relay
// settings of the tests (tests/support/relay_network.hpp), Alice (TLS) and Bob (UDP) outside,
// their messages and the core's answers, and the route tokens read and written through the
// relay's own token API (sbc/proxy/route_tokens.hpp). Shared by the tests of tests/unit/proxy/
// that drive a Relay.

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sbc/common/address.hpp"
#include "sbc/crypto/token_sealer.hpp"
#include "sbc/proxy/relay.hpp"
#include "sbc/proxy/route_tokens.hpp"
#include "sbc/sip/message.hpp"
#include "sbc/sip/response.hpp"
#include "tests/support/relay_network.hpp"

namespace sbc::test {

using namespace std::chrono_literals;
using proxy::Clock;
using proxy::detail::TokenKind;
using sbc::FlowInfo;
using sbc::Protocol;

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
  bool drain = false;                  // what draining() says (SIGTERM)
  std::vector<std::uint64_t> closing;  // flows close_after_sent() was called for

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
  bool draining() const noexcept override { return drain; }
  void close_after_sent(std::uint64_t flow_token) noexcept override {
    closing.push_back(flow_token);
  }
  std::vector<Sent> take() { return std::exchange(sent, {}); }
};

inline constexpr std::uint64_t kAliceFlow = 0x0100000200000003ull;  // a TLS connection
inline constexpr std::uint64_t kBobFlow = 0x0100000500000007ull;    // a UDP peer

inline FlowInfo alice_flow() {
  FlowInfo f;
  f.protocol = Protocol::Tls;
  f.local_ip = "198.51.100.1";
  f.local_port = 5061;
  f.remote_ip = "203.0.113.5";
  f.remote_port = 40000;
  f.flow_token = kAliceFlow;
  return f;
}

inline FlowInfo bob_flow() {
  FlowInfo f;
  f.protocol = Protocol::Udp;
  f.local_ip = "198.51.100.1";
  f.local_port = 5060;
  f.remote_ip = "203.0.113.9";
  f.remote_port = 5062;
  f.flow_token = kBobFlow;
  return f;
}

inline const sbc::crypto::TokenSealer::Key kKey =
    *sbc::crypto::TokenSealer::parse_key("7:00112233445566778899aabbccddeeff");

// The sealer of the harness's key, as the relay has it.
inline const sbc::crypto::TokenSealer& sealer() {
  static const sbc::crypto::TokenSealer instance({kKey});
  return instance;
}

// What one of our tokens says, opened with the harness's key (proxy::detail::RouteTokens::open),
// its payload copied.
struct Token {
  TokenKind kind = TokenKind::Flow;
  bool masked_leg = false;  // issued on a leg whose Call-ID the outside sees masked
  std::uint64_t flow = 0;
  proxy::detail::Ip participant{};
  std::string payload;
  bool bound = false;  // carries a dialog binding (MAC of Call-ID and caller tag, expiry)
  proxy::detail::Binding binding;
};
inline std::optional<Token> open_token(std::string_view user) {
  proxy::detail::TokenPlain buffer;
  const auto opened = proxy::detail::RouteTokens(sealer()).open(user, buffer);
  if (!opened) return std::nullopt;
  return Token{opened->kind,        opened->masked_leg,           opened->flow,
               opened->participant, std::string(opened->payload), opened->bound,
               opened->binding};
}

// A bound token (an outside Record-Route entry of a dialog) with `bind` = {Call-ID, caller tag}.
struct Bind {
  std::string_view call_id;
  std::string_view tag;
  std::uint32_t expires = 0xffffffffu;
};
inline const Bind kAliceDialog{"call-1@192.168.1.20", "a1"};

// "sbc-" + a token sealed as the relay seals them (proxy::detail::RouteTokens::seal: kind, flow,
// the party's address, payload), for messages the tests play.
inline std::string seal(TokenKind kind, std::uint64_t flow, std::string_view payload = {},
                        std::string_view participant = "203.0.113.5", const Bind* bind = nullptr) {
  proxy::detail::Binding binding;
  if (bind != nullptr) binding = {sealer().bind(bind->call_id, bind->tag), bind->expires};
  proxy::detail::RouteTokens tokens(sealer());
  const std::string_view token = tokens.seal(kind, flow, *sbc::parse_address(participant), payload,
                                             false, bind != nullptr ? &binding : nullptr);
  REQUIRE_FALSE(token.empty());
  return std::string(token);
}

// The name-addrs of a header, across lines and commas.
inline std::vector<sip::NameAddr> name_addrs(const sip::Message& m, sip::HeaderId id) {
  std::vector<sip::NameAddr> out;
  auto cursor = m.name_addrs(id);
  sip::NameAddr v;
  while (cursor.next(v)) out.push_back(v);
  return out;
}

// Checks that a name-addr is one of our entries at ip:port with a token of `kind` for `flow`
// (not of a masked leg).
inline void check_entry(const sip::NameAddr& e, std::string_view ip, std::uint16_t port,
                        TokenKind kind, std::uint64_t flow) {
  CHECK(e.uri.host == ip);
  CHECK(e.uri.port == port);
  CHECK(e.uri.param("lr"));
  const auto token = open_token(e.uri.user);
  REQUIRE(token);
  CHECK(token->kind == kind);
  CHECK_FALSE(token->masked_leg);
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
    relay_network(s);
    s.max_transactions = max_transactions;
    s.branch_seed = 42;
    s.token_keys = {kKey};
    if (adjust) adjust(s);
    wire.flows[kAliceFlow] = {Protocol::Tls, "198.51.100.1", 5061, "203.0.113.5", 5061};
    wire.flows[kBobFlow] = {Protocol::Udp, "198.51.100.1", 5060, "203.0.113.9", 5060};
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

inline std::string header(const sip::Message& m, sip::HeaderId id) {
  const sip::HeaderField* h = m.find(id);
  return h != nullptr ? std::string(h->value) : std::string();
}

inline std::string all_values(const sip::Message& m, sip::HeaderId id) {
  std::string joined;
  for (const sip::HeaderField& h : m.headers()) {
    if (h.id != id) continue;
    if (!joined.empty()) joined += ", ";
    joined += h.value;
  }
  return joined;
}

inline std::string alice_register(std::string_view branch = "z9hG4bKreg1") {
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
inline std::string core_answer(const sip::Message& request, int status, std::string_view reason,
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

inline std::string alice_invite(std::string_view branch = "z9hG4bKinv1") {
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

// Two UDP cores: 10.0.0.10 and 10.0.0.11 (priority, weight each).
inline Harness two_cores(unsigned priority0 = 1, unsigned priority1 = 2, unsigned weight0 = 1,
                         unsigned weight1 = 1) {
  return Harness(64, [&](proxy::RelaySettings& s) {
    s.cores = {{"10.0.0.10", 5070, priority0, weight0}, {"10.0.0.11", 5070, priority1, weight1}};
  });
}
// Cores over streams: the first over TCP, the second over TLS.
inline Harness stream_cores(bool two = true) {
  return Harness(64, [&](proxy::RelaySettings& s) {
    s.cores = {{"10.0.0.10", 5070, 1, 1, Protocol::Tcp}};
    if (two) s.cores.push_back({"10.0.0.11", 5071, 2, 1, Protocol::Tls});
  });
}
// relay.mask_call_id on.
inline void mask_call_ids(proxy::RelaySettings& s) {
  s.mask_call_id = true;
}

// Alice's request `method` (CSeq `cseq`) in the dialog of alice_invite() answered by Bob (tag b1)
// behind the core, through her route set `route`.
inline std::string alice_in_dialog(std::string_view method, const std::string& route,
                                   std::string_view branch, unsigned cseq) {
  return std::string(method) + " sip:bob@10.0.0.30:5060 SIP/2.0\r\n" +
         "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=" + std::string(branch) + ";rport\r\n" +
         "Max-Forwards: 70\r\nRoute: " + route + "\r\n" +
         "From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1\r\n" +
         "Call-ID: call-1@192.168.1.20\r\nCSeq: " + std::to_string(cseq) + " " +
         std::string(method) + "\r\nContent-Length: 0\r\n\r\n";
}

// An INVITE the core sends down Alice's flow through the Path token, from a PBX of the inside
// whose Call-ID names its host.
inline std::string core_invite(std::string_view branch = "z9hG4bKcore1") {
  return "INVITE sip:alice@192.168.1.20:5061;transport=tls SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=" +
         std::string(branch) +
         "\r\n"
         "Via: SIP/2.0/UDP 10.0.0.20:5060;branch=z9hG4bKpbx1\r\n"
         "Max-Forwards: 69\r\n"
         "Route: <sip:" +
         seal(TokenKind::Flow, kAliceFlow) +
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
inline std::string core_in_dialog(std::string_view method, std::string_view branch,
                                  std::string_view route, std::string_view call_id,
                                  unsigned cseq = 2) {
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

// Alice's answer to a request the relay sent down her flow: Via and Record-Route copied, her
// tag, and the Call-ID as she got it.
inline std::string alice_answer(const sip::Message& request, int status, std::string_view reason) {
  return core_answer(request, status, reason, request.to().tag.empty() ? "a9" : "",
                     status >= 200 && status < 300 && request.method() == sip::Method::Invite
                         ? "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n"
                         : "");
}

// Alice's call, answered 200 by Bob at the core with tag b1: what the relay sent (the answer to
// Alice first). Her route set is then our one sealed entry in its Record-Route.
inline std::vector<FakeWire::Sent> alice_call_answered(Harness& h) {
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  h.from_core(
      core_answer(h.parse(sent[0]), 200, "OK", "b1", "Contact: <sip:bob@10.0.0.30:5060>\r\n"));
  return h.wire.take();
}

}  // namespace sbc::test
