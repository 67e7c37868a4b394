// Relay and edge figures, without sockets: the path tests/fuzz/fuzz_relay.cpp drives (messages
// from the outside through the EdgeHandler into the Relay, the core's answers straight into the
// Relay, everything sent caught by a Wire that keeps the bytes).
//
// relay_call: one whole call per iteration, each a new one (its own Call-ID, branches and tags),
// over UDP on both sides, with the relay settings of the embedded default configuration
// (topology hiding, dialog protection, linger 5 s; no OPTIONS probes: nobody would answer them):
//   Alice -> INVITE (with SDP)        -> relay -> core     (the relay answers 100 to Alice)
//   core  -> 100, 180, 200 (with SDP) -> relay -> Alice    (the 100 stops at the relay)
//   Alice -> ACK, BYE                 -> relay -> core     (Route and Request-URI: the sealed
//   core  -> 200                      -> relay -> Alice     Record-Route and Contact of the 200)
// then 100 ms pass and the relay's timers run (one tick per call), so finished transactions
// expire after their linger and the table stays small however many calls run. The fake core and
// Alice build their messages by copying lines, which costs a little next to the relay's work.
//
// edge_options: an OPTIONS to the SBC itself (a trunk's or load balancer's keep-alive), answered
// 200 by the edge alone (no relay, no policy: the edge's policy check reads the wall clock).
#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_support.hpp"
#include "bench/instr/harness.hpp"
#include "sbc/app/config.hpp"
#include "sbc/crypto/token_sealer.hpp"
#include "sbc/proxy/relay.hpp"
#include "sbc/transport/edge_handler.hpp"
#include "tests/support/relay_network.hpp"

namespace sbc::bench::instr {
namespace {

constexpr std::uint64_t kAliceFlow = 0x0100000500000007ull;

sbc::FlowInfo alice_flow() {
  return udp_flow("203.0.113.9", 5062, "198.51.100.1", kAliceFlow);
}

// Keeps what the relay sends, in strings reused from call to call (no allocation once warm).
struct CallWire : transport::Wire {
  std::array<std::string, 4> outside, inside;
  std::size_t n_outside = 0, n_inside = 0;
  void reset() { n_outside = n_inside = 0; }
  bool send_outside(std::uint64_t token, std::string_view bytes) noexcept override {
    if (token != kAliceFlow) return false;
    if (n_outside < outside.size()) outside[n_outside].assign(bytes);
    ++n_outside;
    return true;
  }
  std::optional<transport::FlowAddress> flow_address(std::uint64_t token) const noexcept override {
    if (token != kAliceFlow) return std::nullopt;
    return transport::FlowAddress{sbc::Protocol::Udp, "198.51.100.1", 5060, "203.0.113.9", 5060};
  }
  void send_inside(sbc::Protocol, std::string_view, std::uint16_t,
                   std::string_view bytes) noexcept override {
    if (n_inside < inside.size()) inside[n_inside].assign(bytes);
    ++n_inside;
  }
};

constexpr std::string_view kSdp =
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 203.0.113.9\r\n"
    "s=-\r\n"
    "c=IN IP4 203.0.113.9\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n";

// "########" is the call's number in hexadecimal, written in place for every call.
constexpr std::string_view kNumber = "########";
constexpr std::string_view kAliceVia = "Via: SIP/2.0/UDP 203.0.113.9:5062;branch=z9hG4bK";
constexpr std::string_view kDialog =
    "Max-Forwards: 70\r\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=########\r\n"
    "To: <sip:bob@example.com>;tag=bob-1\r\n"
    "Call-ID: ########@203.0.113.9\r\n";

// A text with the call number's places, and where they are.
struct Template {
  std::string text;
  std::vector<std::size_t> places;
  explicit Template(std::string t) : text(std::move(t)) {
    for (std::size_t at = text.find(kNumber); at != std::string::npos;
         at = text.find(kNumber, at + kNumber.size()))
      places.push_back(at);
  }
  const std::string& stamp(std::uint64_t call) {
    for (const std::size_t at : places)
      for (std::size_t i = 0; i < kNumber.size(); ++i)
        text[at + i] = "0123456789abcdef"[(call >> (4 * (kNumber.size() - 1 - i))) & 15];
    return text;
  }
};

std::string invite_text() {
  return std::string("INVITE sip:bob@example.com SIP/2.0\r\n") + std::string(kAliceVia) +
         "########i;rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: \"Alice\" <sip:alice@example.com>;tag=########\r\n"
         "To: <sip:bob@example.com>\r\n"
         "Call-ID: ########@203.0.113.9\r\n"
         "CSeq: 1 INVITE\r\n"
         "Contact: <sip:alice@203.0.113.9:5062>\r\n"
         "User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)\r\n"
         "Content-Type: application/sdp\r\n"
         "Content-Length: " +
         std::to_string(kSdp.size()) + "\r\n\r\n" + std::string(kSdp);
}

// The value of header `name` ("Contact") in `msg`; empty when absent.
std::string_view header_value(std::string_view msg, std::string_view name) {
  for (std::size_t at = msg.find("\r\n"); at != std::string_view::npos && at + 2 < msg.size();
       at = msg.find("\r\n", at + 2)) {
    const std::string_view line = msg.substr(at + 2);
    if (line.starts_with("\r\n")) break;
    if (line.size() > name.size() + 2 && line.starts_with(name) && line[name.size()] == ':') {
      const std::string_view value = line.substr(name.size() + 2);
      return value.substr(0, value.find("\r\n"));
    }
  }
  return {};
}

// The core's answer to `request` (as the relay sent it): its Via, Record-Route, From, Call-ID
// and CSeq lines copied, its To with the core's tag (but on a 100), a Contact (but on a 100).
void core_answer(std::string& out, std::string_view request, std::string_view status_line,
                 std::string_view body = {}) {
  const bool trying = status_line.starts_with("SIP/2.0 100");
  out.assign(status_line);
  std::size_t at = request.find("\r\n") + 2;
  while (at < request.size() && !request.substr(at).starts_with("\r\n")) {
    const std::size_t end = request.find("\r\n", at) + 2;
    const std::string_view line = request.substr(at, end - at);
    at = end;
    if (line.starts_with("Via:") || line.starts_with("Record-Route:") ||
        line.starts_with("From:") || line.starts_with("Call-ID:") || line.starts_with("CSeq:")) {
      out += line;
    } else if (line.starts_with("To:")) {
      if (trying || line.find(";tag=") != std::string_view::npos) {
        out += line;
      } else {
        out.append(line.substr(0, line.size() - 2)).append(";tag=bob-1\r\n");
      }
    }
  }
  if (!trying) out += "Contact: <sip:bob@10.0.0.30:5060>\r\n";
  if (!body.empty()) out += "Content-Type: application/sdp\r\n";
  out += "Content-Length: ";
  out += std::to_string(body.size());
  out += "\r\n\r\n";
  out += body;
}

// Alice's ACK or BYE inside the dialog the 200 `answer` (as the relay sent it to her) set up:
// Request-URI its Contact, Route its Record-Route, as RFC 3261 12.2.1.1 builds them.
void alice_in_dialog(std::string& out, std::string_view answer, std::string_view method,
                     std::string_view branch_suffix, std::string_view cseq, Template& dialog,
                     std::uint64_t call) {
  const std::string_view contact = header_value(answer, "Contact");
  const std::string_view route = header_value(answer, "Record-Route");
  if (contact.size() < 2 || contact.front() != '<' || route.empty())
    fail("the 200 to Alice lacks a Contact <URI> or a Record-Route");
  const std::string_view target = contact.substr(1, contact.find('>') - 1);
  const std::string& headers = dialog.stamp(call);
  out.assign(method).append(" ").append(target).append(" SIP/2.0\r\n");
  out.append(kAliceVia).append(headers.data() + dialog.places[0], kNumber.size());
  out.append(branch_suffix).append(";rport\r\n");
  out.append("Route: ").append(route).append("\r\n");
  out.append(headers);
  out.append("CSeq: ").append(cseq).append("\r\nContent-Length: 0\r\n\r\n");
}

// The relay as the daemon sets it up from the embedded configuration, toward one UDP core.
proxy::RelaySettings relay_settings(const app::Config& config) {
  proxy::RelaySettings s = config.relay;
  test::relay_network(s);
  s.branch_seed = 1;
  s.token_keys = {*sbc::crypto::TokenSealer::parse_key("1:000102030405060708090a0b0c0d0e0f")};
  return s;
}

struct Call {
  app::Config config = app::parse_config(app::default_config_text(), "<default>");
  CallWire wire;
  proxy::Clock::time_point now = proxy::Clock::time_point(std::chrono::seconds(1000));
  proxy::Relay relay{relay_settings(config), wire, [this] { return now; }};
  transport::EdgeHandler edge{{config.limits, config.proxy_require_supported}};
  Template invite{invite_text()};
  Template dialog{std::string(kDialog)};
  std::string request, answer, saved_200;  // reused: no allocation once warm

  Call() { edge.set_router(&relay); }

  // Set for the first call: every message sent is parsed and described in `log`.
  bool verify = false;
  std::string log;

  // One step: what the relay sent must be `outside` messages to Alice, `inside` to the core.
  void expect(const char* step, std::size_t outside, std::size_t inside) {
    if (wire.n_outside != outside || wire.n_inside != inside)
      fail(std::string(step) + ": the relay sent " + std::to_string(wire.n_outside) +
           " messages to Alice and " + std::to_string(wire.n_inside) + " to the core");
    if (verify) describe(step);
    wire.reset();
  }
  void describe(const char* step) {
    log += step;
    log += ":";
    auto m = std::make_unique<sip::Message>();
    for (std::size_t side = 0; side < 2; ++side) {
      const auto& sent = side == 0 ? wire.outside : wire.inside;
      for (std::size_t i = 0; i < (side == 0 ? wire.n_outside : wire.n_inside); ++i) {
        if (!m->parse(sent[i], sip::Framing::Datagram, {}).is_valid())
          fail(std::string(step) + ": the relay sent an invalid message:\n" + sent[i]);
        if (side == 0 && sent[i].find("10.0.0.") != std::string::npos)
          fail(std::string(step) + ": an inside address reached Alice:\n" + sent[i]);
        log += side == 0 ? " alice " : " core ";
        log += m->is_request() ? std::string(m->method_name()) : std::to_string(m->status_code());
      }
    }
    log += "; ";
  }
  void from_alice(const std::string& bytes, const char* step, std::size_t out, std::size_t in) {
    if (edge.handle(bytes, sip::Framing::Datagram, alice_flow()).action !=
        transport::EdgeHandler::Action::None)
      fail(std::string(step) + ": the edge answered instead of relaying");
    expect(step, out, in);
  }
  void from_core(const char* step, std::size_t out) {
    relay.datagram_from_inside(answer, "10.0.0.10", 5070);
    expect(step, out, 0);
  }

  std::uint64_t run(std::uint64_t call) {
    // Nothing but the INVITE goes to the core until the ACK: inside[0] stays the INVITE.
    from_alice(invite.stamp(call), "INVITE", 1, 1);
    core_answer(answer, wire.inside[0], "SIP/2.0 100 Trying\r\n");
    from_core("100", 0);
    core_answer(answer, wire.inside[0], "SIP/2.0 180 Ringing\r\n");
    from_core("180", 1);
    core_answer(answer, wire.inside[0], "SIP/2.0 200 OK\r\n", kSdp);
    from_core("200 (INVITE)", 1);
    saved_200.assign(wire.outside[0]);
    alice_in_dialog(request, saved_200, "ACK", "k", "1 ACK", dialog, call);
    from_alice(request, "ACK", 0, 1);
    alice_in_dialog(request, saved_200, "BYE", "b", "2 BYE", dialog, call);
    from_alice(request, "BYE", 0, 1);
    core_answer(answer, wire.inside[0], "SIP/2.0 200 OK\r\n");
    from_core("200 (BYE)", 1);
    now += std::chrono::milliseconds(100);
    relay.tick();
    return saved_200.size();
  }
};

}  // namespace

Result relay_call(std::uint64_t iterations) {
  auto call = std::make_unique<Call>();
  call->verify = true;
  Result r;
  r.checksum += call->run(0);
  constexpr std::string_view kExpected =
      "INVITE: alice 100 core INVITE; 100:; 180: alice 180; 200 (INVITE): alice 200; "
      "ACK: core ACK; BYE: core BYE; 200 (BYE): alice 200; ";
  if (call->log != kExpected) fail("the first call went: " + call->log);
  call->verify = false;
  for (std::uint64_t i = 1; i < iterations; ++i) r.checksum += call->run(i);
  const proxy::RelayStats& st = call->relay.stats();
  const std::uint64_t established = st.dialogs_established.value();
  const std::uint64_t ended = st.dialogs_ended.value();
  std::fprintf(stderr,
               "relay_call: %llu calls, %llu dialogs established, %llu ended; %zu transactions "
               "(%zu bytes) left\n",
               static_cast<unsigned long long>(iterations),
               static_cast<unsigned long long>(established), static_cast<unsigned long long>(ended),
               call->relay.active_transactions(), call->relay.transaction_bytes());
  if (established != iterations || ended != iterations) fail("calls were not set up and ended");
  if (st.amplification_dropped.value() != 0 || st.stray_responses.value() != 0 ||
      st.dialog_refused.value() != 0 || st.retransmissions_sent.value() != 0)
    fail("the relay dropped, refused or retransmitted something");
  // Linger 5 s at 100 ms per call: about 50 calls' transactions (INVITE and BYE) are alive.
  if (call->relay.active_transactions() > std::size_t{2} * 60)
    fail("finished transactions do not expire");
  return r;
}

Result edge_options(std::uint64_t iterations) {
  const app::Config config = app::parse_config(app::default_config_text(), "<default>");
  transport::EdgeHandler edge({config.limits, config.proxy_require_supported});
  const std::string ping =
      "OPTIONS sip:198.51.100.1:5060 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 203.0.113.20:5060;branch=z9hG4bK-ka-1;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:ping@trunk.example.net>;tag=ka1\r\n"
      "To: <sip:198.51.100.1:5060>\r\n"
      "Call-ID: keepalive-1@203.0.113.20\r\n"
      "CSeq: 1 OPTIONS\r\n"
      "Accept: application/sdp\r\n"
      "Content-Length: 0\r\n\r\n";
  sbc::FlowInfo flow = alice_flow();
  flow.remote_ip = "203.0.113.20";
  flow.remote_port = 5060;
  flow.flow_token = 0;
  Result r;
  for (std::uint64_t i = 0; i < iterations; ++i) {
    const auto outcome = edge.handle(ping, sip::Framing::Datagram, flow);
    if (outcome.action != transport::EdgeHandler::Action::Reply ||
        !outcome.reply.starts_with("SIP/2.0 200 "))
      fail("the edge does not answer the OPTIONS 200");
    r.checksum += outcome.reply.size();
  }
  if (edge.stats().options_answered.value() != iterations) fail("OPTIONS not counted as answered");
  return r;
}

}  // namespace sbc::bench::instr
