// The relay's answers side (sbc/proxy/relay_responses.cpp): retransmissions absorbed and sent
// (the timers of RFC 3261 Appendix A), the answers reported to the policies, the transaction
// time, and the amplification budget toward unproved UDP sources.
#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "relay_harness.hpp"

using namespace sbc;
using namespace sbc::test;

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

TEST_CASE("relay: an unproved UDP caller hears the 100 and the 180 of its call",
          "[relay][amplification]") {
  Harness h;
  const std::string invite = std::string("INVITE sip:carol@example.com SIP/2.0\r\n") +
                             "Via: SIP/2.0/UDP 203.0.113.9:5062;branch=z9hG4bKamp2;rport\r\n"
                             "Max-Forwards: 70\r\n"
                             "From: <sip:bob@example.com>;tag=b7\r\n"
                             "To: <sip:carol@example.com>\r\n"
                             "Call-ID: amp-2@203.0.113.9\r\n"
                             "CSeq: 1 INVITE\r\n"
                             "Contact: <sip:bob@203.0.113.9:5062>\r\n"
                             "Content-Length: 0\r\n\r\n";
  h.from_outside(invite, bob_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  const sip::Message& fwd = h.parse(sent[0]);
  h.from_core(core_answer(fwd, 180, "Ringing", "c9", "Contact: <sip:carol@10.0.0.30>\r\n"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].bytes.starts_with("SIP/2.0 180"));
  CHECK(sent[0].bytes.size() > invite.size());  // our tokens make it larger than the INVITE
  CHECK(h.relay->stats().amplification_dropped.value() == 0);
}
