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
  const proxy::Relay& relay = *relays_[0];
  workers_[0]->post([&relay, done = std::move(done)] {
    std::vector<CoreView> cores;
    const proxy::CoreSet& set = relay.cores();
    for (std::size_t i = 0; i < set.size(); ++i) {
      const proxy::CoreTarget& t = set.target(i);
      const proxy::CoreStats& s = set.stats(i);
      cores.push_back({core_uri(t), t.name, set.active(i), s.up.load(), set.drained(i),
                       s.requests.value(), s.failures.value(), s.probes.value()});
    }
    done(std::move(cores));
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
