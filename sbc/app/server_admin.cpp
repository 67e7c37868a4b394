#include <arpa/inet.h>

#include <chrono>

#include "sbc/app/server.hpp"
#include "sbc/common/address.hpp"

// The Server's answers to the admin API: bans and cores, read on a worker's own thread (no
// lock, as everything the workers own).

namespace sbc::app {
namespace {

// A ban's key as text: an IPv4 address, or an IPv6 address cut to the policy's prefix.
std::string source_text(const sbc::SourceKey& key, unsigned ipv6_prefix) {
  char text[INET6_ADDRSTRLEN] = {};
  const auto& b = key.bytes;
  const bool v4 = std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t x) { return x == 0; }) &&
                  b[10] == 0xff && b[11] == 0xff;
  if (v4) {
    inet_ntop(AF_INET, b.data() + 12, text, sizeof text);
    return text;
  }
  inet_ntop(AF_INET6, b.data(), text, sizeof text);
  std::string out(text);
  if (ipv6_prefix < 128) out.append("/").append(std::to_string(ipv6_prefix));
  return out;
}

}  // namespace

void Server::list_bans(std::function<void(std::vector<BanView>)> done) {
  const unsigned prefix = config_.policy.settings.ipv6_prefix;
  transport::Worker& worker = *workers_[0];
  worker.post([&worker, prefix, done = std::move(done)] {
    std::vector<BanView> bans;
    const auto now = std::chrono::steady_clock::now();
    if (policy::Chain* chain = worker.handler().policy())
      chain->bans().for_each_active(
          now, [&](const sbc::SourceKey& key, const policy::BanRecord& ban) {
            using std::chrono::duration_cast, std::chrono::seconds;
            bans.push_back({source_text(key, prefix),
                            ban.scope == policy::BanScope::All ? "all" : "udp",
                            duration_cast<seconds>(ban.until - now).count() + 1,
                            std::string(ban.cause.stage), std::string(ban.cause.reason),
                            duration_cast<seconds>(now - ban.since).count(), ban.offences});
          });
    done(std::move(bans));
  });
}

bool Server::lift_ban(std::string_view source, const std::function<void(bool)>& done) {
  const auto key = sbc::source_key(source, config_.policy.settings.ipv6_prefix);
  if (!key) return false;
  for (unsigned w = 0; w < count_; ++w) {
    transport::Worker& worker = *workers_[w];
    worker.post([&worker, key = *key, done = w == 0 ? done : nullptr] {
      bool lifted = false;
      if (policy::Chain* chain = worker.handler().policy())
        lifted = chain->bans().lift(key, std::chrono::steady_clock::now());
      if (done) done(lifted);
    });
  }
  return true;
}

void Server::list_cores(std::function<void(std::vector<CoreView>)> done) {
  if (relays_.empty()) return done({});
  // Worker 0 describes the cores; then each worker in turn adds its counts and transactions in
  // flight, handing the list on (no lock: one worker holds it at a time).
  workers_[0]->post([this, done = std::move(done)]() mutable {
    std::vector<CoreView> cores;
    const proxy::CoreSet& set = relays_[0]->cores();
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < set.size(); ++i) {
      const proxy::CoreTarget& t = set.target(i);
      const auto probe = set.probe_times(i);
      CoreView view{core_uri(t), t.name, set.active(i), set.stats(i).up.load(), set.drained(i)};
      if (probe.answered != proxy::CoreSet::TimePoint{}) {
        view.last_probe_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - probe.answered).count();
        view.probe_rtt_ms = static_cast<double>(probe.round_trip.count()) / 1000.0;
      }
      cores.push_back(std::move(view));
    }
    add_core_counts(0, std::move(cores), std::move(done));
  });
}

// Worker w's counts into `cores`, on its thread; then the next worker's, or `done`.
void Server::add_core_counts(unsigned w, std::vector<CoreView> cores,
                             std::function<void(std::vector<CoreView>)> done) {
  const proxy::Relay& relay = *relays_[w];
  const auto in_flight = relay.in_flight_by_core();
  for (std::size_t i = 0; i < cores.size() && i < relay.cores().size(); ++i) {
    const proxy::CoreStats& s = relay.cores().stats(i);
    cores[i].requests += s.requests.value();
    cores[i].failures += s.failures.value();
    cores[i].probes += s.probes.value();
    cores[i].in_flight += in_flight[i];
  }
  if (w + 1 == count_) return done(std::move(cores));
  workers_[w + 1]->post([this, w, cores = std::move(cores), done = std::move(done)]() mutable {
    add_core_counts(w + 1, std::move(cores), std::move(done));
  });
}

void Server::set_core_drained(std::string_view which, bool drained,
                              const std::function<void(std::size_t)>& done) {
  if (relays_.empty()) return done(0);
  // A URI as `cores` shows it, the DNS name of a core (all its addresses), or IP:PORT.
  auto names = [which = std::string(which)](const proxy::CoreTarget& t) {
    const std::string address = sbc::host_for_uri(t.ip) + ":" + std::to_string(t.port);
    return which == core_uri(t) || (!t.name.empty() && which == t.name) || which == address;
  };
  for (unsigned w = 0; w < count_; ++w) {
    proxy::Relay& relay = *relays_[w];
    workers_[w]->post([&relay, names, drained, done = w == 0 ? done : nullptr] {
      const std::size_t named = relay.set_drained(names, drained);
      if (done) done(named);
    });
  }
}

}  // namespace sbc::app
