#pragma once
// Durations on the message path, as a Prometheus histogram. Like Counter, each histogram belongs
// to one worker (one writer) and the scrape reads it from another thread: relaxed loads and
// stores, no locked read-modify-write. Observations are integer nanoseconds against bounds fixed
// at construction, so observe() is a short scan and two stores, with no floating point; the
// scrape converts to seconds and makes the counts cumulative.

#include <time.h>
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace sbc::metrics {

// CLOCK_MONOTONIC through the vDSO: tens of nanoseconds. (The _COARSE clock is cheaper but ticks
// every few milliseconds, longer than most of what we time.)
inline std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Upper bounds in nanoseconds, ascending; the +Inf bucket is implicit.
inline constexpr std::array<std::uint64_t, 14> kMessageProcessingBounds{
    10'000,    25'000,    50'000,     100'000,    250'000,    500'000,     1'000'000,
    2'500'000, 5'000'000, 10'000'000, 25'000'000, 50'000'000, 100'000'000, 250'000'000};
inline constexpr std::array<std::uint64_t, 13> kHandshakeBounds{
    1'000'000,     2'500'000,     5'000'000,     10'000'000,  25'000'000,
    50'000'000,    100'000'000,   250'000'000,   500'000'000, 1'000'000'000,
    2'500'000'000, 5'000'000'000, 10'000'000'000};
// A transaction from request to final answer: the core's own time, ringing for INVITEs.
inline constexpr std::array<std::uint64_t, 16> kTransactionBounds{
    1'000'000,      2'500'000,      5'000'000,      10'000'000,     25'000'000,    50'000'000,
    100'000'000,    250'000'000,    500'000'000,    1'000'000'000,  2'500'000'000, 5'000'000'000,
    10'000'000'000, 30'000'000'000, 60'000'000'000, 180'000'000'000};

// What a scrape reads: one histogram, or the sum of several with the same bounds.
struct HistogramSnapshot {
  std::vector<double> upper_bounds;       // seconds, without +Inf
  std::vector<std::uint64_t> cumulative;  // one per upper bound
  std::uint64_t count = 0;                // also the +Inf bucket
  double sum = 0;                         // seconds
};

class Histogram {
 public:
  static constexpr std::size_t kMaxBounds = 16;

  // `bounds_ns` must outlive the histogram (a constant such as kHandshakeBounds).
  explicit Histogram(std::span<const std::uint64_t> bounds_ns) noexcept
      : bounds_(bounds_ns.first(std::min(bounds_ns.size(), kMaxBounds))) {}
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void observe_ns(std::int64_t ns) noexcept {
    // A clock that went backwards (it does not, but a caller's arithmetic might) counts as zero.
    const std::uint64_t v = ns > 0 ? static_cast<std::uint64_t>(ns) : 0;
    std::size_t i = 0;
    while (i < bounds_.size() && v > bounds_[i]) ++i;
    bump(buckets_[i], 1);  // buckets_[bounds_.size()] is the +Inf bucket
    bump(sum_ns_, v);
  }
  void observe(std::chrono::nanoseconds d) noexcept { observe_ns(d.count()); }

  // Adds this histogram into `into` (empty, or holding a histogram with the same bounds).
  void add_to(HistogramSnapshot& into) const {
    if (into.upper_bounds.empty()) {
      for (const std::uint64_t b : bounds_)
        into.upper_bounds.push_back(static_cast<double>(b) / 1e9);
      into.cumulative.assign(bounds_.size(), 0);
    }
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < bounds_.size() && i < into.cumulative.size(); ++i) {
      running += buckets_[i].load(std::memory_order_relaxed);
      into.cumulative[i] += running;
    }
    running += buckets_[bounds_.size()].load(std::memory_order_relaxed);
    // The count is the buckets' total rather than a counter of its own: a scrape during an
    // observation then never shows a finite bucket above the +Inf bucket.
    into.count += running;
    into.sum += static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9;
  }

 private:
  static void bump(std::atomic<std::uint64_t>& a, std::uint64_t n) noexcept {
    a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }

  std::span<const std::uint64_t> bounds_;
  std::array<std::atomic<std::uint64_t>, kMaxBounds + 1> buckets_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

}  // namespace sbc::metrics
