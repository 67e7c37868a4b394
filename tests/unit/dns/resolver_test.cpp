// The resolver thread end to end without a DNS server of the test's own: a name from /etc/hosts
// (c-ares may answer it within the call) and a name whose DNS server refuses (a failure counted,
// no change reported). The SRV path against a real DNS server: tests/integration/dns_test.sh.
#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "sbc/dns/resolver.hpp"

using namespace sbc::dns;

namespace {
struct Seen {
  std::mutex mutex;
  std::condition_variable changed;
  std::vector<std::vector<Address>> answers;
  std::vector<std::string> lines;
};

Settings quick() {
  Settings s;
  s.servers = {"127.0.0.1:1"};  // nothing listens there: every DNS query is refused
  s.min_ttl = std::chrono::seconds{1};
  s.timeout = std::chrono::milliseconds{200};
  return s;
}
}  // namespace

TEST_CASE("a name from /etc/hosts resolves to its addresses on the given port", "[dns]") {
  Seen seen;
  Resolver resolver(
      quick(), {Name{"localhost", 5080, sbc::Protocol::Udp, 3, 7}},
      [&](std::size_t name, const std::vector<Address>& addresses) {
        std::lock_guard lock(seen.mutex);
        CHECK(name == 0);
        seen.answers.push_back(addresses);
        seen.changed.notify_all();
      },
      [&](std::string_view, const std::string& line) {
        std::lock_guard lock(seen.mutex);
        seen.lines.push_back(line);
      });
  resolver.start();
  std::unique_lock lock(seen.mutex);
  REQUIRE(
      seen.changed.wait_for(lock, std::chrono::seconds{5}, [&] { return !seen.answers.empty(); }));
  const std::vector<Address>& first = seen.answers.front();
  REQUIRE_FALSE(first.empty());
  bool loopback = false;
  for (const Address& a : first) {
    CHECK(a.port == 5080);
    CHECK(a.priority == 3);
    CHECK(a.weight == 7);
    loopback = loopback || a.ip == "127.0.0.1" || a.ip == "::1";
  }
  CHECK(loopback);
  CHECK(resolver.stats().results[static_cast<std::size_t>(Result::Ok)].load() >= 1);
  CHECK(resolver.stats().unresolved.load() == 0);
  // Refreshed every second (min_ttl: /etc/hosts has no TTL), the same answer is not reported again.
  lock.unlock();
  std::this_thread::sleep_for(std::chrono::milliseconds{2500});
  lock.lock();
  CHECK(seen.answers.size() == 1);
  CHECK(resolver.stats().results[static_cast<std::size_t>(Result::Ok)].load() >= 2);
}

TEST_CASE("a name no DNS server answers for is counted, logged once, and reports nothing",
          "[dns]") {
  Seen seen;
  Resolver resolver(
      quick(), {Name{"core.sbc-test.invalid", 0, sbc::Protocol::Tcp}},
      [&](std::size_t, const std::vector<Address>& addresses) {
        std::lock_guard lock(seen.mutex);
        seen.answers.push_back(addresses);
      },
      [&](std::string_view, const std::string& line) {
        std::lock_guard lock(seen.mutex);
        seen.lines.push_back(line);
      });
  resolver.start();
  const auto failed = [&] {
    std::uint64_t n = 0;
    for (std::size_t r = 1; r < kResultNames.size(); ++r) n += resolver.stats().results[r].load();
    return n;
  };
  for (int i = 0; i < 100 && failed() < 2; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds{50});
  resolver.stop();
  CHECK(failed() >= 2);  // tried again after min_ttl
  std::lock_guard lock(seen.mutex);
  CHECK(seen.answers.empty());
  CHECK(resolver.stats().unresolved.load() == 1);
  REQUIRE(seen.lines.size() == 1);  // once per failure streak
  CHECK(seen.lines.front().find("core name core.sbc-test.invalid did not resolve") == 0);
}
