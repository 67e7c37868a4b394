#pragma once
// Counters for the message path. Each belongs to one worker, so it has one writer; the scrape
// reads it from another thread. A relaxed load and store (not a locked read-modify-write) is
// race-free for that pattern and costs what a plain increment costs.

#include <atomic>
#include <cstdint>

namespace sbc::metrics {

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept {
    value_.store(value_.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

}  // namespace sbc::metrics
