#pragma once
// A bucket the fleet shares (cluster.redis): per-source and per-user limits are token buckets
// per worker, so a client spreading its requests over k workers (of one replica or many) would
// get k times its limit. A worker that sees one of its buckets drained (below half) reports it
// to the fleet's store at most once a second (StrikeRouter::report_heavy); the store counts the
// workers of every replica that reported the same bucket within 2 s and tells them (Stage::
// spread): while that word is fresh, each of the k holds the client to 1/k of its rate and
// burst. A client that stays with one worker (k = 1) is never touched; a spread one gets about
// its rate in all, plus each worker's first half-burst before its report (see known-gaps.md).
//
// Evidence counts as for bans (bans.hpp): reports on datagrams (a forged source address) only
// divide what comes by datagram, so forging a victim's address towards other replicas cannot
// cut the victim's TCP or TLS share.

#include <algorithm>
#include <chrono>
#include <cstdint>

#include "policy/bans.hpp"
#include "policy/token_bucket.hpp"

namespace sbc::policy {

// How long the store's word about a bucket holds (reports come every second while it drains).
inline constexpr std::chrono::milliseconds kSpreadFresh{2500};
inline constexpr std::chrono::seconds kHeavyReportEvery{1};

struct SharedBucket {
  TimePoint until{};     // the store's last word holds until then
  TimePoint reported{};  // when this worker last reported the bucket drained
  std::uint8_t all = 1;  // workers draining it on verified evidence (TCP, TLS, a nonce)
  std::uint8_t udp = 1;  // ... on datagrams

  // What a request on evidence `scope` divides the limit by.
  unsigned takers(BanScope scope, TimePoint now) const noexcept {
    if (now >= until) return 1;
    return scope == BanScope::All ? all : std::max(all, udp);
  }
  // The store counted `takers` workers draining the bucket on evidence `scope`.
  void heard(BanScope scope, unsigned takers, TimePoint now) noexcept {
    if (now >= until) all = udp = 1;  // an old word about the other evidence no longer holds
    const auto count = static_cast<std::uint8_t>(std::clamp(takers, 1U, 255U));
    (scope == BanScope::All ? all : udp) = count;
    until = now + kSpreadFresh;
  }
  // Whether to report the bucket drained now: below half its burst, and not reported within
  // the last second. Marks it reported.
  bool report_due(const TokenBucket& bucket, double burst, TimePoint now) noexcept {
    if (bucket.tokens >= burst / 2 || now - reported < kHeavyReportEvery) return false;
    reported = now;
    return true;
  }
};

}  // namespace sbc::policy
