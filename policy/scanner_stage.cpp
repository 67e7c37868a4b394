#include "policy/scanner_stage.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <cmath>
#include <limits>

#include "sbc/common/keyed_hash.hpp"

namespace sbc::policy {
namespace {
constexpr std::string_view kReasons[] = {"signature", "enumeration", "refusals", "odd_shape"};

}  // namespace

ScannerStage::ScannerStage(ScannerSettings settings)
    : settings_(std::move(settings)), sources_(settings_.max_sources) {
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

void ScannerStage::start_window(Behaviour& b, TimePoint now, bool fresh) const noexcept {
  if (fresh || now - b.started >= settings_.window) {
    b = Behaviour{};
    b.started = now;
  }
}

bool ScannerStage::odd_shape(const sip::Message& request) const noexcept {
  // RFC 3261 8.1.1.7: every branch an RFC 3261 client makes starts with the magic cookie (an
  // absent branch is RFC 2543). Tags and branches need 32 bits of randomness (19.3), not
  // hundreds of characters: longer ones carry something else (fuzzing, encoded payloads).
  const std::string_view branch = request.top_via().branch;
  return !branch.starts_with("z9hG4bK") || branch.size() > settings_.max_tag_length ||
         request.from().tag.size() > settings_.max_tag_length;
}

bool ScannerStage::enumerating(std::string_view user, Behaviour& b) const noexcept {
  // Keyed: with a known hash a scanner would pick user names that land on bits already set.
  const std::uint64_t bit = common::siphash24(common::process_hash_key(), user) & 127;
  std::uint64_t& word = b.seen[bit >> 6];
  const std::uint64_t mask = std::uint64_t{1} << (bit & 63);
  if (word & mask) return false;  // a user already seen in this window
  word |= mask;
  const auto set = static_cast<unsigned>(std::popcount(b.seen[0]) + std::popcount(b.seen[1]));
  return set > threshold_bits_;
}

std::uint8_t ScannerStage::behaviour(const sip::Message& request, Context& context) noexcept {
  if (context.authenticated) return kNone;
  // Typed fields are only read from valid requests (Context::valid); a source's answers count
  // whatever it sends.
  const bool odd = context.valid && settings_.max_odd_requests != 0 && odd_shape(request);
  std::string_view user;
  if (context.valid && settings_.max_users_per_window != 0 &&
      request.method() != sip::Method::Ack && request.method() != sip::Method::Cancel &&
      request.to().tag.empty())
    user = request.method() == sip::Method::Register ? request.to().uri.user
                                                     : request.request_uri().user;
  Behaviour* b = nullptr;
  bool fresh = false;
  if (odd || !user.empty()) {
    b = &sources_.get(context.source, context.now, fresh);
  } else if (settings_.min_answers != 0) {
    b = sources_.find(context.source, context.now);  // answers alone: only a known source
  }
  if (b == nullptr) return kNone;
  start_window(*b, context.now, fresh);
  if (settings_.min_answers != 0 && b->answers >= settings_.min_answers &&
      static_cast<double>(b->refusals) >= settings_.max_refusal_share * b->answers)
    return kRefusals;
  if (odd && ++b->odd > settings_.max_odd_requests) return kOddShape;
  if (!user.empty() && enumerating(user, *b)) return kEnumeration;
  return kNone;
}

void ScannerStage::answered(Context& context, std::uint16_t status) noexcept {
  if (settings_.min_answers == 0 || context.authenticated || status < 200) return;
  bool fresh = false;
  Behaviour& b = sources_.get(context.source, context.now, fresh);
  start_window(b, context.now, fresh);
  if (b.answers == std::numeric_limits<std::uint32_t>::max()) return;
  ++b.answers;
  if (refusal(status)) ++b.refusals;
}

Decision ScannerStage::decide(const sip::Message& request, Context& context) noexcept {
  if (context.trusted) return Decision::next();
  if (const std::uint8_t reason = behaviour(request, context); reason != kNone) {
    context.ban({name(), kReasons[reason]});
    return Decision::drop(reason);
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
      context.ban({name(), kReasons[kSignature]});
      return Decision::drop(kSignature);
    }
  }
  return Decision::next();
}

}  // namespace sbc::policy
