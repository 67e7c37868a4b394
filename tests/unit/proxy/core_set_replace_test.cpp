// CoreSet::replace: the set of cores changing while running (cores by DNS name).
#include <catch2/catch.hpp>

#include <algorithm>

#include "sbc/proxy/core_set.hpp"

using sbc::proxy::CoreSet;
using sbc::proxy::CoreTarget;
using Clock = std::chrono::steady_clock;

namespace {
CoreTarget core(const char* ip, std::uint16_t port = 5060, unsigned priority = 1) {
  CoreTarget t;
  t.ip = ip;
  t.port = port;
  t.priority = priority;
  return t;
}
std::vector<std::size_t> chosen(CoreSet& set, Clock::time_point now, int n) {
  std::vector<std::size_t> out;
  for (int i = 0; i < n; ++i)
    if (const auto c = set.choose(0, now)) out.push_back(*c);
  return out;
}
}  // namespace

TEST_CASE("a core that stays keeps its index and health, new ones take free indexes",
          "[relay][cores]") {
  const auto t0 = Clock::now();
  CoreSet set({core("192.0.2.1"), core("192.0.2.2")}, std::chrono::milliseconds{0});
  set.failed(1, t0, "no answer to a request");  // down for the hold time
  set.stats(1).requests.inc();
  CHECK(set.replace({core("192.0.2.2"), core("192.0.2.3")}, t0, std::chrono::minutes{10}) == 0);
  REQUIRE(set.size() == 3);
  // 192.0.2.1 retired: never chosen, still found for its transactions in flight.
  CHECK_FALSE(set.active(0));
  CHECK(set.find("192.0.2.1", 5060) == std::optional<std::size_t>{0});
  CHECK_FALSE(set.stats(0).active.load());
  // 192.0.2.2 kept index 1, its counters and its failure.
  CHECK(set.active(1));
  CHECK(set.target(1).ip == "192.0.2.2");
  CHECK(set.stats(1).requests.value() == 1);
  CHECK_FALSE(set.stats(1).up.load());
  // The new one took index 2 and is the only usable core.
  CHECK(set.target(2).ip == "192.0.2.3");
  CHECK(chosen(set, t0, 4) == std::vector<std::size_t>{2, 2, 2, 2});
  CHECK(set.any_up());
}

TEST_CASE("a retired index is reused only after reuse_after, a core that comes back has it again",
          "[relay][cores]") {
  const auto t0 = Clock::now();
  const std::chrono::minutes reuse{10};
  CoreSet set({core("192.0.2.1"), core("192.0.2.2")}, std::chrono::milliseconds{0});
  set.replace({core("192.0.2.2")}, t0, reuse);
  // Soon after: a new core does not take retired index 0.
  set.replace({core("192.0.2.2"), core("192.0.2.9")}, t0 + std::chrono::seconds{1}, reuse);
  CHECK(set.size() == 3);
  CHECK(set.target(2).ip == "192.0.2.9");
  CHECK(set.target(0).ip == "192.0.2.1");
  // The retired core comes back: same index, active again, usable.
  set.replace({core("192.0.2.1"), core("192.0.2.2"), core("192.0.2.9")},
              t0 + std::chrono::seconds{2}, reuse);
  CHECK(set.size() == 3);
  CHECK(set.active(0));
  CHECK(set.stats(0).active.load());
  // Retired long enough: its index goes to the next new core.
  set.replace({core("192.0.2.2")}, t0 + std::chrono::seconds{3}, reuse);
  set.replace({core("192.0.2.2"), core("192.0.2.7")}, t0 + std::chrono::minutes{11}, reuse);
  CHECK(set.size() == 3);
  CHECK(set.target(0).ip == "192.0.2.7");
  CHECK(set.active(0));
  CHECK_FALSE(set.active(2));
}

TEST_CASE("replace keeps priorities current, ignores duplicates and counts what does not fit",
          "[relay][cores]") {
  const auto t0 = Clock::now();
  CoreSet set({}, std::chrono::milliseconds{0});
  CHECK(set.size() == 0);
  CHECK_FALSE(set.choose(0, t0));  // no core yet (a name not resolved): 503 upstream
  CHECK_FALSE(set.any_up());
  set.replace({core("192.0.2.1", 5060, 2), core("192.0.2.2", 5060, 1), core("192.0.2.2", 5060, 1)},
              t0, std::chrono::minutes{10});
  CHECK(set.size() == 2);
  CHECK(chosen(set, t0, 2) == std::vector<std::size_t>{1, 1});
  // New priorities from the next answer (SRV records changed).
  set.replace({core("192.0.2.1", 5060, 1), core("192.0.2.2", 5060, 2)}, t0,
              std::chrono::minutes{10});
  CHECK(chosen(set, t0, 2) == std::vector<std::size_t>{0, 0});
  // Another port or transport is another core.
  CoreTarget tcp = core("192.0.2.1");
  tcp.protocol = sbc::Protocol::Tcp;
  set.replace({core("192.0.2.1", 5060, 1), tcp}, t0, std::chrono::minutes{10});
  CHECK(set.size() == 3);
  // At most kMaxCores: the rest are counted. The two cores this retires keep their indexes (not
  // reusable yet); 192.0.2.2, retired an hour before, gives its index: 62 fit, 8 do not.
  std::vector<CoreTarget> many;
  for (unsigned i = 0; i < CoreSet::kMaxCores + 6; ++i) {
    many.push_back(core("198.51.100.1", static_cast<std::uint16_t>(6000 + i)));
  }
  CHECK(set.replace(many, t0 + std::chrono::hours{1}, std::chrono::minutes{10}) == 8);
  CHECK(set.size() == CoreSet::kMaxCores);
}

TEST_CASE("probes skip retired cores, and their late answers are ignored", "[relay][cores]") {
  const auto t0 = Clock::now();
  CoreSet set({core("192.0.2.1"), core("192.0.2.2")}, std::chrono::milliseconds{1000});
  CHECK(set.probes_due(t0) == 0b11);
  const std::uint64_t nonce0 = set.probe_nonce(0);
  set.replace({core("192.0.2.2")}, t0, std::chrono::minutes{10});
  CHECK_FALSE(set.probe_answered(0, nonce0, false));
  CHECK(set.probes_due(t0 + std::chrono::seconds{1}) == 0b10);
}

TEST_CASE("a drained core gets no new request, is still found and probed, and comes back",
          "[relay][cores]") {
  const auto t0 = Clock::now();
  CoreSet set({core("192.0.2.1"), core("192.0.2.2")}, std::chrono::milliseconds{1000});
  set.set_drained(0, true);
  CHECK(set.drained(0));
  CHECK(set.stats(0).drained.load());
  CHECK(chosen(set, t0, 4) == std::vector<std::size_t>{1, 1, 1, 1});
  // Its transactions in flight still find it, and it is still probed (known up or down).
  CHECK(set.find("192.0.2.1", 5060) == std::optional<std::size_t>{0});
  CHECK((set.probes_due(t0) & 1u) == 1u);
  // The drain survives a new set that keeps the core.
  set.replace({core("192.0.2.1"), core("192.0.2.2"), core("192.0.2.3")}, t0,
              std::chrono::minutes{10});
  CHECK(set.drained(0));
  const std::vector<std::size_t> picks = chosen(set, t0, 6);
  CHECK(std::count(picks.begin(), picks.end(), 0u) == 0);
  CHECK(picks.size() == 6);
  // With every core drained, nothing is chosen (the relay answers 503).
  set.set_drained(1, true);
  set.set_drained(2, true);
  CHECK_FALSE(set.choose(0, t0));
  set.set_drained(0, false);
  CHECK_FALSE(set.stats(0).drained.load());
  CHECK(chosen(set, t0, 3) == std::vector<std::size_t>{0, 0, 0});
}

TEST_CASE("a core added to the set is probed from the next round", "[relay][cores]") {
  const auto t0 = Clock::now();
  CoreSet set({core("192.0.2.1")}, std::chrono::milliseconds{1000});
  CHECK(set.probes_due(t0) == 1u);
  set.replace({core("192.0.2.1"), core("192.0.2.2")}, t0, std::chrono::minutes{10});
  CHECK(set.probes_due(t0 + std::chrono::seconds{1}) == 3u);
  CHECK(set.stats(1).probes.value() == 1);
}
