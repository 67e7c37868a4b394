// The cores (sbc/proxy/core_set.cpp): fail-over on silence, 503 and a failed connection,
// OPTIONS probes, load shared by weight, cores over TCP and TLS, sips: only over TLS.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "relay_harness.hpp"

using namespace sbc;
using namespace sbc::test;

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
  check_entry(path[0], "10.0.0.1", 15060, TokenKind::Flow, kAliceFlow);
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

TEST_CASE("relay: a 503 from a core fails over, from the last one the client gets 500",
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

TEST_CASE("relay: the admin API's view of a core: probe round trip, transactions in flight",
          "[relay][probes]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.probe_interval = 1000ms; });
  CHECK(h.relay->cores().probe_times(0).answered == proxy::CoreSet::TimePoint{});
  h.advance(10ms);
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  h.advance(25ms);
  h.from_core(core_answer(h.parse(sent[0]), 200, "OK"));
  const auto probe = h.relay->cores().probe_times(0);
  CHECK(probe.answered != proxy::CoreSet::TimePoint{});
  CHECK(probe.round_trip > std::chrono::microseconds{0});  // sent during the first advance
  CHECK(probe.round_trip <= std::chrono::microseconds{35000});
  // A request to the core is in flight until its answer.
  h.from_outside(alice_register(), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.relay->in_flight_by_core()[0] == 1);
  CHECK(h.relay->in_flight_by_core()[1] == 0);
  h.from_core(core_answer(h.parse(sent[0]), 200, "OK"));
  h.advance(10000ms);  // past any linger
  CHECK(h.relay->in_flight_by_core()[0] == 0);
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
  check_entry(path[0], "10.0.0.1", 15060, TokenKind::Flow, kAliceFlow);
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
  check_entry(record[0], "10.0.0.1", 15060, TokenKind::Flow, kAliceFlow);
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
                               seal(TokenKind::Flow, kBobFlow, {}, "203.0.113.9") +
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

namespace {
// The core state changes a relay reported (RelaySettings::on_core_state), as "IP up|down: why".
struct StateLog {
  std::vector<std::string> lines;
  void attach(proxy::RelaySettings& s) {
    s.on_core_state = [this](const proxy::CoreTarget& core, bool up, std::string_view reason) {
      lines.push_back(core.ip + (up ? " up: " : " down: ") + std::string(reason));
    };
  }
};
}  // namespace

TEST_CASE("relay: passive health takes a silent core out for 30 s and an answer brings it back",
          "[relay][probes]") {
  StateLog log;
  Harness h(64, [&](proxy::RelaySettings& s) {
    s.cores = {{"10.0.0.10", 5070, 1, 1}, {"10.0.0.11", 5070, 2, 1}};
    s.core_health = proxy::RelaySettings::CoreHealth::Passive;
    s.probe_interval = 1000ms;  // ignored: passive sends no OPTIONS
    log.attach(s);
  });
  h.advance(5000ms);
  CHECK(h.wire.take().empty());  // no probes
  h.from_outside(alice_register(), alice_flow());
  h.advance(2000ms);  // the first core stays silent: failover to the second
  auto sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK(sent.back().ip == "10.0.0.11");
  REQUIRE(log.lines == std::vector<std::string>{"10.0.0.10 down: no answer to a request"});
  h.from_core(core_answer(h.parse(sent.back()), 200, "OK"), "10.0.0.11");
  h.wire.take();
  // Within the hold time new requests skip the first core; after it, it is tried again, and
  // its answer marks it up.
  h.from_outside(alice_register("z9hG4bKreg2"), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].ip == "10.0.0.11");
  h.from_core(core_answer(h.parse(sent[0]), 200, "OK"), "10.0.0.11");
  h.advance(31s);
  h.wire.take();
  h.from_outside(alice_register("z9hG4bKreg3"), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].ip == "10.0.0.10");
  CHECK_FALSE(h.relay->cores().stats(0).up.load());
  h.from_core(core_answer(h.parse(sent[0]), 200, "OK"));
  CHECK(h.relay->cores().stats(0).up.load());
  CHECK(log.lines == std::vector<std::string>{"10.0.0.10 down: no answer to a request",
                                              "10.0.0.10 up: answered a request"});
}

TEST_CASE("relay: with health off every core stays in rotation", "[relay][probes]") {
  StateLog log;
  Harness h(64, [&](proxy::RelaySettings& s) {
    s.cores = {{"10.0.0.10", 5070, 1, 1}, {"10.0.0.11", 5070, 2, 1}};
    s.core_health = proxy::RelaySettings::CoreHealth::Off;
    log.attach(s);
  });
  h.from_outside(alice_register(), alice_flow());
  h.advance(2000ms);  // silent: this request still fails over...
  auto sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK(sent.back().ip == "10.0.0.11");
  CHECK(h.relay->cores().stats(0).failures.value() == 1);
  // ...but the next one goes to the first core again, and nothing was marked.
  h.from_outside(alice_register("z9hG4bKreg2"), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].ip == "10.0.0.10");
  CHECK(h.relay->cores().stats(0).up.load());
  CHECK(log.lines.empty());
}

TEST_CASE("relay: OPTIONS health reports why a core went down and came back", "[relay][probes]") {
  StateLog log;
  Harness h(64, [&](proxy::RelaySettings& s) {
    s.probe_interval = 1000ms;
    log.attach(s);
  });
  h.advance(10ms);
  h.advance(2000ms);  // two probes unanswered
  auto sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  h.from_core(core_answer(h.parse(sent.back()), 503, "Service Unavailable"));
  h.advance(1000ms);
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  h.from_core(core_answer(h.parse(sent.back()), 200, "OK"));
  CHECK(log.lines == std::vector<std::string>{"10.0.0.10 down: probes unanswered",
                                              "10.0.0.10 up: answered a probe"});
}
