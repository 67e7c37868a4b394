#include "policy/scanner_stage.hpp"

#include <algorithm>
#include <array>
#include <cctype>

namespace sbc::policy {
namespace {
constexpr std::string_view kReasons[] = {"signature"};

}  // namespace

ScannerStage::ScannerStage(ScannerSettings settings) : settings_(std::move(settings)) {
  for (std::string& s : settings_.user_agents)
    std::transform(s.begin(), s.end(), s.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
}

std::span<const std::string_view> ScannerStage::reasons() const noexcept {
  return kReasons;
}

Decision ScannerStage::decide(const sip::Message& request, Context& context) noexcept {
  if (context.trusted) return Decision::next();
  const sip::HeaderField* ua = request.find(sip::HeaderId::UserAgent);
  if (ua == nullptr) return Decision::next();
  // Lower-case the User-Agent once (the first 256 bytes hold any signature), then plain
  // substring searches.
  std::array<char, 256> lowered;
  const std::size_t n = std::min(ua->value.size(), lowered.size());
  for (std::size_t i = 0; i < n; ++i)
    lowered[i] = static_cast<char>(std::tolower(static_cast<unsigned char>(ua->value[i])));
  const std::string_view text(lowered.data(), n);
  for (const std::string& signature : settings_.user_agents) {
    if (text.find(signature) != std::string_view::npos) {
      context.bans.ban(context.source, context.now);
      return Decision::drop(kSignature);
    }
  }
  return Decision::next();
}

}  // namespace sbc::policy
