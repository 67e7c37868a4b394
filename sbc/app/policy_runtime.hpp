#pragma once
// The workers' policy chains and their reload (SIGHUP). Each worker owns one chain and runs it
// on its own thread; a reload builds new chains on the control thread and hands each to its
// worker, which swaps it in between two messages: requests already relayed finish as they are
// (the policies only decide at admission), new ones meet the new policy. Bans carry over to the
// new chains (a reload is no amnesty); rate buckets, nonce counts and other per-source tables
// start afresh (new nonces are only accepted if issued after the reload). The counters of
// retired chains are kept, so the exported totals never go down.

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "metrics/exposition.hpp"
#include "policy/chain.hpp"
#include "policy/policy_config.hpp"

namespace sbc::transport {
class Worker;
}
namespace sbc::proxy {
class Relay;
}

namespace sbc::app {

class PolicyRuntime {
 public:
  explicit PolicyRuntime(std::vector<std::unique_ptr<transport::Worker>>& workers);
  ~PolicyRuntime();
  PolicyRuntime(const PolicyRuntime&) = delete;
  PolicyRuntime& operator=(const PolicyRuntime&) = delete;

  // What the fleet hears (the replicas' shared store, fleet_store.hpp), from the workers'
  // threads: every ban decided here, and every verified strike the home worker counted. Set
  // before install().
  struct FleetHooks {
    std::function<void(const sbc::SourceKey&, const policy::BanRecord&)> ban;
    policy::Chain::Sharer strike;
    // A bucket drained on worker `w` (policy/fleet_share.hpp).
    std::function<void(unsigned w, const policy::HeavyUse&)> heavy;
    const std::atomic<unsigned>* replicas = nullptr;  // the fleet's size, for global limits
  };
  void set_fleet_hooks(FleetHooks hooks) { fleet_ = std::move(hooks); }
  // A ban decided elsewhere (another worker, `except`; or another replica) imposed on every
  // worker but `except`, by a post to its thread.
  static constexpr unsigned kNoWorker = ~0U;
  void impose(const sbc::SourceKey& key, const policy::BanRecord& ban, unsigned except = kNoWorker);
  // The fleet's word that `takers` workers drain `use`'s bucket, posted to every worker.
  void spread(const policy::HeavyUse& use, unsigned takers);
  // The first chains, before the workers start.
  void install(const policy::PolicyConfig& config);
  // The relay of worker `w` reports the core's refusals to whatever chain that worker has.
  void attach_relay(unsigned w, proxy::Relay& relay);
  // On the control thread: new chains from `config`. `post_to_control` runs a function on the
  // control thread (where the old chains are retired once their worker has let go of them).
  // False while the previous reload is still being handed over (nothing changes then).
  bool reload(const policy::PolicyConfig& config,
              const std::function<void(std::function<void()>)>& post_to_control);
  const policy::PolicyConfig& config() const noexcept { return config_; }

  // For the scrape thread: sbc_policy_*, sbc_auth_* families.
  void add_families(std::vector<metrics::Family>& families);

 private:
  // The counters of chains, added up (those of retired chains are kept in one).
  struct Totals {
    std::map<std::pair<std::string, std::string>, double> decisions;  // (stage, reason)
    double banned_dropped = 0, bans = 0, bans_full = 0, auth_successes = 0, core_refusals = 0;
    void add(const policy::Chain& chain);
  };
  void set_ban_listener(unsigned w, policy::Chain& chain);
  policy::PolicyConfig for_workers(const policy::PolicyConfig& given) const;

  std::vector<std::unique_ptr<transport::Worker>>& workers_;
  FleetHooks fleet_;
  policy::PolicyConfig config_;
  std::mutex mutex_;  // the scrape against a reload; never taken on the message path
  std::vector<std::unique_ptr<policy::Chain>> chains_;   // what each worker runs (or will)
  std::vector<std::unique_ptr<policy::Chain>> pending_;  // handed over, not yet confirmed
  Totals retired_;
  unsigned handovers_ = 0;  // workers that have not confirmed the last reload (control thread)
};

}  // namespace sbc::app
