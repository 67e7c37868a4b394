#pragma once
// ACL: deny lists first, then allow lists (when any is configured, everything else is refused);
// trusted peers (the core, trunks) are let through and exempted from the stages after this one.
// Refusals are silent drops: an answer would tell a scanner someone is there. Listeners can have
// lists of their own (by local port), checked after the global ones: a UDP listener for trunks
// only, a TLS listener for everyone.

#include <vector>

#include "policy/stage.hpp"
#include "sbc/common/address.hpp"

namespace sbc::policy {

struct ListenerAcl {
  std::uint16_t port = 0;  // the listener's local port (all its transports)
  std::vector<Cidr> allow;
  std::vector<Cidr> deny;
};

struct AclSettings {
  std::vector<Cidr> allow;
  std::vector<Cidr> deny;
  std::vector<Cidr> trusted;
  std::vector<ListenerAcl> listeners;
};

class AclStage final : public Stage {
 public:
  enum Reason : std::uint8_t { kDenied, kNotAllowed };
  explicit AclStage(AclSettings settings) : settings_(std::move(settings)) {}
  std::string_view name() const noexcept override { return "acl"; }
  std::span<const std::string_view> reasons() const noexcept override;
  Decision decide(const sip::Message& request, Context& context) noexcept override;
  bool trusts(const std::array<std::uint8_t, 16>& address) const noexcept override;

 private:
  AclSettings settings_;
};

}  // namespace sbc::policy
