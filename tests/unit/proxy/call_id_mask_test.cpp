// relay.mask_call_id (sbc/proxy/call_id_mask.cpp): the core's Call-IDs leave sealed on the legs
// toward the outside and every answer and in-dialog request brings them back.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "relay_harness.hpp"

using namespace sbc;
using namespace sbc::test;

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
  const auto masked_leg = open_token(restored[1].uri.user);
  REQUIRE(masked_leg);
  CHECK(masked_leg->kind == TokenKind::Flow);
  CHECK(masked_leg->masked_leg);
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
  const auto own_leg = open_token(rr.at(0).uri.user);
  REQUIRE(own_leg);
  CHECK(own_leg->kind == TokenKind::Flow);
  CHECK_FALSE(own_leg->masked_leg);  // not a masked leg
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
  to_bob.replace(route, to_bob.find('@', route) - route,
                 seal(TokenKind::Flow, kBobFlow, {}, "203.0.113.9"));
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
  looped.insert(looped.find("Record-Route:"), "Route: <sip:" + seal(TokenKind::Flow, kAliceFlow) +
                                                  "@198.51.100.1:5061;transport=tls;lr>\r\n");
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
  const std::string token = seal(TokenKind::Flow, kAliceFlow);
  invite.replace(invite.find("call-1@192.168.1.20"), 19, token);
  h.from_outside(invite, alice_flow());
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).call_id() == token);
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
