#pragma once
// The policy chain: the configured stages in order, cheap ones first. One per worker, on its
// thread. admit() runs before parsing (a banned source is dropped there); decide() runs on every
// valid request and stops at the first stage that answers or drops. Every decision other than
// "continue" is counted by stage and reason.

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "metrics/counter.hpp"
#include "policy/amplification_guard.hpp"
#include "policy/stage.hpp"

namespace sbc::policy {

struct ChainSettings {
  unsigned ipv6_prefix = 64;  // IPv6 sources are counted, limited and banned by this prefix
  BanSettings bans;
  AmplificationSettings amplification;
  std::size_t max_authenticated = 65536;  // sources remembered as authenticated, per worker
};

class Chain final : public StrikeRouter {
 public:
  Chain(const ChainSettings& settings, std::vector<std::unique_ptr<Stage>> stages);

  // Before parsing: false when the source is banned (drop it unread). The chain keeps a pointer
  // to `flow` until the next admit(): a temporary would dangle in decide().
  bool admit(const sbc::FlowInfo& flow, TimePoint now) noexcept;
  bool admit(sbc::FlowInfo&& flow, TimePoint now) = delete;
  // Whether `flow`'s source is banned over its transport now; changes nothing (for sweeps over
  // open connections, between messages).
  bool banned(const sbc::FlowInfo& flow, TimePoint now) noexcept;
  struct Outcome {
    Decision decision;
    const Stage* stage = nullptr;  // the stage that decided, unless it is Continue
    // Continue after Digest authentication at the edge: see Context.
    std::string_view asserted_identity;
    std::string_view consumed_credentials;
  };
  // After admit() for the same message. `valid`: whether it passed validation (see
  // Context::valid).
  Outcome decide(const sip::Message& request, bool valid = true) noexcept;
  // After admit() for the same message: whether the edge may send an answer of `answer_bytes`
  // over UDP to a request of `request_bytes` (anti-amplification; see amplification_guard.hpp).
  bool may_answer(std::size_t request_bytes, std::size_t answer_bytes) noexcept;
  const metrics::Counter& amplification_refused() const noexcept { return amplification_refused_; }
  // Strikes (see StrikeRouter): this chain runs on worker `worker` of `workers`; `forward`
  // delivers a strike to the chain of worker `home` (on that worker's thread), where strike()
  // takes it.
  using Forwarder =
      std::function<void(unsigned home, const SourceKey&, std::string_view stage, BanScope scope)>;
  void set_strike_forwarding(unsigned worker, unsigned workers, Forwarder forward);
  bool forward(const SourceKey& source, std::string_view stage, BanScope scope) noexcept override;
  // Strikes for the fleet's count (see StrikeRouter::share), from the home worker's thread.
  using Sharer = std::function<void(const FleetStrike&)>;
  void set_strike_sharing(Sharer share) { sharer_ = std::move(share); }
  void share(const FleetStrike& strike) noexcept override {
    if (sharer_) sharer_(strike);
  }
  // Buckets drained here, for the fleet's count (see fleet_share.hpp), from this worker's thread.
  using Reporter = std::function<void(const HeavyUse&)>;
  void set_heavy_reporting(Reporter report) { reporter_ = std::move(report); }
  void report_heavy(const HeavyUse& use) noexcept override {
    if (reporter_) reporter_(use);
  }
  // The fleet's word about a bucket: handed to the stage `use.stage` names.
  void spread(const HeavyUse& use, unsigned takers, TimePoint now) noexcept;
  void strike(const SourceKey& source, std::string_view stage, TimePoint now,
              BanScope scope) noexcept;
  // From the relay: the core refused a request that came from `remote_ip` over `protocol` for
  // its credentials (a 401/407 to a request that carried some, or a 403). Stages that count
  // failures per source do (a refusal of a UDP request is evidence for a UDP ban only).
  void core_refused(std::string_view remote_ip, sbc::Protocol protocol, TimePoint now) noexcept;
  // From the relay: a final answer of the core went to `remote_ip` (a request from outside, its
  // first final answer). The answer classes a source gets are part of its scanner score.
  void core_answered(std::string_view remote_ip, std::uint16_t status, TimePoint now) noexcept;
  // Periodic upkeep on the worker's thread (the active-ban gauge).
  void maintain(TimePoint now);

  const std::vector<std::unique_ptr<Stage>>& stages() const noexcept { return stages_; }
  // The Allow header line of the chain's methods stage; empty without one.
  std::string_view allow_header() const noexcept;
  // Decisions of stage i for reason r.
  const metrics::Counter& decisions(std::size_t stage, std::size_t reason) const noexcept {
    return counters_[stage][reason];
  }
  const metrics::Counter& banned_dropped() const noexcept { return banned_dropped_; }
  const metrics::Counter& bans_total() const noexcept { return bans_.bans(); }
  // Bans refused because the ban table had no room that was not an active ban.
  const metrics::Counter& bans_full() const noexcept { return bans_.full(); }
  std::size_t bans_active() const noexcept { return bans_active_.load(std::memory_order_relaxed); }
  BanTable& bans() noexcept { return bans_; }

 private:
  template <class Report>
  void for_client(std::string_view remote_ip, sbc::Protocol protocol, TimePoint now,
                  Report report) noexcept;
  ChainSettings settings_;
  std::vector<std::unique_ptr<Stage>> stages_;
  std::vector<std::vector<metrics::Counter>> counters_;
  BanTable bans_;
  metrics::Counter banned_dropped_;
  AmplificationGuard amplification_;
  metrics::Counter amplification_refused_;
  unsigned worker_ = 0, workers_ = 1;
  Forwarder forwarder_;
  Sharer sharer_;
  Reporter reporter_;
  struct Authenticated {};
  SourceTable<Authenticated> authenticated_;
  std::atomic<std::size_t> bans_active_{0};
  // The source of the message between admit() and decide().
  const sbc::FlowInfo* flow_ = nullptr;
  SourceKey source_;
  std::array<std::uint8_t, 16> address_{};
  bool known_source_ = false;
  TimePoint now_{};
};

}  // namespace sbc::policy
