#include "policy/scanner_stage.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cmath>

namespace sbc::policy {
namespace {
constexpr std::string_view kReasons[] = {"signature", "enumeration"};

std::uint64_t fnv1a(std::string_view s) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ull;
  for (char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ull;
  }
  return h;
}

}  // namespace

ScannerStage::ScannerStage(ScannerSettings settings)
    : settings_(std::move(settings)), sweeps_(settings_.max_sources) {
  // Linear counting: with m = 128 bits, n users leave about m * exp(-n / m) bits clear. The
  // threshold is the number of set bits that n = max_users_per_window users are expected to
  // exceed.
  const double m = 128;
  const double expected_set =
      m * (1 - std::exp(-static_cast<double>(settings_.max_users_per_window) / m));
  threshold_bits_ = static_cast<unsigned>(std::ceil(expected_set));
  for (std::string& s : settings_.user_agents)
    std::transform(s.begin(), s.end(), s.begin(), [](char c) {
      return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    });
}

std::span<const std::string_view> ScannerStage::reasons() const noexcept {
  return kReasons;
}

bool ScannerStage::enumerating(const sip::Message& request, Context& context) noexcept {
  if (settings_.max_users_per_window == 0 || context.authenticated || !context.valid) return false;
  if (request.method() == sip::Method::Ack || request.method() == sip::Method::Cancel ||
      !request.to().tag.empty())
    return false;
  const std::string_view user = request.method() == sip::Method::Register
                                    ? request.to().uri.user
                                    : request.request_uri().user;
  if (user.empty()) return false;
  bool fresh = false;
  Sweep& sweep = sweeps_.get(context.source, context.now, fresh);
  if (fresh || context.now - sweep.started >= settings_.window) {
    sweep.seen = {};
    sweep.started = context.now;
  }
  const std::uint64_t bit = fnv1a(user) & 127;
  std::uint64_t& word = sweep.seen[bit >> 6];
  const std::uint64_t mask = std::uint64_t{1} << (bit & 63);
  if (word & mask) return false;  // a user already seen in this window
  word |= mask;
  const auto set =
      static_cast<unsigned>(std::popcount(sweep.seen[0]) + std::popcount(sweep.seen[1]));
  return set > threshold_bits_;
}

Decision ScannerStage::decide(const sip::Message& request, Context& context) noexcept {
  if (context.trusted) return Decision::next();
  if (enumerating(request, context)) {
    context.bans.ban(context.source, context.now);
    return Decision::drop(kEnumeration);
  }
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
