// The relay while the SBC drains (SIGTERM): what runs finishes, what is new is refused with 503
// and Retry-After, and a connection is closed after that answer.

#include "tests/unit/proxy/relay_harness.hpp"

namespace sbc::test {
namespace {

std::string retry_after(const sip::Message& m) {
  const sip::HeaderField* f = m.find("Retry-After");
  return f != nullptr ? std::string(f->value) : std::string();
}

// Alice's BYE in the dialog of alice_call_answered(), through her route set `route`.
std::string alice_bye(const std::string& route, std::string_view branch = "z9hG4bKbye1") {
  return alice_in_dialog("BYE", route, branch, 11);
}

}  // namespace

TEST_CASE(
    "relay: while draining, a new INVITE or REGISTER gets 503 with Retry-After and its "
    "connection closes, nothing reaching the core",
    "[relay][drain]") {
  Harness h;
  h.wire.drain = true;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(sent[0].flow == kAliceFlow);
  const sip::Message& refusal = h.parse(sent[0]);
  CHECK(refusal.status_code() == 503);
  CHECK(retry_after(refusal) == "5");
  CHECK(h.wire.closing == std::vector<std::uint64_t>{kAliceFlow});
  h.from_outside(alice_register(), bob_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 503);
  CHECK(h.relay->stats().draining.value() == 2);
  CHECK(h.relay->stats().requests_to_core.value() == 0);
  CHECK(h.relay->active_transactions() == 0);
}

TEST_CASE(
    "relay: while draining, a call up goes on: the answer to its INVITE, the caller's BYE "
    "and its 200",
    "[relay][drain]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  const std::string to_core = sent[0].bytes;
  // SIGTERM while the call rings: its answer still reaches Alice.
  h.wire.drain = true;
  const sip::Message& fwd = h.parse(FakeWire::Sent{false, 0, {}, 0, to_core});
  h.from_core(core_answer(fwd, 200, "OK", "b1", "Contact: <sip:bob@10.0.0.30:5060>\r\n"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  const sip::Message& ok = h.parse(sent[0]);
  CHECK(ok.status_code() == 200);
  const auto rr = name_addrs(ok, sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  const std::string route(rr[0].text);
  // Alice hangs up during the grace period: her BYE goes to the core, its 200 comes back.
  h.from_outside(alice_bye(route), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  const sip::Message& bye = h.parse(sent[0]);
  CHECK(bye.method() == sip::Method::Bye);
  h.from_core(core_answer(bye, 200, "OK", ""));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 200);
  CHECK(h.relay->stats().draining.value() == 0);
  CHECK(h.wire.closing.empty());
}

TEST_CASE(
    "relay: while draining, a retransmission and a CANCEL of a running transaction are "
    "not refused",
    "[relay][drain]") {
  Harness h;
  h.from_outside(alice_register(), bob_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  h.from_outside(alice_invite(), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  const std::string invite_to_core = sent[0].bytes;
  h.wire.drain = true;
  // The REGISTER again (UDP retransmission, no answer yet): absorbed, not refused.
  h.from_outside(alice_register(), bob_flow());
  for (const auto& s : h.wire.take()) CHECK(h.parse(s).status_code() != 503);
  // A CANCEL of the running INVITE: answered 200 and relayed once the core rings.
  std::string cancel = alice_invite();
  cancel.replace(0, 6, "CANCEL");
  cancel.replace(cancel.find("CSeq: 10 INVITE"), 15, "CSeq: 10 CANCEL");
  h.from_outside(cancel, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 200);
  const sip::Message& fwd = h.parse(FakeWire::Sent{false, 0, {}, 0, invite_to_core});
  h.from_core(core_answer(fwd, 180, "Ringing"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  CHECK(h.parse(sent[1]).method() == sip::Method::Cancel);
  CHECK(h.relay->stats().draining.value() == 0);
}

TEST_CASE(
    "relay: while draining, the core's new INVITE toward the outside gets 503, a MESSAGE "
    "still goes",
    "[relay][drain]") {
  Harness h;
  h.wire.drain = true;
  h.from_core(core_invite());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  const sip::Message& refusal = h.parse(sent[0]);
  CHECK(refusal.status_code() == 503);
  CHECK(retry_after(refusal) == "5");
  std::string message = core_invite("z9hG4bKcoremsg");
  message.replace(0, 6, "MESSAGE");
  message.replace(message.find("CSeq: 1 INVITE"), 14, "CSeq: 1 MESSAGE");
  h.from_core(message);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(h.parse(sent[0]).method() == sip::Method::Message);
  CHECK(h.relay->stats().draining.value() == 1);
  CHECK(h.wire.closing.empty());
}

}  // namespace sbc::test
