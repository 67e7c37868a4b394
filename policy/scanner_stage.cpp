#include "policy/scanner_stage.hpp"

#include <algorithm>
#include <cctype>

namespace sbc::policy {
namespace {
constexpr std::string_view kReasons[] = {"signature"};

bool icontains(std::string_view haystack, std::string_view needle) noexcept {
  if (needle.empty() || needle.size() > haystack.size()) return false;
  const auto lower = [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  };
  for (std::size_t i = 0; i + needle.size() <= haystack.size(); ++i) {
    std::size_t k = 0;
    while (k < needle.size() && lower(haystack[i + k]) == needle[k]) ++k;
    if (k == needle.size()) return true;
  }
  return false;
}
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
  for (const std::string& signature : settings_.user_agents) {
    if (icontains(ua->value, signature)) {
      context.bans.ban(context.source, context.now);
      return Decision::drop(kSignature);
    }
  }
  return Decision::next();
}

}  // namespace sbc::policy
