#pragma once
// Scanner defence: requests whose User-Agent carries a known scanner signature (SIPVicious'
// "friendly-scanner" and others) are dropped without an answer and their source is banned, so a
// scanner learns nothing and its next packets die before parsing. Signatures match
// case-insensitively anywhere in the User-Agent. Scanners rename themselves, so the stage also
// scores behaviour per source and window, in one bounded table:
// - enumeration: asking for many different users (counted approximately in a 128-bit sketch,
//   linear counting);
// - refusals: nearly all the answers the source gets are refusals (401, 403, 404, 407, 484, 485),
//   whether the edge gave them (the chain's answers) or the core did (Chain::core_answered). A
//   client that authenticates gets 401 then 200, half refusals at most; a scanner guessing users
//   or passwords gets nothing else;
// - odd shapes: requests an RFC 3261 client does not send (a top Via branch without the magic
//   cookie, 8.1.1.7; a From tag or branch longer than any real stack makes). One such request is
//   legal (RFC 2543 peers), a steady stream of them from one source is a tool.
// Sources that have authenticated (the auth stage) are exempt: an office behind one NAT address
// has many users, and its phones may be refused often (wrong numbers) without scanning.

#include <chrono>

#include <string>
#include <vector>

#include "policy/source_table.hpp"
#include "policy/stage.hpp"

namespace sbc::policy {

struct ScannerSettings {
  // Distinct users a source may ask for (REGISTER: To; others: Request-URI; outside dialogs)
  // within `window`; above it, the source is a scanner. 0: no enumeration scoring.
  unsigned max_users_per_window = 30;
  // Answers a source must have had within `window` before its refusal share is judged; 0: no
  // refusal scoring. At least `max_refusal_share` of them refusals: a scanner.
  unsigned min_answers = 20;
  double max_refusal_share = 0.9;
  // Odd-shaped requests a source may send within `window`; above it, a scanner. 0: no scoring.
  unsigned max_odd_requests = 20;
  std::size_t max_tag_length = 128;  // From tags and top Via branches longer than this are odd
  std::chrono::seconds window{60};
  std::size_t max_sources = 65536;
  std::vector<std::string> user_agents{"friendly-scanner", "sipvicious", "sipcli",     "sip-scan",
                                       "vaxsipuseragent",  "iwar",       "sivus",      "smap",
                                       "pplsip",           "sundayddr",  "sipsak-scan"};
};

class ScannerStage final : public Stage {
 public:
  enum Reason : std::uint8_t { kSignature, kEnumeration, kRefusals, kOddShape };
  explicit ScannerStage(ScannerSettings settings);
  std::string_view name() const noexcept override { return "scanner"; }
  std::span<const std::string_view> reasons() const noexcept override;
  Decision decide(const sip::Message& request, Context& context) noexcept override;
  void answered(Context& context, std::uint16_t status) noexcept override;

  // The answer classes counted against a source; 481 is what the relay answers an in-dialog
  // request whose dialog token is missing, foreign or expired (a forged dialog).
  static bool refusal(std::uint16_t status) noexcept {
    return status == 401 || status == 403 || status == 404 || status == 407 || status == 481 ||
           status == 484 || status == 485;
  }

 private:
  // What one source did in the current window.
  struct Behaviour {
    std::array<std::uint64_t, 2> seen{};  // the sketch: one bit per user hash
    TimePoint started{};
    std::uint32_t answers = 0;
    std::uint32_t refusals = 0;
    std::uint32_t odd = 0;
  };
  static constexpr std::uint8_t kNone = 0xff;
  // The reason `request` makes its source a scanner, or kNone.
  std::uint8_t behaviour(const sip::Message& request, Context& context) noexcept;
  bool odd_shape(const sip::Message& request) const noexcept;
  bool enumerating(std::string_view user, Behaviour& b) const noexcept;
  void start_window(Behaviour& b, TimePoint now, bool fresh) const noexcept;

  ScannerSettings settings_;
  SourceTable<Behaviour> sources_;
  unsigned threshold_bits_ = 0;  // set bits that mean more than max_users_per_window users
};

}  // namespace sbc::policy
