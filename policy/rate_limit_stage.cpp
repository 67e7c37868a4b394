#include "policy/rate_limit_stage.hpp"

#include <algorithm>

namespace sbc::policy {
namespace {
// A source's drops on every replica add up to a fleet ban when `ban_after` of them come within
// this time (policy.rate_limit; each replica also bans on its own count, as without a fleet).
constexpr std::chrono::seconds kFleetDropWindow{60};
constexpr std::string_view kReasons[] = {"register_flood", "invite_flood", "request_flood",
                                         "global_limit"};
}  // namespace

std::span<const std::string_view> RateLimitStage::reasons() const noexcept {
  return kReasons;
}

Decision RateLimitStage::decide(const sip::Message& request, Context& context) noexcept {
  if (context.trusted) return Decision::next();
  const std::size_t cls = request.method() == sip::Method::Register ? 0
                          : request.method() == sip::Method::Invite ? 1
                                                                    : 2;
  const Bucket& global = cls == 0   ? settings_.global_register
                         : cls == 1 ? settings_.global_invite
                                    : settings_.global_other;
  if (global.rate > 0) {
    // This worker's share of the SBC-wide bucket (and of the fleet's, among the replicas).
    const unsigned replicas =
        settings_.replicas != nullptr ? settings_.replicas->load(std::memory_order_relaxed) : 1;
    const double share = 1.0 / (std::max(1u, settings_.workers) * std::max(1u, replicas));
    if (!global_[cls].take(global.rate * share, std::max(1.0, global.burst * share), context.now))
      return Decision::drop(kGlobal);
  }
  const Bucket& limit = cls == 0   ? settings_.register_requests
                        : cls == 1 ? settings_.invites
                                   : settings_.others;
  if (limit.rate <= 0) return Decision::next();
  bool fresh = false;
  Source& s = sources_.get(context.source, context.now, fresh);
  const BanScope scope = context.ban_scope();
  // Spread over `takers` workers of the fleet, the source gets its share of the limit on each.
  const double factor = (context.authenticated ? settings_.authenticated_factor : 1.0) /
                        (scope == BanScope::None ? 1 : s.shared[cls].takers(scope, context.now));
  const double rate = limit.rate * factor, burst = std::max(1.0, limit.burst * factor);
  const bool taken = s.buckets[cls].take(rate, burst, context.now);
  if (scope != BanScope::None && context.strikes != nullptr &&
      s.shared[cls].report_due(s.buckets[cls], burst, context.now))
    context.strikes->report_heavy({context.source, name(), static_cast<std::uint8_t>(cls), scope});
  if (taken) return Decision::next();
  if (settings_.ban_after == 0) return Decision::drop(static_cast<std::uint8_t>(cls));
  // Counted here as well: the home worker's ban arrives by a post, this worker's is immediate.
  count_drops(s, 1, context);
  if (batch() != 0 && context.strikes != nullptr && scope != BanScope::None &&
      ++s.unforwarded[scope == BanScope::All ? 1 : 0] >= batch()) {
    s.unforwarded[scope == BanScope::All ? 1 : 0] = 0;
    (void)context.strikes->forward(context.source, name(), scope);  // false: this is the home
    // The fleet adds up the drops of every replica, a batch at a time (one update per batch).
    context.strikes->share(
        {context.source, name(), "drops", scope, batch(), settings_.ban_after, kFleetDropWindow});
  }
  return Decision::drop(static_cast<std::uint8_t>(cls));
}

void RateLimitStage::count_drops(Source& s, unsigned drops, Context& context) noexcept {
  // Drops of forged datagrams add up to a ban over UDP only (bans.hpp).
  context.ban(s.drops.add(context.ban_scope(), drops, settings_.ban_after), {name(), "drops"});
}

void RateLimitStage::spread(const HeavyUse& use, unsigned takers, TimePoint now) noexcept {
  // Only sources this worker has met: the others are not among the takers (yet).
  if (use.bucket >= 3 || use.scope == BanScope::None) return;
  if (Source* s = sources_.find(use.key, now)) s->shared[use.bucket].heard(use.scope, takers, now);
}

void RateLimitStage::strike(Context& context) noexcept {
  if (settings_.ban_after == 0 || batch() == 0) return;
  bool fresh = false;
  count_drops(sources_.get(context.source, context.now, fresh), batch(), context);
}

}  // namespace sbc::policy
