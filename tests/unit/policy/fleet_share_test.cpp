// Buckets the fleet shares (policy/fleet_share.hpp): a source or a user drained on several
// workers of the fleet is held to its share on each.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/unit/policy/chain_runner.hpp"

using namespace policy_tests;

namespace {

int passed(Runner& r, std::string_view ip, std::string_view method, int tries) {
  int n = 0;
  for (int i = 0; i < tries; ++i)
    if (r.run(ip, request(method)) == "continue") ++n;
  return n;
}

// A chain with one rate limit ("other": 10 a second, 30 at once; no bans) whose reports to the
// fleet are kept.
struct Reporting : Runner {
  std::vector<policy::HeavyUse> reports;
  Reporting() : Runner(config()) {
    chain->set_heavy_reporting([this](const policy::HeavyUse& use) { reports.push_back(use); });
  }
  static policy::PolicyConfig config() {
    policy::PolicyConfig c = config_with({"rate_limit"});
    c.rate_limit.others = {10, 30};
    c.rate_limit.ban_after = 0;
    return c;
  }
};

}  // namespace

TEST_CASE("fleet share: a drained bucket is reported once a second, then held to its share",
          "[policy][fleet]") {
  Reporting r;
  const std::vector<policy::HeavyUse>& reports = r.reports;
  // A steady client well within its bucket is never reported.
  for (int i = 0; i < 20; ++i) {
    CHECK(r.run("192.0.2.10", request("OPTIONS")) == "continue");
    r.now += 200ms;
  }
  CHECK(reports.empty());
  // One that drains it below half is, once (not once per request within the second).
  CHECK(passed(r, "192.0.2.20", "OPTIONS", 40) == 30);
  REQUIRE(reports.size() == 1);
  const auto key = *sbc::source_key("192.0.2.20", 64);
  CHECK(reports[0].key == key);
  CHECK(reports[0].stage == "rate_limit");
  CHECK(reports[0].bucket == 2);                     // the class of everything else
  CHECK(reports[0].scope == policy::BanScope::Udp);  // datagrams: forgeable evidence
  // The fleet says three workers drain it: a third of the burst and the rate here.
  r.chain->spread(reports[0], 3, r.now);
  CHECK(passed(r, "192.0.2.20", "OPTIONS", 20) == 0);
  r.now += 1s;  // 10 a second / 3
  CHECK(passed(r, "192.0.2.20", "OPTIONS", 20) == 3);
  CHECK(reports.size() == 2);  // still drained a second later: reported again
  // The word goes stale unless renewed: the whole limit again.
  r.now += 3s;
  CHECK(passed(r, "192.0.2.20", "OPTIONS", 40) == 30);
  // The fleet's word about a source this worker never met creates nothing here.
  policy::HeavyUse stranger = reports[0];
  stranger.key = *sbc::source_key("192.0.2.99", 64);
  r.chain->spread(stranger, 5, r.now);
  CHECK(passed(r, "192.0.2.99", "OPTIONS", 40) == 30);
}

TEST_CASE("fleet share: word on forged evidence divides only what comes by datagram",
          "[policy][fleet]") {
  Reporting r;
  const std::vector<policy::HeavyUse>& reports = r.reports;
  // The victim talks TCP here; an attacker forging its address drains its buckets elsewhere
  // over UDP, and the fleet says so (scope udp).
  r.protocol = sbc::Protocol::Tcp;
  CHECK(passed(r, "192.0.2.30", "OPTIONS", 5) == 5);
  r.chain->spread({*sbc::source_key("192.0.2.30", 64), "rate_limit", 2, policy::BanScope::Udp}, 8,
                  r.now);
  CHECK(passed(r, "192.0.2.30", "OPTIONS", 25) == 25);  // its whole burst over TCP
  CHECK(reports.size() == 1);
  CHECK(reports[0].scope == policy::BanScope::All);
  // Over UDP the same source is held to an eighth.
  r.protocol = sbc::Protocol::Udp;
  r.now += 10s;
  CHECK(passed(r, "192.0.2.30", "OPTIONS", 30) == 30);  // stale word: whole bucket again
  r.chain->spread({*sbc::source_key("192.0.2.30", 64), "rate_limit", 2, policy::BanScope::Udp}, 8,
                  r.now);
  r.now += 1s;
  CHECK(passed(r, "192.0.2.30", "OPTIONS", 30) == 1);  // 10/8 a second
  // Verified word divides both.
  r.chain->spread({*sbc::source_key("192.0.2.30", 64), "rate_limit", 2, policy::BanScope::All}, 2,
                  r.now);
  r.protocol = sbc::Protocol::Tcp;
  r.now += 1s;
  CHECK(passed(r, "192.0.2.30", "OPTIONS", 30) == 5);  // 10/2 a second
}
