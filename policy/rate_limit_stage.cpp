#include "policy/rate_limit_stage.hpp"

#include <algorithm>

namespace sbc::policy {
namespace {
constexpr std::string_view kReasons[] = {"register_flood", "invite_flood", "request_flood"};
}  // namespace

std::span<const std::string_view> RateLimitStage::reasons() const noexcept {
  return kReasons;
}

Decision RateLimitStage::decide(const sip::Message& request, Context& context) noexcept {
  if (context.trusted) return Decision::next();
  const std::size_t cls = request.method() == sip::Method::Register ? 0
                          : request.method() == sip::Method::Invite ? 1
                                                                    : 2;
  const Bucket& limit = cls == 0   ? settings_.register_requests
                        : cls == 1 ? settings_.invites
                                   : settings_.others;
  if (limit.rate <= 0) return Decision::next();
  const double factor = context.authenticated ? settings_.authenticated_factor : 1.0;
  const double rate = limit.rate * factor, burst = limit.burst * factor;
  bool fresh = false;
  Source& s = sources_.get(context.source, context.now, fresh);
  if (!s.started[cls]) {
    s.started[cls] = true;
    s.tokens[cls] = burst;
    s.refilled[cls] = context.now;
  } else {
    const double elapsed = std::chrono::duration<double>(context.now - s.refilled[cls]).count();
    s.tokens[cls] = std::min(burst, s.tokens[cls] + elapsed * rate);
    s.refilled[cls] = context.now;
  }
  if (s.tokens[cls] >= 1) {
    s.tokens[cls] -= 1;
    return Decision::next();
  }
  if (settings_.ban_after != 0 && ++s.drops >= settings_.ban_after) {
    s.drops = 0;
    context.bans.ban(context.source, context.now);
  }
  return Decision::drop(static_cast<std::uint8_t>(cls));
}

}  // namespace sbc::policy
