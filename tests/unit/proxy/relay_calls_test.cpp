// The calls through the relay (sbc/proxy/relay_dialogs.cpp): dialogs opened by an INVITE,
// established by its 2xx, ended by a final failure, a BYE or their session timeout; and the fraud
// limits of policy.calls on top (sbc/proxy/call_counts.hpp).
#include <catch2/catch.hpp>

#include <string>

#include "relay_harness.hpp"
#include "sbc/proxy/call_counts.hpp"
#include "sbc/proxy/dialog_table.hpp"

using namespace sbc;
using namespace sbc::test;

namespace {

std::string invite(std::string_view call_id, std::string_view branch, std::string_view extra = "") {
  return "INVITE sip:bob@example.com SIP/2.0\r\n"
         "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=" +
         std::string(branch) +
         ";rport\r\n"
         "Max-Forwards: 70\r\n"
         "From: <sip:alice@example.com>;tag=a1\r\n"
         "To: <sip:bob@example.com>\r\n"
         "Call-ID: " +
         std::string(call_id) +
         "\r\n"
         "CSeq: 10 INVITE\r\n"
         "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n" +
         std::string(extra) + "Content-Length: 0\r\n\r\n";
}

// The BYE Bob sends from the core in the call `call_id` (his tag b1, Alice's a1), down Alice's
// flow through the token of her Path.
std::string core_bye(std::string_view call_id, std::string_view branch) {
  return "BYE sip:alice@192.168.1.20:5061;transport=tls SIP/2.0\r\n"
         "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=" +
         std::string(branch) +
         "\r\n"
         "Max-Forwards: 70\r\n"
         "Route: <sip:" +
         seal(TokenKind::Flow, kAliceFlow) +
         "@10.0.0.1:15060;lr>\r\n"
         "From: <sip:bob@example.com>;tag=b1\r\n"
         "To: <sip:alice@example.com>;tag=a1\r\n"
         "Call-ID: " +
         std::string(call_id) + "\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n";
}

FlowInfo authenticated_alice() {
  FlowInfo f = alice_flow();
  f.asserted_identity = "<sip:alice@example.com>";
  return f;
}

// Plays an INVITE from the outside: the request the core got, or nullptr and the status of the
// relay's own answer.
struct Attempt {
  std::optional<std::string> to_core;
  int refused = 0;
  std::string reason;
};
Attempt call(Harness& h, const std::string& request, const FlowInfo& flow) {
  h.from_outside(request, flow);
  Attempt a;
  for (const auto& s : h.wire.take()) {
    if (!s.outside) {
      a.to_core = s.bytes;
    } else if (const sip::Message& answer = h.parse(s); answer.status_code() >= 200) {
      a.refused = answer.status_code();
      a.reason = std::string(answer.reason_phrase());
    }
  }
  return a;
}

void answer_from_core(Harness& h, const std::string& request, int status, std::string_view reason,
                      std::string_view extra = "") {
  h.keep = request;
  sip::Message m;
  REQUIRE(m.parse(h.keep, sip::Framing::Datagram, {}).is_valid());
  h.from_core(core_answer(m, status, reason, "b1", extra));
  h.wire.take();
}

// prefix + i (appended: GCC 12 warns, wrongly, of "literal" + std::string under -O3).
std::string name(std::string_view prefix, int i) {
  std::string s(prefix);
  s += std::to_string(i);
  return s;
}

}  // namespace

TEST_CASE(
    "relay: a third concurrent call of a user limited to two is refused, ending one lets "
    "the next through",
    "[relay][calls]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.call_limits.max_per_user = 2; });
  const FlowInfo alice = authenticated_alice();
  const Attempt first = call(h, invite("c1@x", "z9hG4bKc1"), alice);
  REQUIRE(first.to_core);
  answer_from_core(h, *first.to_core, 200, "OK", "Contact: <sip:bob@10.0.0.30>\r\n");
  const Attempt second = call(h, invite("c2@x", "z9hG4bKc2"), alice);  // still ringing
  REQUIRE(second.to_core);
  CHECK(h.relay->active_dialogs() == 2);
  CHECK(h.relay->established_dialogs() == 1);

  const Attempt third = call(h, invite("c3@x", "z9hG4bKc3"), alice);
  CHECK_FALSE(third.to_core);
  CHECK(third.refused == 403);
  CHECK(third.reason == "Forbidden (call limit: user)");
  CHECK(h.relay->stats().call_limit_user.value() == 1);
  // Another user is not touched by Alice's limit; an unauthenticated caller has no user count.
  FlowInfo carol = alice;
  carol.asserted_identity = "<sip:carol@example.com>";
  CHECK(call(h, invite("c4@x", "z9hG4bKc4"), carol).to_core);
  CHECK(call(h, invite("c5@x", "z9hG4bKc5"), alice_flow()).to_core);

  // The ringing call fails (Bob is busy): its place is free again.
  answer_from_core(h, *second.to_core, 486, "Busy Here");
  const Attempt fourth = call(h, invite("c6@x", "z9hG4bKc6"), alice);
  REQUIRE(fourth.to_core);
  CHECK(call(h, invite("c7@x", "z9hG4bKc7"), alice).refused == 403);
  // Bob hangs up the first call: the BYE ends it, and the next call goes through.
  h.from_core(core_bye("c1@x", "z9hG4bKbye1"));
  h.wire.take();
  CHECK(call(h, invite("c8@x", "z9hG4bKc8"), alice).to_core);
  CHECK(h.relay->stats().call_limit_user.value() == 2);
}

TEST_CASE("relay: the limit per source prefix and the limit of the SBC, 486 or 503 on request",
          "[relay][calls]") {
  Harness h(64, [](proxy::RelaySettings& s) {
    s.call_limits.max_per_source = 1;
    s.call_limits.source_prefix_v4 = 24;
    s.call_limits.max_total = 2;
    s.call_limits.reject_status = 486;
  });
  FlowInfo a = alice_flow();
  REQUIRE(call(h, invite("s1@x", "z9hG4bKs1"), a).to_core);
  a.remote_ip = "203.0.113.77";  // the same /24
  const Attempt same_prefix = call(h, invite("s2@x", "z9hG4bKs2"), a);
  CHECK(same_prefix.refused == 486);
  CHECK(same_prefix.reason == "Busy Here (call limit: source)");
  a.remote_ip = "192.0.2.1";
  REQUIRE(call(h, invite("s3@x", "z9hG4bKs3"), a).to_core);
  a.remote_ip = "192.0.3.1";
  const Attempt third = call(h, invite("s4@x", "z9hG4bKs4"), a);
  CHECK(third.refused == 486);
  CHECK(third.reason == "Busy Here (call limit: total)");
  CHECK(h.relay->stats().call_limit_source.value() == 1);
  CHECK(h.relay->stats().call_limit_total.value() == 1);
  // The limits change on a reload; the calls up keep their places.
  proxy::CallLimitSettings more;
  more.max_total = 3;
  more.reject_status = 503;
  h.relay->set_call_limits(more);
  CHECK(call(h, invite("s5@x", "z9hG4bKs5"), a).to_core);
  const Attempt over = call(h, invite("s6@x", "z9hG4bKs6"), a);
  CHECK(over.refused == 503);
  CHECK(over.reason == "Service Unavailable (call limit: total)");
}

TEST_CASE(
    "relay: a call ends by timeout without an answer, by its session timeout, and sooner "
    "with Session-Expires",
    "[relay][calls]") {
  Harness h(64, [](proxy::RelaySettings& s) {
    s.session_timeout = std::chrono::seconds(600);
    s.call_limits.max_total = 1;
  });
  // No answer from the core: 408 after 64*T1, and the attempt is over.
  REQUIRE(call(h, invite("t1@x", "z9hG4bKt1"), alice_flow()).to_core);
  CHECK(call(h, invite("t2@x", "z9hG4bKt2"), alice_flow()).refused == 403);
  h.advance(33s);
  h.wire.take();
  CHECK(h.relay->active_dialogs() == 0);
  // Established with Session-Expires 90: forgotten after 90 + 32 s without a refresh.
  const Attempt a = call(h, invite("t3@x", "z9hG4bKt3"), alice_flow());
  REQUIRE(a.to_core);
  answer_from_core(h, *a.to_core, 200, "OK", "Session-Expires: 90;refresher=uac\r\n");
  h.advance(120s);
  CHECK(h.relay->established_dialogs() == 1);
  h.advance(5s);
  CHECK(h.relay->established_dialogs() == 0);
  CHECK(h.relay->stats().dialogs_timed_out.value() == 1);
  // Without it, relay.session_timeout.
  const Attempt b = call(h, invite("t4@x", "z9hG4bKt4"), alice_flow());
  REQUIRE(b.to_core);
  answer_from_core(h, *b.to_core, 200, "OK");
  h.advance(590s);
  CHECK(h.relay->established_dialogs() == 1);
  h.advance(12s);
  CHECK(h.relay->active_dialogs() == 0);
  CHECK(call(h, invite("t5@x", "z9hG4bKt5"), alice_flow()).to_core);
}

TEST_CASE("relay: a full dialog table refuses new calls from the outside with 503",
          "[relay][calls]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.max_dialogs = 1; });
  REQUIRE(call(h, invite("f1@x", "z9hG4bKf1"), alice_flow()).to_core);
  const Attempt full = call(h, invite("f2@x", "z9hG4bKf2"), alice_flow());
  CHECK(full.refused == 503);
  CHECK(full.reason == "Service Unavailable (call table full)");
  CHECK(h.relay->stats().dialog_table_full.value() == 1);
  CHECK(h.relay->stats().call_limit_table.value() == 0);  // counted once, as scope="dialogs"
}

TEST_CASE("call counts: places across workers, released, by prefix, never over the limit",
          "[calls]") {
  proxy::CallCounts counts(2, 64);
  proxy::CallLimitSettings limits;
  limits.max_per_user = 2;
  const std::uint64_t alice = counts.user_key("<sip:alice@example.com>");
  CHECK(alice != counts.user_key("<sip:bob@example.com>"));
  CHECK(counts.user_key("") == 0);
  proxy::CallPlaces p1, p2, p3;
  CHECK(counts.admit(0, limits, alice, 0, p1) == proxy::CallScope::None);
  CHECK(counts.admit(1, limits, alice, 0, p2) == proxy::CallScope::None);
  CHECK(counts.count_user(alice) == 2);
  // The third place, on either worker, is over the limit: refused, nothing kept.
  CHECK(counts.admit(1, limits, alice, 0, p3) == proxy::CallScope::User);
  CHECK(counts.admit(0, limits, alice, 0, p3) == proxy::CallScope::User);
  CHECK_FALSE(p3.any());
  CHECK(counts.count_user(alice) == 2);
  counts.release(0, p1);
  CHECK(counts.count_user(alice) == 1);
  CHECK(counts.admit(1, limits, alice, 0, p3) == proxy::CallScope::None);
  CHECK(counts.count_user(alice) == 2);

  limits.source_prefix_v4 = 24;
  limits.source_prefix_v6 = 48;
  CHECK(counts.source_key("192.0.2.1", limits) == counts.source_key("192.0.2.200", limits));
  CHECK(counts.source_key("192.0.2.1", limits) != counts.source_key("192.0.3.1", limits));
  CHECK(counts.source_key("2001:db8:1:2::1", limits) ==
        counts.source_key("2001:db8:1:ffff::9", limits));
  CHECK(counts.source_key("2001:db8:1::1", limits) != counts.source_key("2001:db8:2::1", limits));
  CHECK(counts.source_key("not an address", limits) == 0);
}

TEST_CASE("call counts: a window full of other keys refuses (Table), a freed word is reused",
          "[calls]") {
  // 64 words a scope: 200 distinct users fill some window of 16.
  proxy::CallCounts counts(1, 64);
  proxy::CallLimitSettings limits;
  limits.max_per_user = 5;
  std::vector<proxy::CallPlaces> held;
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    proxy::CallPlaces p;
    const auto scope = counts.admit(0, limits, counts.user_key(name("u", i)), 0, p);
    refused = scope == proxy::CallScope::Table;
    if (!refused) held.push_back(p);
  }
  CHECK(refused);
  for (const auto& p : held) counts.release(0, p);
  for (int i = 0; i < 30; ++i) {  // half full: every window has room again
    proxy::CallPlaces p;
    CHECK(counts.admit(0, limits, counts.user_key(name("v", i)), 0, p) == proxy::CallScope::None);
  }
}

TEST_CASE("dialog table: bounded, found by either tag, stale handles, expiry sweep", "[calls]") {
  using T = proxy::DialogTable;
  const auto t0 = T::TimePoint(std::chrono::seconds(100));
  T table(2, nullptr, 0);
  const T::Ref a = table.open(table.key("call-a", "tag-a", true), {}, true, t0 + 10s);
  const T::Ref b = table.open(table.key("call-b", "tag-b", false), {}, false, t0 + 20s);
  REQUIRE(a);
  REQUIRE(b);
  CHECK_FALSE(table.open(table.key("call-c", "tag-c", true), {}, true, t0));
  // Call a came from the outside: its caller's requests come from there (From tag), its
  // callee's from the inside (To tag); the other leg of the same call would be the other way.
  CHECK(table.find("call-a", "tag-a", "", true) == table.get(a));
  CHECK(table.find("call-a", "other", "tag-a", false) == table.get(a));
  CHECK(table.find("call-a", "tag-a", "", false) == nullptr);
  CHECK(table.find("call-a", "other", "tag-a", true) == nullptr);
  CHECK(table.find("call-a", "tag-b", "", true) == nullptr);
  table.establish(*table.get(b), t0 + 30s);
  CHECK(table.established() == 1);
  table.close(*table.get(a));
  CHECK(table.get(a) == nullptr);  // the slot's generation moved on
  CHECK(table.active() == 1);
  CHECK(table.expire(t0 + 29s, 10) == 0);
  CHECK(table.expire(t0 + 30s, 10) == 1);
  CHECK(table.active() == 0);
  CHECK(table.established() == 0);
}

TEST_CASE(
    "relay: a BYE from the outside that reaches another worker than its call's ends the call "
    "there (its place is free again)",
    "[relay][calls]") {
  const auto limit_one = [](proxy::RelaySettings& s) { s.call_limits.max_per_user = 1; };
  Harness h(64, limit_one);
  Harness other(64, limit_one);  // another worker: same keys, its own tables
  std::vector<std::string> handed;
  other.relay->set_unknown_bye_listener(
      [&](std::string_view call_id, std::string_view from_tag, std::string_view to_tag) {
        handed.push_back(std::string(call_id) + " " + std::string(from_tag) + " " +
                         std::string(to_tag));
        h.relay->end_call(call_id, from_tag, to_tag);  // what the daemon posts to each worker
      });
  const FlowInfo alice = authenticated_alice();
  const Attempt first = call(h, invite("c1@x", "z9hG4bKc1"), alice);
  REQUIRE(first.to_core);
  h.keep = *first.to_core;
  sip::Message forwarded;
  REQUIRE(forwarded.parse(h.keep, sip::Framing::Datagram, {}).is_valid());
  h.from_core(core_answer(forwarded, 200, "OK", "b1", "Contact: <sip:bob@10.0.0.30>\r\n"));
  const auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const auto rr = name_addrs(h.parse(sent[0]), sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  const std::string route(rr[0].text);
  CHECK(h.relay->established_dialogs() == 1);
  CHECK(call(h, invite("c2@x", "z9hG4bKc2"), alice).refused == 403);  // her one call is up

  // Alice hangs up from another source port: the other worker gets her BYE.
  other.from_outside(
      "BYE sip:bob@10.0.0.30 SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:5999;branch=z9hG4bKbye9;rport\r\n"
      "Max-Forwards: 70\r\n"
      "Route: " +
          route +
          "\r\n"
          "From: <sip:alice@example.com>;tag=a1\r\n"
          "To: <sip:bob@example.com>;tag=b1\r\n"
          "Call-ID: c1@x\r\n"
          "CSeq: 11 BYE\r\n"
          "Content-Length: 0\r\n\r\n",
      alice);
  REQUIRE(handed.size() == 1);
  CHECK(handed[0] == "c1@x a1 b1");
  CHECK(h.relay->active_dialogs() == 0);
  CHECK(call(h, invite("c3@x", "z9hG4bKc3"), alice).to_core);
  // A BYE the worker holds the call of is not handed on.
  h.from_core(core_bye("c3@x", "z9hG4bKbye3"));
  CHECK(handed.size() == 1);
}
