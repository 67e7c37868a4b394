#pragma once
// A token bucket: `rate` tokens a second up to `burst`, full at its first use. Every limit of the
// policies (rate limits per source, SBC-wide and per user, the amplification budget) is one.

#include <algorithm>
#include <chrono>

#include "policy/source_table.hpp"

namespace sbc::policy {

struct TokenBucket {
  double tokens = 0;
  TimePoint refilled{};
  bool started = false;

  // Refills up to `now`, then takes `cost` tokens if there are that many.
  bool take(double rate, double burst, TimePoint now, double cost = 1) noexcept {
    if (!started) {
      started = true;
      tokens = burst;
    } else {
      tokens =
          std::min(burst, tokens + std::chrono::duration<double>(now - refilled).count() * rate);
    }
    refilled = now;
    if (tokens < cost) return false;
    tokens -= cost;
    return true;
  }
};

}  // namespace sbc::policy
