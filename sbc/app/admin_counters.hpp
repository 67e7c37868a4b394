#pragma once
// sbc_admin_requests_total{interface, result}: counted by the admin servers on the control
// thread, read by the metrics scrape on its own.

#include <array>
#include <atomic>
#include <cstdint>

namespace sbc::app {

struct AdminCounters {
  enum Interface : std::uint8_t { Unix = 0, Http = 1 };
  // ok: answered with "ok": true; error: refused (bad request, unknown command, a command that
  // failed); unauthorized: no or a wrong bearer token (HTTP).
  enum Result : std::uint8_t { Ok = 0, Error = 1, Unauthorized = 2 };
  void count(Interface i, Result r) noexcept {
    requests[i][r].fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t value(Interface i, Result r) const noexcept {
    return requests[i][r].load(std::memory_order_relaxed);
  }
  std::array<std::array<std::atomic<std::uint64_t>, 3>, 2> requests{};
};

}  // namespace sbc::app
