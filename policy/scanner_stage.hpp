#pragma once
// Scanner defence: requests whose User-Agent carries a known scanner signature (SIPVicious'
// "friendly-scanner" and others) are dropped without an answer and their source is banned, so a
// scanner learns nothing and its next packets die before parsing. Signatures match
// case-insensitively anywhere in the User-Agent. (Behaviour scoring for scanners that rename
// themselves comes in a later increment.)

#include <string>
#include <vector>

#include "policy/stage.hpp"

namespace sbc::policy {

struct ScannerSettings {
  std::vector<std::string> user_agents{"friendly-scanner", "sipvicious", "sipcli",     "sip-scan",
                                       "vaxsipuseragent",  "iwar",       "sivus",      "smap",
                                       "pplsip",           "sundayddr",  "sipsak-scan"};
};

class ScannerStage final : public Stage {
 public:
  enum Reason : std::uint8_t { kSignature };
  explicit ScannerStage(ScannerSettings settings);
  std::string_view name() const noexcept override { return "scanner"; }
  std::span<const std::string_view> reasons() const noexcept override;
  Decision decide(const sip::Message& request, Context& context) noexcept override;

 private:
  ScannerSettings settings_;
};

}  // namespace sbc::policy
