// The registrations the relay saw (sbc/proxy/registration_view.hpp): recorded from the
// registrar's 2xx to a REGISTER, refreshed, removed, ended, bounded; and the relay recording them.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "relay_harness.hpp"
#include "sbc/proxy/registration_view.hpp"

using namespace sbc;
using namespace sbc::test;
using proxy::RegistrationView;

namespace {

const RegistrationView::TimePoint kStart{std::chrono::seconds(1000)};

std::vector<RegistrationView::Entry> entries(const RegistrationView& view) {
  std::vector<RegistrationView::Entry> out;
  view.for_each([&](const RegistrationView::Entry& e) { out.push_back(e); });
  return out;
}

}  // namespace

TEST_CASE("registration view: recorded, refreshed, removed, ended", "[registrations]") {
  RegistrationView view(64);
  view.update("sip:alice@example.com", Protocol::Tcp, "alice", 300s, kStart);
  view.update("sip:bob@example.com", Protocol::Udp, "", 600s, kStart);
  CHECK(view.count(kStart) == 2);
  auto all = entries(view);
  REQUIRE(all.size() == 2);

  // A refresh (the host's case does not matter) keeps one entry, with what it says now.
  view.update("sip:alice@EXAMPLE.com", Protocol::Tls, "alice", 900s, kStart + 100s);
  CHECK(view.count(kStart + 100s) == 2);
  all = entries(view);
  REQUIRE(all.size() == 2);
  for (const auto& e : all) {
    if (e.user_view() != "alice") continue;
    CHECK(e.aor_view() == "sip:alice@example.com");
    CHECK(e.protocol == Protocol::Tls);
    CHECK(e.ends == kStart + 1000s);
  }

  // Bob's ends at 600 s; alice's, refreshed, at 1000 s.
  CHECK(view.count(kStart + 599s) == 2);
  CHECK(view.count(kStart + 600s) == 1);
  CHECK(view.count(kStart + 1000s) == 0);

  // Expires 0 (no binding left) removes it, and the removal is kept (newest wins in the merge).
  view.update("sip:alice@example.com", Protocol::Tls, "alice", 0s, kStart + 200s);
  CHECK(view.count(kStart + 200s) == 1);  // bob's
  all = entries(view);
  REQUIRE(all.size() == 2);
  for (const auto& e : all)
    if (e.user_view() == "alice") {
      CHECK(e.removed());
      CHECK(e.updated == kStart + 200s);
    }
  // Registered again.
  view.update("sip:alice@example.com", Protocol::Tcp, "alice", 60s, kStart + 300s);
  CHECK(view.count(kStart + 300s) == 2);
  CHECK(view.evicted() == 0);
}

TEST_CASE("registration view: a removal of what it does not hold is kept, as a removal",
          "[registrations]") {
  RegistrationView view(64);
  view.update("sip:carol@example.com", Protocol::Udp, "", 0s, kStart);
  CHECK(view.count(kStart) == 0);
  const auto all = entries(view);
  REQUIRE(all.size() == 1);
  CHECK(all[0].removed());
  CHECK(all[0].aor_view() == "sip:carol@example.com");
}

TEST_CASE("registration view: bounded, when full the one closest to its end goes (counted)",
          "[registrations]") {
  // The smallest view is one window: every address-of-record competes for the same slots.
  RegistrationView view(1);
  REQUIRE(view.capacity() == RegistrationView::kWindow);
  for (std::size_t i = 0; i < RegistrationView::kWindow; ++i)
    view.update("sip:u" + std::to_string(i) + "@example.com", Protocol::Udp, "",
                std::chrono::seconds(100 + i), kStart);
  CHECK(view.count(kStart) == RegistrationView::kWindow);
  CHECK(view.evicted() == 0);

  // A removal of an address it does not hold takes no live registration's place.
  view.update("sip:stranger@example.com", Protocol::Udp, "", 0s, kStart);
  CHECK(view.count(kStart) == RegistrationView::kWindow);
  CHECK(view.evicted() == 0);

  view.update("sip:new@example.com", Protocol::Tcp, "new", 3600s, kStart);
  CHECK(view.count(kStart) == RegistrationView::kWindow);
  CHECK(view.evicted() == 1);
  bool u0 = false, fresh = false;
  view.for_each([&](const RegistrationView::Entry& e) {
    u0 = u0 || e.aor_view() == "sip:u0@example.com";  // ended first: replaced
    fresh = fresh || e.aor_view() == "sip:new@example.com";
  });
  CHECK_FALSE(u0);
  CHECK(fresh);

  // An ended entry is taken before a live one, without counting.
  view.update("sip:later@example.com", Protocol::Udp, "", 60s, kStart + 101s);  // u1 ended
  CHECK(view.evicted() == 1);
  CHECK(view.count(kStart + 101s) == RegistrationView::kWindow);
}

TEST_CASE("registration view: long addresses and users are cut, kept apart by their whole hash",
          "[registrations]") {
  RegistrationView view(64);
  const std::string base = "sip:" + std::string(200, 'a');
  const std::string user(100, 'u');
  view.update(base + "1@example.com", Protocol::Udp, user, 60s, kStart);
  view.update(base + "2@example.com", Protocol::Udp, user, 60s, kStart);
  CHECK(view.count(kStart) == 2);
  for (const auto& e : entries(view)) {
    CHECK(e.aor_view() == (base + "1").substr(0, RegistrationView::kAorSize));
    CHECK(e.user_view() == user.substr(0, RegistrationView::kUserSize));
  }
  CHECK(RegistrationView::key_of("sip:a@Example.COM") ==
        RegistrationView::key_of("sip:a@example.com"));
  CHECK(RegistrationView::key_of("sip:A@example.com") !=
        RegistrationView::key_of("sip:a@example.com"));
}

TEST_CASE("registration view: the user of the identity the edge asserts", "[registrations]") {
  CHECK(proxy::identity_user("<sip:alice@example.com>") == "alice");
  CHECK(proxy::identity_user("<sip:a@b@example.com>") == "a@b");
  CHECK(proxy::identity_user("alice") == "alice");
  CHECK(proxy::identity_user("<sip:example.com>") == "<sip:example.com>");
}

TEST_CASE("registration views merged: the newest entry of any relay counts, by transport and user",
          "[registrations]") {
  // Alice registered through relay 0 and removed her bindings through relay 1; bob registered
  // through both (his refresh went to relay 1 over TCP); carol through relay 1, ended since.
  RegistrationView zero(64), one(64);
  zero.update("sip:alice@example.com", Protocol::Udp, "alice", 300s, kStart);
  zero.update("sip:bob@example.com", Protocol::Udp, "bob", 300s, kStart);
  zero.update("sip:dave@example.com", Protocol::Tls, "", 300s, kStart);
  zero.update("sip:erin@example.com", Protocol::Udp, "bob", 300s, kStart);
  one.update("sip:alice@example.com", Protocol::Udp, "alice", 0s, kStart + 10s);
  one.update("sip:bob@example.com", Protocol::Tcp, "bob", 300s, kStart + 20s);
  one.update("sip:carol@example.com", Protocol::Udp, "carol", 5s, kStart);
  std::vector<std::vector<proxy::RegistrationRecord>> relays(2);
  proxy::copy_entries(zero, kStart + 30s, relays[0]);
  proxy::copy_entries(one, kStart + 30s, relays[1]);
  auto s = proxy::summarize(relays, 10);
  CHECK(s.total == 3);  // bob, dave, erin
  CHECK(s.udp == 1);
  CHECK(s.tcp == 1);
  CHECK(s.tls == 1);
  CHECK(s.unauthenticated == 1);
  REQUIRE(s.users.size() == 1);
  CHECK(s.users[0].user == "bob");
  CHECK(s.users[0].registrations == 2);
  // The users listed are bounded by the limit.
  zero.update("sip:frank@example.com", Protocol::Udp, "frank", 300s, kStart);
  relays[0].clear();
  proxy::copy_entries(zero, kStart + 30s, relays[0]);
  s = proxy::summarize(relays, 1);
  CHECK(s.total == 4);
  REQUIRE(s.users.size() == 1);
  CHECK(s.users[0].user == "bob");  // most first
  CHECK(proxy::summarize(relays, 0).users.empty());
}

namespace {

// Alice's REGISTER relayed (authenticated at the edge when `identity` is given) and the core's
// answer to it relayed back.
void register_alice(Harness& h, std::string_view branch, int status, std::string_view extra,
                    std::string_view identity = {}) {
  FlowInfo flow = alice_flow();
  flow.asserted_identity = identity;
  h.from_outside(alice_register(branch), flow);
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const sip::Message& fwd = h.parse(sent[0]);
  h.from_core(
      core_answer(fwd, status, status == 200 ? "OK" : "Refused", "core1", std::string(extra)));
  REQUIRE(h.wire.take().size() == 1);
}

std::vector<RegistrationView::Entry> relay_entries(const Harness& h) {
  return entries(h.relay->registrations());
}

}  // namespace

TEST_CASE("relay: the registrar's 2xx records the registration, a refusal records nothing",
          "[relay][registrations]") {
  Harness h;
  register_alice(h, "z9hG4bKr1", 401, "WWW-Authenticate: Digest realm=\"x\", nonce=\"n\"\r\n");
  CHECK(relay_entries(h).empty());

  // The Contacts' expires, the longest of them; the edge's identity gives the user.
  register_alice(h, "z9hG4bKr2", 200,
                 "Contact: <sip:alice@192.168.1.20:5061>;expires=600, "
                 "<sip:alice@192.168.1.21>;expires=1200\r\nExpires: 30\r\n",
                 "<sip:alice@example.com>");
  auto all = relay_entries(h);
  REQUIRE(all.size() == 1);
  CHECK(all[0].aor_view() == "sip:alice@example.com");
  CHECK(all[0].protocol == Protocol::Tls);
  CHECK(all[0].user_view() == "alice");
  CHECK(all[0].ends == h.now + 1200s);
  CHECK(h.relay->registrations().count(h.now) == 1);

  // No expires parameter: the Expires header; neither: 3600 s. Not authenticated: no user.
  register_alice(h, "z9hG4bKr3", 200, "Contact: <sip:alice@192.168.1.20:5061>\r\nExpires: 90\r\n");
  all = relay_entries(h);
  REQUIRE(all.size() == 1);
  CHECK(all[0].ends == h.now + 90s);
  CHECK(all[0].user_view().empty());
  register_alice(h, "z9hG4bKr4", 200, "Contact: <sip:alice@192.168.1.20:5061>\r\n");
  CHECK(relay_entries(h)[0].ends == h.now + 3600s);

  // A 2xx listing no binding (after "Contact: *", Expires: 0): removed.
  register_alice(h, "z9hG4bKr5", 200, "");
  all = relay_entries(h);
  REQUIRE(all.size() == 1);
  CHECK(all[0].removed());
  CHECK(h.relay->registrations().count(h.now) == 0);
  // Every binding with expires=0: removed too.
  register_alice(h, "z9hG4bKr6", 200, "Contact: <sip:alice@192.168.1.20:5061>;expires=0\r\n");
  CHECK(h.relay->registrations().count(h.now) == 0);
}
