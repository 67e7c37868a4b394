#pragma once
// Rate limits per source (IPv6 by prefix) with a token bucket per method class (REGISTER,
// INVITE, everything else): `rate` requests per second on average, `burst` at once. A request
// over its bucket is dropped without an answer (an answer to a flood is amplification); a source
// that keeps flooding (`ban_after` drops) is banned. Sources live in a bounded table.
//
// Buckets are per worker, so a source spreading its ports over workers gets each worker's
// limit (and over replicas, each replica's); its drops at least add up towards the ban at its
// home worker (StrikeRouter), and across the fleet (FleetStrike, kFleetDropWindow): every
// `strike_batch` drops on another worker go there as one strike worth that many. Batches keep
// the cost of a flood down (one post per batch, and none once the ban is in place: banned
// sources never reach the stage).
//
// With a fleet store, a source whose bucket drains on several workers (of any replicas) is held
// to its share on each (fleet_share.hpp): its rate in all, not k times it.

#include <algorithm>
#include <array>
#include <atomic>

#include "policy/fleet_share.hpp"
#include "policy/source_table.hpp"
#include "policy/stage.hpp"
#include "policy/token_bucket.hpp"

namespace sbc::policy {

struct Bucket {
  double rate = 0;   // tokens per second; 0: no limit for this class
  double burst = 0;  // bucket size
};

struct RateLimitSettings {
  Bucket register_requests{2, 10};
  Bucket invites{5, 20};
  Bucket others{20, 50};
  // For the whole SBC, whatever the source (a distributed flood); rate 0: none. Each worker
  // enforces its share (rate and burst / workers). Over it: dropped, nobody banned.
  Bucket global_register{0, 0};
  Bucket global_invite{0, 0};
  Bucket global_other{0, 0};
  unsigned workers = 1;  // set by the daemon
  // Replicas sharing a store (cluster.redis), as the store last counted them: the global buckets
  // are split among them too. None: this SBC alone. Set by the daemon.
  const std::atomic<unsigned>* replicas = nullptr;
  unsigned ban_after = 100;  // drops of one source before it is banned; 0: never
  // Drops per strike forwarded to the source's home worker (capped at ban_after); 0: none, each
  // worker counts only its own drops.
  unsigned strike_batch = 10;
  // A trust tier: sources that have authenticated (the auth stage) get rate and burst times this.
  unsigned authenticated_factor = 4;
  std::size_t max_sources = 65536;
};

class RateLimitStage final : public Stage {
 public:
  enum Reason : std::uint8_t { kRegister, kInvite, kOther, kGlobal };
  explicit RateLimitStage(const RateLimitSettings& settings)
      : settings_(settings), sources_(settings.max_sources) {}
  std::string_view name() const noexcept override { return "rate_limit"; }
  std::span<const std::string_view> reasons() const noexcept override;
  Decision decide(const sip::Message& request, Context& context) noexcept override;
  void strike(Context& context) noexcept override;
  void spread(const HeavyUse& use, unsigned takers, TimePoint now) noexcept override;

 private:
  struct Source {
    std::array<TokenBucket, 3> buckets{};  // by class
    StrikeCount drops;  // verified (TCP, TLS) and unverified (UDP) drops: see bans.hpp
    // Drops since the last strike sent to the home worker, verified and unverified.
    std::array<unsigned, 2> unforwarded{};
    std::array<SharedBucket, 3> shared{};  // by class: the fleet's word on who drains them
  };
  // Counts `drops` against the source; bans it at ban_after.
  void count_drops(Source& s, unsigned drops, Context& context) noexcept;
  unsigned batch() const noexcept { return std::min(settings_.strike_batch, settings_.ban_after); }
  RateLimitSettings settings_;
  SourceTable<Source> sources_;
  std::array<TokenBucket, 3> global_{};
};

}  // namespace sbc::policy
