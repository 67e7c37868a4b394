#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>

#include "sbc/app/metric_families.hpp"
#include "sbc/app/server.hpp"
#include "sbc/common/address.hpp"

// The fleet (cluster.redis): bans, verified authentication failures and drained buckets shared
// with the other replicas through the store's thread (sbc/cluster/fleet_store.hpp). What the fleet
// says reaches the workers by posts to their threads, as a ban from another worker does: the
// message path never waits for the store.

namespace sbc::app {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;
using std::chrono::system_clock;

std::int64_t to_wall_ms(steady_clock::time_point t) {
  const auto offset = t - steady_clock::now();
  return std::chrono::duration_cast<milliseconds>(
             (system_clock::now() + std::chrono::duration_cast<system_clock::duration>(offset))
                 .time_since_epoch())
      .count();
}

steady_clock::time_point from_wall_ms(std::int64_t ms) {
  const auto wall = system_clock::time_point(milliseconds(ms));
  return steady_clock::now() +
         std::chrono::duration_cast<steady_clock::duration>(wall - system_clock::now());
}

// A ban's cause names a stage and a reason by views that live as long as the program; those of
// other replicas are kept here (labels of at most 32 characters; at most 256 of them, beyond
// which a ban shows "other" for them).
std::string_view intern(std::string_view label) {
  static std::mutex mutex;
  static std::set<std::string, std::less<>> labels;
  const std::lock_guard lock(mutex);
  if (const auto it = labels.find(label); it != labels.end()) return *it;
  if (labels.size() >= 256) return "other";
  return *labels.emplace(label).first;
}

}  // namespace

void Server::make_fleet() {
  if (!config_.cluster.enabled()) return;
  cluster::FleetStore::Handlers handlers;
  handlers.ban = [this](const cluster::FleetBan& ban) { fleet_ban(ban); };
  handlers.unban = [this](const sbc::Cidr& block) { lift_bans(block, [](std::size_t) {}); };
  handlers.strikes_exceeded = [this](const sbc::SourceKey& key, std::string_view stage,
                                     std::string_view reason, bool all) {
    fleet_strikes(key, {stage, reason}, all);
  };
  handlers.spread = [this](const cluster::FleetStore::Heavy& heavy, unsigned takers) {
    policies_->spread({heavy.key, heavy.stage, static_cast<std::uint8_t>(heavy.bucket),
                       heavy.all ? policy::BanScope::All : policy::BanScope::Udp},
                      takers);
  };
  fleet_ = std::make_unique<cluster::FleetStore>(config_.cluster, std::move(handlers), log_);
  cluster::FleetStore& fleet = *fleet_;
  policies_->set_fleet_hooks({[&fleet](const sbc::SourceKey& key, const policy::BanRecord& ban) {
                                cluster::FleetBan out{key,
                                                      ban.scope == policy::BanScope::All,
                                                      to_wall_ms(ban.until),
                                                      to_wall_ms(ban.since),
                                                      ban.offences,
                                                      std::string(ban.cause.stage),
                                                      std::string(ban.cause.reason),
                                                      0};
                                fleet.publish_ban(std::move(out));
                              },
                              [&fleet](const policy::FleetStrike& s) {
                                fleet.count_strike({s.source, s.stage, s.reason,
                                                    s.scope == policy::BanScope::All, s.weight,
                                                    s.limit, s.window});
                              },
                              [&fleet](unsigned worker, const policy::HeavyUse& use) {
                                fleet.report_heavy({use.key, use.stage, use.bucket,
                                                    use.scope == policy::BanScope::All, worker});
                              },
                              &fleet.replicas()});
}

bool Server::start_fleet() {
  if (!fleet_) return true;
  fleet_->start();
  const cluster::FleetSettings& store = config_.cluster;
  if (sbc::parse_address(store.host)) return true;
  // A name (a Kubernetes Service, say): resolved on a thread of its own, as core names are;
  // the store connects to its first address and follows it when it changes.
  try {
    store_resolver_ = std::make_unique<dns::Resolver>(
        config_.dns, std::vector<dns::Name>{{store.host, store.port, sbc::Protocol::Tcp}},
        [this](std::size_t, const std::vector<dns::Address>& addresses) {
          if (!addresses.empty()) fleet_->retarget(addresses.front().ip);
        },
        [this](std::string_view level, const std::string& line) { log_(level, line); });
  } catch (const std::runtime_error& e) {
    log_("error", e.what());
    return false;
  }
  store_resolver_->start();
  return true;
}

// A ban another replica decided (or one loaded from the store): imposed on every worker, as a
// ban of another worker is.
void Server::fleet_ban(const cluster::FleetBan& ban) {
  const policy::BanRecord record{from_wall_ms(ban.until_ms),
                                 ban.all ? policy::BanScope::All : policy::BanScope::Udp,
                                 {intern(ban.stage), intern(ban.reason)},
                                 from_wall_ms(ban.since_ms),
                                 ban.offences};
  policies_->impose(ban.key, record);
}

// The fleet counted enough strikes of `key` (failed authentications, flood drops) to ban it:
// banned here over the scope their evidence allowed, which every worker and replica then hears.
void Server::fleet_strikes(const sbc::SourceKey& key, policy::BanCause cause, bool all) {
  transport::Worker& worker = *workers_[key.hash() % count_];
  worker.post([&worker, key, cause, all] {
    if (policy::Chain* chain = worker.handler().policy())
      chain->bans().ban(key, steady_clock::now(),
                        all ? policy::BanScope::All : policy::BanScope::Udp, cause);
  });
}

void Server::share_unban(std::string_view block) {
  if (fleet_) fleet_->publish_unban(std::string(block));
}

void Server::add_cluster_families(std::vector<metrics::Family>& families) const {
  if (!fleet_) return;
  families.push_back(gauge("sbc_cluster_store_up",
                           "1 while the replicas' shared store (cluster.redis) is connected and "
                           "in sync; 0 while this replica decides with its local state alone.",
                           fleet_->up() ? 1 : 0));
  families.push_back(gauge("sbc_cluster_sync_lag_seconds",
                           "Seconds since the shared store last answered this replica (pinged "
                           "every second while up).",
                           fleet_->sync_lag_seconds()));
  families.push_back(gauge("sbc_cluster_replicas",
                           "Replicas that announced themselves to the shared store within 3 s, "
                           "this one included (the global rate limits are split among them).",
                           fleet_->replicas().load(std::memory_order_relaxed)));
  const auto counts = fleet_->counts();
  families.push_back(
      {"sbc_cluster_updates_total",
       "Updates exchanged with the shared store, by result (written: taken by the store; failed: "
       "refused by it, or a drained-bucket report lost with it; dropped: the queue to it was "
       "full, or over this replica's budget of 200 bans and 500 drained-bucket reports a "
       "second; received: bans and lifts from other replicas, and bans loaded on "
       "(re)connecting).",
       metrics::Family::Type::Counter,
       {{{{"result", "written"}}, static_cast<double>(counts.written)},
        {{{"result", "failed"}}, static_cast<double>(counts.failed)},
        {{{"result", "dropped"}}, static_cast<double>(counts.dropped)},
        {{{"result", "received"}}, static_cast<double>(counts.received)}}});
}

}  // namespace sbc::app
