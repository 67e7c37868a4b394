#include "sbc/transport/reject_log.hpp"

#include <algorithm>
#include <string>

#include "sbc/common/address.hpp"
#include "sbc/common/log.hpp"

namespace sbc::transport {
namespace {

constexpr std::int64_t kNano = 1'000'000'000;

}  // namespace

RejectLog::RejectLog(unsigned worker, std::uint32_t per_second, Sink sink)
    : worker_(worker),
      per_second_(per_second),
      sink_(std::move(sink)),
      tokens_nano_(static_cast<std::int64_t>(per_second) * kNano) {}

bool RejectLog::take(std::int64_t now_ns) noexcept {
  const std::int64_t capacity = static_cast<std::int64_t>(per_second_) * kNano;
  if (last_ns_ != 0 && now_ns > last_ns_) {
    // Elapsed time is capped at a second: the bucket holds that much, and the product stays far
    // from overflowing.
    const std::int64_t elapsed = std::min(now_ns - last_ns_, kNano);
    tokens_nano_ = std::min(capacity, tokens_nano_ + elapsed * per_second_);
  }
  last_ns_ = now_ns;
  if (tokens_nano_ < kNano) return false;
  tokens_nano_ -= kNano;
  return true;
}

void RejectLog::rejected(const FlowInfo& flow, const sip::Verdict& verdict, bool answered,
                         std::int64_t now_ns) noexcept {
  if (per_second_ == 0 || !sink_) return;
  if (!take(now_ns)) {
    ++suppressed_;
    return;
  }
  const std::string worker = std::to_string(worker_);
  std::string source;
  source.reserve(flow.remote_ip.size() + 8);
  sbc::append_host(source, flow.remote_ip);
  source += ':';
  source += std::to_string(flow.remote_port);
  const std::string status = std::to_string(verdict.status);
  sink_(logging::format_line(logging::LogLevel::Info, "message rejected",
                             {{"worker", worker},
                              {"transport", transport_name(flow.protocol)},
                              {"source", source},
                              {"action", answered ? "answer" : "drop"},
                              {"status", answered ? std::string_view(status) : "none"},
                              {"reason", verdict.reason}}));
  ++written_;
}

void RejectLog::flush() noexcept {
  if (suppressed_ == 0 || !sink_) return;
  const std::string worker = std::to_string(worker_);
  const std::string suppressed = std::to_string(suppressed_);
  sink_(logging::format_line(logging::LogLevel::Info,
                             "rejection lines suppressed by the log rate limit",
                             {{"worker", worker}, {"suppressed", suppressed}}));
  suppressed_ = 0;
}

}  // namespace sbc::transport
