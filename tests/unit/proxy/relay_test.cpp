// The relay's state machine (sbc/proxy/relay.cpp, RFC 3261 16 and 17): a request in from the
// outside and its answer back, INVITE and its ACK hop by hop, CANCEL, the edge's own answers.
#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "relay_harness.hpp"

using namespace sbc;
using namespace sbc::test;

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
  check_entry(path[0], "10.0.0.1", 15060, TokenKind::Flow, kAliceFlow);
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
  check_entry(rr[0], "10.0.0.1", 15060, TokenKind::Flow, kAliceFlow);
  check_entry(rr[1], "198.51.100.1", 5061, TokenKind::Flow, kAliceFlow);
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

TEST_CASE("relay: Max-Forwards leaves clamped to relay.max_forwards", "[relay]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.max_forwards = 20; });
  std::string reg = alice_register();
  reg.replace(reg.find("Max-Forwards: 70"), 16, "Max-Forwards: 200");
  h.from_outside(reg, alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).max_forwards() == 19);
}
