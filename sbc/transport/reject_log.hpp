#pragma once
// Rejected messages in the log, a few lines a second per worker at most. Under a flood every
// message is a rejection, so a line each would flood the log too: a token bucket lets `per_second`
// lines a second through (bursts of as many), counts the ones it holds back, and flush() reports
// their number on a summary line (suppressed=K). One per worker, used on its thread only: no lock,
// no shared counter; a line is handed whole to the sink (one write(2) in the daemon).

#include <cstdint>
#include <functional>
#include <string_view>

#include "sbc/common/flow.hpp"
#include "sbc/sip/verdict.hpp"

namespace sbc::transport {

class RejectLog {
 public:
  using Sink = std::function<void(std::string_view line)>;

  // per_second 0: no rejection is logged.
  RejectLog(unsigned worker, std::uint32_t per_second, Sink sink);

  // A message the edge dropped, or answered with the error in `verdict` (`answered`); `now_ns`
  // from a monotonic clock.
  void rejected(const FlowInfo& flow, const sip::Verdict& verdict, bool answered,
                std::int64_t now_ns) noexcept;
  // Writes the summary of the lines held back since the last one, if any (call every second or
  // so, and at the end).
  void flush() noexcept;
  std::uint64_t written() const noexcept { return written_; }
  std::uint64_t suppressed_pending() const noexcept { return suppressed_; }

 private:
  bool take(std::int64_t now_ns) noexcept;

  unsigned worker_;
  std::uint32_t per_second_;
  Sink sink_;
  std::int64_t tokens_nano_ = 0;  // tokens × 1e9, so that refilling needs no floating point
  std::int64_t last_ns_ = 0;
  std::uint64_t suppressed_ = 0;
  std::uint64_t written_ = 0;
};

}  // namespace sbc::transport
