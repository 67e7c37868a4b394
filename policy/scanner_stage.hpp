#pragma once
// Scanner defence: requests whose User-Agent carries a known scanner signature (SIPVicious'
// "friendly-scanner" and others) are dropped without an answer and their source is banned, so a
// scanner learns nothing and its next packets die before parsing. Signatures match
// case-insensitively anywhere in the User-Agent. Scanners rename themselves, so the stage also
// watches behaviour: a source that asks for many different users within a window (extension
// enumeration, whatever it calls itself) is treated the same. Distinct users are counted
// approximately in a 128-bit sketch per source (linear counting), in a bounded table. Sources
// that have authenticated (the auth stage) are exempt: an office behind one NAT address has
// many users.

#include <chrono>

#include <string>
#include <vector>

#include "policy/source_table.hpp"
#include "policy/stage.hpp"

namespace sbc::policy {

struct ScannerSettings {
  // Distinct users a source may ask for (REGISTER: To; others: Request-URI; outside dialogs)
  // within `window`; above it, the source is a scanner. 0: no behaviour scoring.
  unsigned max_users_per_window = 30;
  std::chrono::seconds window{60};
  std::size_t max_sources = 65536;
  std::vector<std::string> user_agents{"friendly-scanner", "sipvicious", "sipcli",     "sip-scan",
                                       "vaxsipuseragent",  "iwar",       "sivus",      "smap",
                                       "pplsip",           "sundayddr",  "sipsak-scan"};
};

class ScannerStage final : public Stage {
 public:
  enum Reason : std::uint8_t { kSignature, kEnumeration };
  explicit ScannerStage(ScannerSettings settings);
  std::string_view name() const noexcept override { return "scanner"; }
  std::span<const std::string_view> reasons() const noexcept override;
  Decision decide(const sip::Message& request, Context& context) noexcept override;

 private:
  struct Sweep {
    std::array<std::uint64_t, 2> seen{};  // the sketch: one bit per user hash
    TimePoint started{};
  };
  bool enumerating(const sip::Message& request, Context& context) noexcept;

  ScannerSettings settings_;
  SourceTable<Sweep> sweeps_;
  unsigned threshold_bits_ = 0;  // set bits that mean more than max_users_per_window users
};

}  // namespace sbc::policy
