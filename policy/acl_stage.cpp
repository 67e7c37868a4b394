#include "policy/acl_stage.hpp"

#include <algorithm>

namespace sbc::policy {
namespace {
constexpr std::string_view kReasons[] = {"denied", "not_allowed"};

bool any_contains(const std::vector<Cidr>& list, const std::array<std::uint8_t, 16>& a) noexcept {
  return std::any_of(list.begin(), list.end(), [&](const Cidr& c) { return c.contains(a); });
}
}  // namespace

std::span<const std::string_view> AclStage::reasons() const noexcept {
  return kReasons;
}

bool AclStage::trusts(const std::array<std::uint8_t, 16>& address) const noexcept {
  return any_contains(settings_.trusted, address);
}

Decision AclStage::decide(const sip::Message&, Context& context) noexcept {
  if (trusts(context.address)) {
    context.trusted = true;
    return Decision::next();
  }
  if (any_contains(settings_.deny, context.address)) return Decision::drop(kDenied);
  if (!settings_.allow.empty() && !any_contains(settings_.allow, context.address))
    return Decision::drop(kNotAllowed);
  for (const ListenerAcl& l : settings_.listeners) {
    if (l.port != context.flow.bound_port()) continue;
    if (any_contains(l.deny, context.address)) return Decision::drop(kDenied);
    if (!l.allow.empty() && !any_contains(l.allow, context.address))
      return Decision::drop(kNotAllowed);
  }
  return Decision::next();
}

}  // namespace sbc::policy
