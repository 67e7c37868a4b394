#include "sbc/app/policy_runtime.hpp"

#include <algorithm>
#include <chrono>

#include "sbc/proxy/relay.hpp"
#include "sbc/transport/worker.hpp"

namespace sbc::app {

PolicyRuntime::PolicyRuntime(std::vector<std::unique_ptr<transport::Worker>>& workers)
    : workers_(workers), chains_(workers.size()), pending_(workers.size()) {}

PolicyRuntime::~PolicyRuntime() = default;

void PolicyRuntime::set_ban_listener(unsigned w, policy::Chain& chain) {
  if (fleet_.strike) chain.set_strike_sharing(fleet_.strike);
  if (fleet_.heavy)
    chain.set_heavy_reporting(
        [report = fleet_.heavy, w](const policy::HeavyUse& use) { report(w, use); });
  if (workers_.size() < 2 && !fleet_.ban) return;
  // Strikes (failed authentications) go to the source's home worker, whose count decides.
  auto forward = [this](unsigned home, const sbc::SourceKey& key, std::string_view stage,
                        policy::BanScope scope) {
    transport::Worker& worker = *workers_[home];
    // `stage` names a stage: a string literal, alive as long as the program.
    worker.post([&worker, key, stage, scope] {
      if (policy::Chain* current = worker.handler().policy())
        current->strike(key, stage, std::chrono::steady_clock::now(), scope);
    });
  };
  chain.set_strike_forwarding(w, static_cast<unsigned>(workers_.size()), forward);
  // A ban decided on one worker reaches the others by a post to their threads, where it goes
  // into whatever chain that worker runs then: no shared table, no lock on the message path.
  chain.bans().set_listener([this, w](const sbc::SourceKey& key, const policy::BanRecord& ban) {
    if (fleet_.ban) fleet_.ban(key, ban);
    impose(key, ban, w);
  });
}

void PolicyRuntime::impose(const sbc::SourceKey& key, const policy::BanRecord& ban,
                           unsigned except) {
  for (unsigned other = 0; other < workers_.size(); ++other) {
    if (other == except) continue;
    transport::Worker& worker = *workers_[other];
    worker.post([&worker, key, ban] {
      if (policy::Chain* current = worker.handler().policy())
        current->bans().impose(key, ban, std::chrono::steady_clock::now());
    });
  }
}

void PolicyRuntime::spread(const policy::HeavyUse& use, unsigned takers) {
  for (const auto& each : workers_) {
    transport::Worker& worker = *each;
    // `use.stage` names a stage: a string literal, alive as long as the program.
    worker.post([&worker, use, takers] {
      if (policy::Chain* current = worker.handler().policy())
        current->spread(use, takers, std::chrono::steady_clock::now());
    });
  }
}

// What the daemon adds to a configuration: the chains' view of the workers and the fleet.
policy::PolicyConfig PolicyRuntime::for_workers(const policy::PolicyConfig& given) const {
  policy::PolicyConfig config = given;
  config.rate_limit.workers = static_cast<unsigned>(workers_.size());
  config.rate_limit.replicas = fleet_.replicas;
  return config;
}

void PolicyRuntime::install(const policy::PolicyConfig& given) {
  const policy::PolicyConfig config = for_workers(given);
  config_ = config;
  for (unsigned w = 0; w < workers_.size(); ++w) {
    chains_[w] = policy::make_chain(config, w);
    if (chains_[w]) set_ban_listener(w, *chains_[w]);
    workers_[w]->handler().set_policy(chains_[w].get());
  }
}

void PolicyRuntime::attach_relay(unsigned w, proxy::Relay& relay) {
  transport::Worker& worker = *workers_[w];
  // Called on the worker's thread, by its relay: the chain is the one the worker runs now.
  relay.set_refusal_listener([&worker](std::string_view remote_ip, sbc::Protocol protocol) {
    if (policy::Chain* chain = worker.handler().policy())
      chain->core_refused(remote_ip, protocol, std::chrono::steady_clock::now());
  });
  relay.set_answer_listener([&worker](std::string_view remote_ip, std::uint16_t status) {
    if (policy::Chain* chain = worker.handler().policy())
      chain->core_answered(remote_ip, status, std::chrono::steady_clock::now());
  });
}

bool PolicyRuntime::reload(const policy::PolicyConfig& given,
                           const std::function<void(std::function<void()>)>& post_to_control) {
  const policy::PolicyConfig config = for_workers(given);
  // A chain handed over but not yet confirmed may be running: it must not be replaced.
  if (handovers_ != 0) return false;
  config_ = config;
  handovers_ = static_cast<unsigned>(workers_.size());
  for (unsigned w = 0; w < workers_.size(); ++w) {
    std::unique_ptr<policy::Chain> fresh = policy::make_chain(config, w);
    if (fresh) set_ban_listener(w, *fresh);
    policy::Chain* next = fresh.get();
    {
      const std::lock_guard lock(mutex_);
      pending_[w] = std::move(fresh);
    }
    transport::Worker& worker = *workers_[w];
    worker.post([this, &worker, w, next, post_to_control] {
      policy::Chain* old = worker.handler().policy();
      const auto now = std::chrono::steady_clock::now();
      if (old != nullptr && next != nullptr)
        old->bans().for_each_active(
            now, [next, now](const sbc::SourceKey& key, const policy::BanRecord& ban) {
              next->bans().impose(key, ban, now);
            });
      worker.handler().set_policy(next);
      // The worker has let go of `old`: retire it on the control thread.
      post_to_control([this, w] {
        const std::lock_guard lock(mutex_);
        if (chains_[w]) retired_.add(*chains_[w]);
        chains_[w] = std::move(pending_[w]);
        --handovers_;
      });
    });
  }
  return true;
}

void PolicyRuntime::Totals::add(const policy::Chain& chain) {
  const auto& stages = chain.stages();
  for (std::size_t i = 0; i < stages.size(); ++i)
    for (std::size_t r = 0; r < stages[i]->reasons().size(); ++r)
      decisions[{std::string(stages[i]->name()), std::string(stages[i]->reasons()[r])}] +=
          static_cast<double>(chain.decisions(i, r).value());
  banned_dropped += static_cast<double>(chain.banned_dropped().value());
  bans += static_cast<double>(chain.bans_total().value());
  bans_full += static_cast<double>(chain.bans_full().value());
  // Digest authentication at the edge: challenges and failures are decisions of the auth stage
  // (above); successes let the request on, so the stage counts them itself.
  for (const auto& stage : stages) {
    if (const auto* auth = dynamic_cast<const policy::AuthStage*>(stage.get())) {
      auth_successes += static_cast<double>(auth->successes().value());
      core_refusals += static_cast<double>(auth->core_refusals().value());
    }
  }
}

void PolicyRuntime::add_families(std::vector<metrics::Family>& families) {
  using Type = metrics::Family::Type;
  const std::lock_guard lock(mutex_);
  Totals t = retired_;
  double active = 0;
  for (const auto& chain : chains_) {
    if (!chain) continue;
    t.add(*chain);
    // Every worker holds every ban (they tell each other): the largest table is the figure.
    active = std::max(active, static_cast<double>(chain->bans_active()));
  }
  metrics::Family decision_family{
      "sbc_policy_decisions_total",
      "Requests a policy stage dropped or answered, by stage and reason.",
      Type::Counter,
      {}};
  for (const auto& [key, value] : t.decisions)
    decision_family.samples.push_back({{{"stage", key.first}, {"reason", key.second}}, value});
  families.push_back(std::move(decision_family));
  families.push_back({"sbc_auth_successes_total",
                      "Requests whose Digest credentials the edge accepted.",
                      Type::Counter,
                      {{{}, t.auth_successes}}});
  families.push_back({"sbc_auth_core_refusals_total",
                      "With policy.auth.mode core: the core's refusals of a client's credentials "
                      "(401/407 to a request that had some, or 403), counted towards bans.",
                      Type::Counter,
                      {{{}, t.core_refusals}}});
  families.push_back({"sbc_policy_banned_dropped_total",
                      "Messages from banned sources, dropped before parsing.",
                      Type::Counter,
                      {{{}, t.banned_dropped}}});
  families.push_back(
      {"sbc_policy_bans_total", "Bans imposed (scanners, floods).", Type::Counter, {{{}, t.bans}}});
  // Labelled by table, a bounded set: today only the ban table refuses entries when full.
  families.push_back({"sbc_policy_table_full_total",
                      "New entries a full policy table refused rather than evict what it must "
                      "keep (table=bans: a ban not imposed, every entry of its bucket being an "
                      "active ban).",
                      Type::Counter,
                      {{{{"table", "bans"}}, t.bans_full}}});
  families.push_back({"sbc_policy_bans_active",
                      "Sources banned now (refreshed every second).",
                      Type::Gauge,
                      {{{}, active}}});
}

}  // namespace sbc::app
