#include <atomic>
#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "policy/policy_config.hpp"
#include "sbc/sip/message.hpp"
#include "tests/unit/policy/chain_runner.hpp"

using namespace sbc;
using namespace std::chrono_literals;
using policy::Decision;

using namespace policy_tests;

TEST_CASE("policy: CIDR blocks and source keys", "[policy]") {
  const auto v4 = sbc::parse_cidr("192.0.2.0/24");
  REQUIRE(v4);
  CHECK(v4->contains(*sbc::parse_address("192.0.2.77")));
  CHECK_FALSE(v4->contains(*sbc::parse_address("192.0.3.1")));
  CHECK_FALSE(v4->contains(*sbc::parse_address("2001:db8::1")));
  const auto v6 = sbc::parse_cidr("2001:db8::/32");
  REQUIRE(v6);
  CHECK(v6->contains(*sbc::parse_address("2001:db8:1:2::3")));
  CHECK(v6->contains(*sbc::parse_address("[2001:db8::9]")));
  CHECK_FALSE(v6->contains(*sbc::parse_address("2001:db9::1")));
  CHECK(sbc::parse_cidr("10.0.0.1"));
  CHECK_FALSE(sbc::parse_cidr("10.0.0.0/33"));
  CHECK_FALSE(sbc::parse_cidr("example.com/8"));
  CHECK_FALSE(sbc::parse_cidr("10.0.0.0/x"));
  // IPv6 sources in one /64 are one source; other /64s and IPv4 addresses are not.
  CHECK(*sbc::source_key("2001:db8:0:1::1", 64) == *sbc::source_key("2001:db8:0:1:ffff::2", 64));
  CHECK_FALSE(*sbc::source_key("2001:db8:0:1::1", 64) == *sbc::source_key("2001:db8:0:2::1", 64));
  CHECK_FALSE(*sbc::source_key("192.0.2.1", 64) == *sbc::source_key("192.0.2.2", 64));
}

TEST_CASE("policy: the ACL denies, allows only what is listed, and trusts peers", "[policy]") {
  policy::PolicyConfig c = config_with({"acl", "scanner"});
  c.acl.deny = {*sbc::parse_cidr("203.0.113.0/24")};
  c.acl.trusted = {*sbc::parse_cidr("10.0.0.0/8")};
  Runner r(c);
  CHECK(r.run("203.0.113.9", request("OPTIONS")) == "drop acl/denied");
  CHECK(r.run("198.51.100.1", request("OPTIONS")) == "continue");
  // A trusted peer passes the stages after the ACL even with a scanner's User-Agent.
  CHECK(r.run("10.1.2.3", request("OPTIONS", "friendly-scanner")) == "continue");
  CHECK(r.chain->decisions(0, policy::AclStage::kDenied).value() == 1);

  c.acl.allow = {*sbc::parse_cidr("198.51.100.0/24")};
  Runner only(c);
  CHECK(only.run("198.51.100.1", request("OPTIONS")) == "continue");
  CHECK(only.run("192.0.2.1", request("OPTIONS")) == "drop acl/not_allowed");
  CHECK(only.run("10.1.2.3", request("OPTIONS")) == "continue");  // trusted beats allow
}

TEST_CASE("policy: a scanner's User-Agent is dropped and its source banned", "[policy]") {
  Runner r(config_with({"scanner"}));
  CHECK(r.run("192.0.2.50", request("OPTIONS", "Linphone/5.0")) == "continue");
  CHECK(r.run("192.0.2.66", request("OPTIONS", "friendly-scanner")) == "drop scanner/signature");
  CHECK(r.chain->bans_total().value() == 1);
  // Whatever it sends next dies before parsing, even with an innocent User-Agent.
  CHECK(r.run("192.0.2.66", request("REGISTER", "Linphone/5.0")) == "banned");
  CHECK(r.chain->banned_dropped().value() == 1);
  CHECK(r.run("192.0.2.67", request("OPTIONS", "SIPVicious 0.3.3")) == "drop scanner/signature");
  // The ban ends (60 s the first time), and doubles for a repeat offender.
  r.now += 61s;
  CHECK(r.run("192.0.2.66", request("OPTIONS")) == "continue");
  CHECK(r.run("192.0.2.66", request("OPTIONS", "friendly-scanner")) == "drop scanner/signature");
  r.now += 61s;
  CHECK(r.run("192.0.2.66", request("OPTIONS")) == "banned");
  r.now += 60s;
  CHECK(r.run("192.0.2.66", request("OPTIONS")) == "continue");
  r.chain->maintain(r.now);
  CHECK(r.chain->bans_active() == 0);
}

TEST_CASE("policy: UDP evidence bans over UDP only, a verified address over every transport",
          "[policy][bans]") {
  policy::PolicyConfig c = config_with({"acl", "scanner"});
  c.acl.trusted = {*sbc::parse_cidr("10.0.0.0/8")};
  Runner r(c);
  // One datagram "from" 192.0.2.80 (anyone can write that source address): banned over UDP.
  CHECK(r.run("192.0.2.80", request("OPTIONS", "friendly-scanner")) == "drop scanner/signature");
  CHECK(r.run("192.0.2.80", request("OPTIONS")) == "banned");
  r.protocol = sbc::Protocol::Tcp;
  CHECK(r.run("192.0.2.80", request("OPTIONS")) == "continue");
  r.protocol = sbc::Protocol::Tls;
  CHECK(r.run("192.0.2.80", request("OPTIONS")) == "continue");
  // The same evidence over TCP (the handshake proved the address): banned everywhere.
  r.protocol = sbc::Protocol::Tcp;
  CHECK(r.run("192.0.2.80", request("OPTIONS", "friendly-scanner")) == "drop scanner/signature");
  CHECK(r.run("192.0.2.80", request("OPTIONS")) == "banned");
  r.protocol = sbc::Protocol::Tls;
  CHECK(r.run("192.0.2.80", request("OPTIONS")) == "banned");
  CHECK(r.chain->bans_total().value() == 2);
  // A trusted peer is never banned, whatever arrives from its address.
  r.protocol = sbc::Protocol::Udp;
  CHECK(r.run("10.0.0.1", request("OPTIONS", "friendly-scanner")) == "continue");
  CHECK(r.run("10.0.0.1", request("OPTIONS")) == "continue");
}

TEST_CASE("policy: an active ban is never evicted, a full table refuses new bans",
          "[policy][bans]") {
  policy::BanSettings settings;
  settings.max_entries = 64;
  policy::BanTable bans(settings);
  const auto now = policy::TimePoint(1000s);
  const auto key = [](int i) {
    return *sbc::source_key("10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".1",
                            64);
  };
  const sbc::SourceKey attacker = *sbc::source_key("192.0.2.99", 64);
  CHECK(bans.ban(attacker, now, policy::BanScope::Udp) == 60s);
  for (int i = 0; i < 1000; ++i) (void)bans.ban(key(i), now, policy::BanScope::Udp);
  // The attacker's ban held against a thousand others; the table is full of active bans and
  // refused the rest (counted).
  CHECK(bans.banned(attacker, now, true));
  CHECK(bans.active(now) == 64);
  CHECK(bans.full().value() == 1000 - 63);
  CHECK(bans.bans().value() == 64);
  // Expired bans make room again.
  const auto later = now + 61s;
  CHECK_FALSE(bans.banned(attacker, later, true));
  CHECK(bans.ban(key(5000), later, policy::BanScope::All) == 60s);
  CHECK(bans.banned(key(5000), later, false));
}

TEST_CASE("policy: ban scopes: UDP, every transport, widened, imposed, listed", "[policy][bans]") {
  policy::BanTable bans(policy::BanSettings{});
  const auto now = policy::TimePoint(1000s);
  const sbc::SourceKey a = *sbc::source_key("192.0.2.1", 64);
  std::vector<policy::BanScope> heard;
  bans.set_listener([&heard](const sbc::SourceKey&, const policy::BanRecord& ban) {
    heard.push_back(ban.scope);
  });
  CHECK(bans.ban(a, now, policy::BanScope::None) == 0s);
  CHECK_FALSE(bans.banned(a, now, true));
  CHECK(bans.ban(a, now, policy::BanScope::Udp) == 60s);
  CHECK(bans.banned(a, now, true));
  CHECK_FALSE(bans.banned(a, now, false));
  // Already banned over UDP: more UDP evidence changes nothing; verified evidence widens it (a
  // second offence: twice as long).
  CHECK(bans.ban(a, now + 1s, policy::BanScope::Udp) == 59s);
  CHECK(bans.ban(a, now + 1s, policy::BanScope::All) == 120s);
  CHECK(bans.banned(a, now + 100s, false));
  CHECK(heard == std::vector{policy::BanScope::Udp, policy::BanScope::All});
  // A ban from another worker, and the list a reload carries over.
  const sbc::SourceKey b = *sbc::source_key("192.0.2.2", 64);
  bans.impose(b, {now + 30s, policy::BanScope::Udp, {"scanner", "signature"}, now, 1}, now);
  CHECK(bans.banned(b, now, true));
  CHECK_FALSE(bans.banned(b, now, false));
  int udp = 0, all = 0;
  bans.for_each_active(now, [&](const sbc::SourceKey& key, const policy::BanRecord& ban) {
    ++(ban.scope == policy::BanScope::All ? all : udp);
    if (key == b) CHECK(ban.cause.stage == "scanner");
  });
  CHECK(udp == 1);
  CHECK(all == 1);
  // An operator lifts a ban: gone at once, and its repeat count with it.
  CHECK(bans.lift(a, now + 2s));
  CHECK_FALSE(bans.banned(a, now + 2s, false));
  CHECK_FALSE(bans.lift(a, now + 2s));
  CHECK(bans.ban(a, now + 3s, policy::BanScope::All) == 60s);  // a first offence again
}

TEST_CASE("policy: bans lifted by prefix, and only those inside it", "[policy][bans]") {
  policy::BanTable bans(policy::BanSettings{});
  const auto now = policy::TimePoint(1000s);
  const auto key = [](const char* address) { return *sbc::source_key(address, 64); };
  for (const char* a : {"10.1.2.3", "10.200.0.1", "192.0.2.1", "2001:db8:0:1::5", "2001:db9::1"})
    (void)bans.ban(key(a), now, policy::BanScope::All);
  // One that has run out is no running ban: not counted.
  (void)bans.ban(key("10.9.9.9"), now - 100s, policy::BanScope::Udp);
  const auto inside = [](const char* prefix) {
    return [block = *sbc::parse_cidr(prefix)](const sbc::SourceKey& k) {
      return sbc::overlaps(block, k, 64);
    };
  };
  CHECK(bans.lift_if(now, inside("10.0.0.0/8")) == 2);
  CHECK_FALSE(bans.banned(key("10.1.2.3"), now, false));
  CHECK_FALSE(bans.banned(key("10.200.0.1"), now, false));
  CHECK(bans.banned(key("192.0.2.1"), now, false));
  CHECK(bans.lift_if(now, inside("10.0.0.0/8")) == 0);
  // An IPv6 source is its /64: a prefix inside that block lifts it too, one beside it does not.
  CHECK(bans.lift_if(now, inside("2001:db8:0:2::/64")) == 0);
  CHECK(bans.lift_if(now, inside("2001:db8:0:1:ffff::/80")) == 1);
  CHECK(bans.lift_if(now, inside("2001:db8::/32")) == 0);
  CHECK(bans.banned(key("2001:db9::1"), now, false));
  CHECK(bans.lift_if(now, inside("::/0")) == 2);  // everything, IPv4 included
  CHECK(bans.active(now) == 0);
}

TEST_CASE("address: blocks overlap source keys", "[policy][address]") {
  const auto block = [](const char* text) { return *sbc::parse_cidr(text); };
  const auto key = [](const char* address) { return *sbc::source_key(address, 64); };
  CHECK(sbc::overlaps(block("192.0.2.0/24"), key("192.0.2.200"), 64));
  CHECK_FALSE(sbc::overlaps(block("192.0.2.0/24"), key("192.0.3.1"), 64));
  CHECK(sbc::overlaps(block("192.0.2.7"), key("192.0.2.7"), 64));
  CHECK_FALSE(sbc::overlaps(block("192.0.2.7"), key("192.0.2.8"), 64));
  CHECK(sbc::overlaps(block("2001:db8::1"), key("2001:db8::99"), 64));  // the same /64
  CHECK_FALSE(sbc::overlaps(block("2001:db8:0:1::1"), key("2001:db8::99"), 64));
  CHECK(sbc::overlaps(block("2001:db8::/32"), key("2001:db8:ffff:1::1"), 64));
  CHECK_FALSE(sbc::overlaps(block("0.0.0.0/0"), key("2001:db8::1"), 64));
}

TEST_CASE("policy: strikes: verified ones ban everywhere, unverified ones over UDP only",
          "[policy][bans]") {
  policy::StrikeCount c;
  using policy::BanScope;
  CHECK(c.add(BanScope::Udp, 1, 3) == BanScope::None);
  CHECK(c.add(BanScope::Udp, 1, 3) == BanScope::None);
  // Two forged datagrams and one verified strike: a ban over UDP, not everywhere.
  CHECK(c.add(BanScope::All, 1, 3) == BanScope::Udp);
  CHECK(c.add(BanScope::All, 1, 3) == BanScope::None);
  CHECK(c.add(BanScope::All, 1, 3) == BanScope::All);
  CHECK(c.add(BanScope::None, 100, 3) == BanScope::None);  // a trusted peer: never
  CHECK(c.add(BanScope::Udp, 5, 3) == BanScope::Udp);      // a batch of strikes
  CHECK(c.add(BanScope::Udp, 5, 0) == BanScope::None);     // 0: no bans
}

TEST_CASE("policy: token buckets per source and method class, then a ban for a flood", "[policy]") {
  policy::PolicyConfig c = config_with({"rate_limit"});
  c.rate_limit.register_requests = {2, 5};
  c.rate_limit.ban_after = 10;
  Runner r(c);
  for (int i = 0; i < 5; ++i) CHECK(r.run("192.0.2.1", request("REGISTER")) == "continue");
  CHECK(r.run("192.0.2.1", request("REGISTER")) == "drop rate_limit/register_flood");
  // Other classes and other sources have their own buckets.
  CHECK(r.run("192.0.2.1", request("INVITE")) == "continue");
  CHECK(r.run("192.0.2.2", request("REGISTER")) == "continue");
  // Tokens come back at the configured rate.
  r.now += 1s;
  CHECK(r.run("192.0.2.1", request("REGISTER")) == "continue");
  CHECK(r.run("192.0.2.1", request("REGISTER")) == "continue");
  CHECK(r.run("192.0.2.1", request("REGISTER")) == "drop rate_limit/register_flood");
  // A source that keeps flooding gets banned.
  for (int i = 0; i < 20; ++i) (void)r.run("192.0.2.1", request("REGISTER"));
  CHECK(r.run("192.0.2.1", request("OPTIONS")) == "banned");
  CHECK(r.chain->bans_total().value() == 1);
  CHECK(r.chain->decisions(0, policy::RateLimitStage::kRegister).value() == 10);
  // An IPv6 attacker rotating addresses inside its /64 is one source.
  for (int i = 0; i < 5; ++i)
    CHECK(r.run("2001:db8:0:7::" + std::to_string(i + 1), request("REGISTER")) == "continue");
  CHECK(r.run("2001:db8:0:7::99", request("REGISTER")) == "drop rate_limit/register_flood");
}

TEST_CASE("policy: methods not allowed get 405 with Allow, ACK and CANCEL always pass",
          "[policy]") {
  policy::PolicyConfig c = config_with({"methods"});
  c.methods.allowed = {"INVITE", "BYE", "REGISTER"};
  Runner r(c);
  CHECK(r.run("192.0.2.1", request("INVITE")) == "continue");
  CHECK(r.run("192.0.2.1", request("MESSAGE")) == "respond 405 methods/method_not_allowed");
  CHECK(r.run("192.0.2.1", request("CANCEL")) == "continue");
  CHECK(r.run("192.0.2.1", request("ACK")) == "continue");
  r.bytes = request("PUBLISH");
  REQUIRE(r.m->parse(r.bytes, sip::Framing::Datagram, {}).is_valid());
  const sbc::FlowInfo flow = from("192.0.2.1");
  REQUIRE(r.chain->admit(flow, r.now));
  CHECK(r.chain->decide(*r.m).decision.extra_header == "Allow: INVITE, BYE, REGISTER");
}

TEST_CASE("policy: a source table keeps its size whatever the number of sources", "[policy]") {
  policy::PolicyConfig c = config_with({"rate_limit"});
  c.rate_limit.max_sources = 64;
  c.rate_limit.register_requests = {1, 1};
  Runner r(c);
  for (int i = 0; i < 5000; ++i)
    CHECK(r.run("10." + std::to_string(i / 250) + "." + std::to_string(i % 250) + ".1",
                request("REGISTER")) == "continue");
  // The table did not grow; the most recent sources are still known.
  CHECK(r.run("10.19.249.1", request("REGISTER")) == "drop rate_limit/register_flood");
}

TEST_CASE("policy: sips: needs TLS, TLS-only setups and domains, client certificates for trunks",
          "[policy]") {
  policy::PolicyConfig c = config_with({"sips"});
  c.sips.domains = {"secure.example.com"};
  c.sips.client_certificate_from = {*sbc::parse_cidr("198.51.100.0/24")};
  auto chain = policy::make_chain(c);
  auto m = std::make_unique<sip::Message>();
  const auto now = policy::TimePoint(1000s);
  auto run = [&](std::string text, sbc::Protocol protocol, std::string_view ip,
                 std::string_view identity = {}) {
    sbc::FlowInfo f = from(ip);
    f.protocol = protocol;
    f.tls.peer_identity = identity;
    static std::string bytes;
    bytes = std::move(text);
    REQUIRE(m->parse(bytes, sip::Framing::Datagram, {}).is_valid());
    REQUIRE(chain->admit(f, now));
    const auto out = chain->decide(*m);
    return out.decision.proceeds() ? std::string("continue")
                                   : std::to_string(out.decision.status) + " " +
                                         std::string(out.stage->reasons()[out.decision.reason]);
  };
  auto with_uri = [](std::string text, std::string_view uri) {
    text.replace(text.find("sip:bob@example.com SIP"), 23, std::string(uri) + " SIP");
    return text;
  };
  const std::string invite = request("INVITE");
  CHECK(run(invite, sbc::Protocol::Udp, "192.0.2.1") == "continue");
  CHECK(run(with_uri(invite, "sips:bob@example.com"), sbc::Protocol::Udp, "192.0.2.1") ==
        "416 sips_without_tls");
  CHECK(run(with_uri(invite, "sips:bob@example.com"), sbc::Protocol::Tls, "192.0.2.1") ==
        "continue");
  CHECK(run(with_uri(invite, "sip:bob@secure.example.com"), sbc::Protocol::Tcp, "192.0.2.1") ==
        "403 tls_required");
  CHECK(run(with_uri(invite, "sip:bob@secure.example.com"), sbc::Protocol::Tls, "192.0.2.1") ==
        "continue");
  // A trunk's range must show a verified client certificate.
  CHECK(run(invite, sbc::Protocol::Tls, "198.51.100.7") == "403 certificate_required");
  CHECK(run(invite, sbc::Protocol::Tls, "198.51.100.7", "CN=trunk.example.net") == "continue");

  c.sips.require_tls = true;
  auto strict = policy::make_chain(c);
  std::swap(chain, strict);
  CHECK(run(invite, sbc::Protocol::Udp, "192.0.2.1") == "403 tls_required");
  CHECK(run(invite, sbc::Protocol::Tls, "192.0.2.1") == "continue");
}

TEST_CASE("policy: a source asking for many users is a scanner, whatever it calls itself",
          "[policy]") {
  policy::PolicyConfig config = config_with({"scanner"});
  config.scanner.max_users_per_window = 20;
  Runner r(config);
  auto options_to = [](int user) {
    std::string m = request("OPTIONS", "Zoiper rev.1234");
    const std::string name = "sip:" + std::to_string(1000 + user) + "@example.com";
    m.replace(m.find("sip:bob@example.com"), 19, name);
    return m;
  };
  // The same few users again and again: fine.
  for (int i = 0; i < 100; ++i) REQUIRE(r.run("192.0.2.30", options_to(i % 5)) == "continue");
  // Counting upward through extensions (svwar, renamed): caught after about 20.
  std::string last;
  int sent = 0;
  for (int user = 0; user < 60 && last != "banned"; ++user, ++sent)
    last = r.run("192.0.2.31", options_to(user));
  CHECK(last == "banned");
  CHECK(sent > 15);
  CHECK(sent < 40);
  CHECK(r.chain->decisions(0, policy::ScannerStage::kEnumeration).value() == 1);
  // A new window starts clean.
  for (int user = 0; user < 15; ++user)
    REQUIRE(r.run("192.0.2.32", options_to(user)) == "continue");
  r.now += 61s;
  for (int user = 15; user < 30; ++user)
    REQUIRE(r.run("192.0.2.32", options_to(user)) == "continue");
}

TEST_CASE("policy: a source that gets almost nothing but refusals is a scanner", "[policy]") {
  policy::PolicyConfig config = config_with({"scanner"});
  config.scanner.max_users_per_window = 0;  // a slow guesser: no enumeration to see
  Runner r(config);
  auto answers = [&r](std::string_view ip, std::initializer_list<int> statuses, int times = 1) {
    for (int i = 0; i < times; ++i)
      for (int status : statuses)
        r.chain->core_answered(ip, static_cast<std::uint16_t>(status), r.now);
  };
  const std::string options = request("OPTIONS", "Zoiper rev.1234");
  // A renamed svwar/svcrack: nothing but 401, 403, 404 and 407.
  REQUIRE(r.run("192.0.2.40", options) == "continue");
  answers("192.0.2.40", {404, 401, 403, 407}, 4);
  answers("192.0.2.40", {484, 485, 404});
  CHECK(r.run("192.0.2.40", options) == "continue");  // 19 answers: too few to judge
  answers("192.0.2.40", {401});
  CHECK(r.run("192.0.2.40", options) == "drop scanner/refusals");
  CHECK(r.run("192.0.2.40", options) == "banned");
  CHECK(r.chain->decisions(0, policy::ScannerStage::kRefusals).value() == 1);
  // A phone challenged on every REGISTER and INVITE (the core authenticates): half refusals.
  for (int i = 0; i < 100; ++i) {
    answers("192.0.2.41", {401, 200, 407, 200});
    REQUIRE(r.run("192.0.2.41", options) == "continue");
  }
  // Calls to wrong numbers between them: 404s and 484s, still well under the share.
  answers("192.0.2.42", {401, 200, 407, 404, 407, 484, 407, 200}, 10);
  CHECK(r.run("192.0.2.42", options) == "continue");
  // Refusals spread over windows do not add up.
  answers("192.0.2.43", {401}, 19);
  r.now += 61s;
  answers("192.0.2.43", {401}, 19);
  CHECK(r.run("192.0.2.43", options) == "continue");
  CHECK(r.chain->decisions(0, policy::ScannerStage::kRefusals).value() == 1);
  // Answers other than final ones and other sources' do not count; min_answers 0 turns it off.
  config.scanner.min_answers = 0;
  Runner off(config);
  for (int i = 0; i < 50; ++i) off.chain->core_answered("192.0.2.44", 401, off.now);
  CHECK(off.run("192.0.2.44", options) == "continue");
}

TEST_CASE("policy: the edge's own answers count as a source's answers", "[policy]") {
  policy::PolicyConfig config = config_with({"scanner", "methods"});
  config.scanner.max_users_per_window = 0;
  config.methods.allowed = {"INVITE", "REGISTER"};
  Runner r(config);
  // The edge's 405s are answers, not refusals: with them, the core's 40 refusals are half of
  // what the source got (without them, all of it).
  for (int i = 0; i < 40; ++i)
    REQUIRE(r.run("192.0.2.45", request("MESSAGE")) == "respond 405 methods/method_not_allowed");
  for (int i = 0; i < 40; ++i) r.chain->core_answered("192.0.2.45", 404, r.now);
  CHECK(r.run("192.0.2.45", request("INVITE")) == "continue");
  for (int i = 0; i < 400; ++i) r.chain->core_answered("192.0.2.45", 404, r.now);
  CHECK(r.run("192.0.2.45", request("INVITE")) == "drop scanner/refusals");
}

TEST_CASE("policy: a steady stream of odd-shaped requests from one source is a scanner",
          "[policy]") {
  policy::PolicyConfig config = config_with({"scanner"});
  config.scanner.max_odd_requests = 5;
  Runner r(config);
  // What real clients send: sipsak (z9hG4bK.%08x), baresip and Kamailio (z9hG4bK + hex),
  // SIPVicious (z9hG4bK-digits), our sip_ua (z9hG4bK + token). None of it is odd.
  for (std::string_view branch :
       {"z9hG4bK.0a1b2c3d", "z9hG4bK7f3a0c2e91d4b5a6", "z9hG4bK-3904837201", "z9hG4bKcydzigwk"})
    for (int i = 0; i < 30; ++i)
      REQUIRE(r.run("192.0.2.60", request("OPTIONS", {}, branch)) == "continue");
  // RFC 2543 branches: a few are legal...
  for (int i = 0; i < 5; ++i)
    REQUIRE(r.run("192.0.2.61", request("OPTIONS", {}, "1234abcd")) == "continue");
  // ...a stream of them is a tool.
  CHECK(r.run("192.0.2.61", request("OPTIONS", {}, "1234abcd")) == "drop scanner/odd_shape");
  CHECK(r.run("192.0.2.61", request("OPTIONS")) == "banned");
  // A branch or From tag longer than any real stack makes counts too, and so does no branch.
  std::string long_tag = request("OPTIONS");
  long_tag.replace(long_tag.find(";tag=1"), 6, ";tag=" + std::string(200, 'a'));
  std::string no_branch = request("OPTIONS");
  no_branch.replace(no_branch.find(";branch=z9hG4bK1"), 16, "");
  for (int i = 0; i < 2; ++i) {
    REQUIRE(r.run("192.0.2.62", long_tag) == "continue");
    REQUIRE(r.run("192.0.2.62", request("OPTIONS", {}, "z9hG4bK" + std::string(200, 'b'))) ==
            "continue");
  }
  REQUIRE(r.run("192.0.2.62", no_branch) == "continue");
  CHECK(r.run("192.0.2.62", no_branch) == "drop scanner/odd_shape");
  CHECK(r.chain->decisions(0, policy::ScannerStage::kOddShape).value() == 2);
  // A new window starts clean.
  for (int i = 0; i < 5; ++i)
    REQUIRE(r.run("192.0.2.63", request("OPTIONS", {}, "1234abcd")) == "continue");
  r.now += 61s;
  for (int i = 0; i < 5; ++i)
    REQUIRE(r.run("192.0.2.63", request("OPTIONS", {}, "1234abcd")) == "continue");
}

TEST_CASE("policy: rate-limit drops add up at the source's home worker, in batches", "[policy]") {
  policy::PolicyConfig config = config_with({"rate_limit"});
  config.rate_limit.register_requests = {1, 1};
  config.rate_limit.ban_after = 20;
  config.rate_limit.strike_batch = 5;
  config.rate_limit.workers = 2;
  Runner workers[] = {Runner(config, 0), Runner(config, 1)};
  int posts = 0;
  for (unsigned w = 0; w < 2; ++w)
    workers[w].chain->set_strike_forwarding(
        w, 2,
        [&workers, &posts](unsigned home, const sbc::SourceKey& key, std::string_view stage,
                           policy::BanScope scope) {
          ++posts;
          workers[home].chain->strike(key, stage, workers[home].now, scope);
        });
  // The fleet hears the drops of every worker, a batch at a time.
  unsigned shared_drops = 0;
  for (Runner& w : workers)
    w.chain->set_strike_sharing([&shared_drops](const policy::FleetStrike& strike) {
      CHECK(strike.stage == "rate_limit");
      CHECK(strike.reason == "drops");
      CHECK(strike.scope == policy::BanScope::Udp);
      CHECK(strike.limit == 20);
      shared_drops += strike.weight;
    });
  // The flooder's ports land on both workers: one request passes on each, then ten drops each.
  for (int i = 0; i < 11; ++i)
    for (Runner& w : workers) (void)w.run("192.0.2.70", request("REGISTER"));
  CHECK(shared_drops == 20);  // four batches of five, each shared once
  // Twenty drops in all: the home worker banned the source (the daemon tells the other); over
  // UDP only, the datagrams' source addresses being unverified.
  const auto key = *sbc::source_key("192.0.2.70", 64);
  const unsigned home = static_cast<unsigned>(key.hash() % 2);
  CHECK(workers[home].chain->bans().banned(key, workers[home].now, true));
  CHECK_FALSE(workers[home].chain->bans().banned(key, workers[home].now, false));
  CHECK_FALSE(workers[1 - home].chain->bans().banned(key, workers[1 - home].now, true));
  CHECK(posts == 2);  // ten drops elsewhere: two batches of five, not ten posts
  // strike_batch 0: every worker counts alone (ten drops each, no ban).
  config.rate_limit.strike_batch = 0;
  Runner alone[] = {Runner(config, 0), Runner(config, 1)};
  for (unsigned w = 0; w < 2; ++w)
    alone[w].chain->set_strike_forwarding(w, 2,
                                          [&alone](unsigned to, const sbc::SourceKey& k,
                                                   std::string_view stage, policy::BanScope scope) {
                                            alone[to].chain->strike(k, stage, alone[to].now, scope);
                                          });
  for (int i = 0; i < 11; ++i)
    for (Runner& w : alone) (void)w.run("192.0.2.70", request("REGISTER"));
  CHECK_FALSE(alone[home].chain->bans().banned(key, alone[home].now, true));
}

TEST_CASE("policy: a listener's own ACL applies to what arrives on it", "[policy]") {
  policy::PolicyConfig config = config_with({"acl"});
  policy::ListenerAcl trunks;
  trunks.port = 5080;
  trunks.allow = {*sbc::parse_cidr("203.0.113.0/24")};
  config.acl.listeners = {trunks};
  const auto chain = policy::make_chain(config);
  auto m = std::make_unique<sip::Message>();
  const std::string bytes = request("INVITE");
  REQUIRE(m->parse(bytes, sip::Framing::Datagram, {}).is_valid());
  auto run = [&](std::string_view ip, std::uint16_t local_port, std::uint16_t listener_port = 0) {
    sbc::FlowInfo flow = from(ip);
    flow.local_port = local_port;
    flow.listener_port = listener_port;
    REQUIRE(chain->admit(flow, policy::TimePoint(1000s)));
    return chain->decide(*m).decision.kind;
  };
  CHECK(run("203.0.113.9", 5080) == Decision::Kind::Continue);   // a trunk on the trunk port
  CHECK(run("198.51.100.9", 5080) == Decision::Kind::Drop);      // anyone else there
  CHECK(run("198.51.100.9", 5061) == Decision::Kind::Continue);  // but fine on the other ports
  // A listener that advertises another port (a NodePort) is still the listener it is bound as.
  CHECK(run("198.51.100.9", 30080, 5080) == Decision::Kind::Drop);
  CHECK(run("198.51.100.9", 5080, 30080) == Decision::Kind::Continue);
}

TEST_CASE("policy: a global bucket holds against a flood spread over many sources", "[policy]") {
  policy::PolicyConfig config = config_with({"rate_limit"});
  config.rate_limit.global_invite = {10, 20};
  config.rate_limit.workers = 2;  // this worker's share: 5 a second, 10 at once
  Runner r(config);
  int passed = 0;
  for (int i = 0; i < 100; ++i)
    if (r.run("192.0.2." + std::to_string(i + 1), request("INVITE")) == "continue") ++passed;
  CHECK(passed == 10);
  CHECK(r.chain->decisions(0, policy::RateLimitStage::kGlobal).value() == 90);
  r.now += 2s;  // refills 10
  passed = 0;
  for (int i = 0; i < 100; ++i)
    if (r.run("198.51.100." + std::to_string(i + 1), request("INVITE")) == "continue") ++passed;
  CHECK(passed == 10);
  CHECK(r.run("192.0.2.1", request("INVITE")) != "banned");  // nobody is banned for it
  // Three replicas in the fleet (the store's count): a third of the worker's share each.
  std::atomic<unsigned> replicas{3};
  config.rate_limit.replicas = &replicas;
  Runner fleet(config);
  passed = 0;
  for (int i = 0; i < 100; ++i)
    if (fleet.run("203.0.113." + std::to_string(i + 1), request("INVITE")) == "continue") ++passed;
  CHECK(passed == 3);  // burst 20 / (2 workers x 3 replicas), rounded down
  replicas = 1;        // the others left: the whole worker's share again, after the refill
  fleet.now += 2s;
  passed = 0;
  for (int i = 0; i < 100; ++i)
    if (fleet.run("198.18.0." + std::to_string(i + 1), request("INVITE")) == "continue") ++passed;
  CHECK(passed == 10);
}

TEST_CASE("policy: requests that failed validation reach only what is reliable in them",
          "[policy]") {
  // An invalid request's typed fields (Request-URI, To ...) may still describe the message
  // parsed before it: stages that read them skip it (the fuzzer found a stale read here).
  policy::PolicyConfig config = config_with({"scanner", "sips", "methods"});
  config.scanner.max_users_per_window = 1;
  config.methods.allowed = {"REGISTER"};
  const auto chain = policy::make_chain(config);
  auto m = std::make_unique<sip::Message>();
  for (int user = 0; user < 5; ++user) {
    std::string bytes = request("INVITE");
    bytes.replace(bytes.find("sip:bob@"), 8, "sips:u" + std::to_string(user) + "@");
    bytes.replace(bytes.find("Max-Forwards: 70"), 16, "Max-Forwards: x");  // invalid
    REQUIRE_FALSE(m->parse(bytes, sip::Framing::Datagram, {}).is_valid());
    const sbc::FlowInfo flow = from("192.0.2.40");  // the chain keeps a pointer to it
    REQUIRE(chain->admit(flow, policy::TimePoint(1000s)));
    CHECK(chain->decide(*m, /*valid=*/false).decision.proceeds());
  }
}
