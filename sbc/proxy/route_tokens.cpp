#include "sbc/proxy/route_tokens.hpp"

#include <cstring>

#include "sbc/common/keyed_hash.hpp"

namespace sbc::proxy::detail {
namespace {

// Set on the kind of the Record-Route entries issued on a leg toward the outside whose Call-ID
// is masked: the core's in-dialog requests through them get the same masked Call-ID, while on a
// leg the outside started (its own Call-ID) they keep theirs. Tokens without it open as before.
constexpr std::uint8_t kMaskedLeg = 0x80;
// Set on the kind of a token that lets requests in from the outside (our outside Record-Route
// entry of a dialog): it carries a binding, a MAC of the dialog's Call-ID (as the outside sees
// it) and its initiator's From tag, and an expiry, so that it opens no other dialog and not
// forever (a token of one real call must not carry invented ones past the policies).
constexpr std::uint8_t kBound = 0x40;
constexpr std::size_t kBindingSize = 8 + 4;
constexpr std::size_t kTokenHeader = 1 + 8 + 16;  // kind, flow token, participant address

}  // namespace

std::string_view RouteTokens::seal(TokenKind kind, std::uint64_t flow, const Ip& participant,
                                   std::string_view payload, bool masked_leg,
                                   const Binding* binding) noexcept {
  last_ = {};
  TokenPlain plain;
  const std::size_t header = kTokenHeader + (binding != nullptr ? kBindingSize : 0);
  if (payload.size() + header > plain.size()) return {};
  plain[0] = static_cast<std::uint8_t>(static_cast<std::uint8_t>(kind) |
                                       (masked_leg ? kMaskedLeg : std::uint8_t{0}) |
                                       (binding != nullptr ? kBound : std::uint8_t{0}));
  for (int i = 0; i < 8; ++i) plain[1 + i] = static_cast<std::uint8_t>(flow >> (56 - 8 * i));
  std::memcpy(plain.data() + 9, participant.data(), participant.size());
  if (binding != nullptr) {
    for (int i = 0; i < 8; ++i)
      plain[kTokenHeader + i] = static_cast<std::uint8_t>(binding->mac >> (56 - 8 * i));
    for (int i = 0; i < 4; ++i)
      plain[kTokenHeader + 8 + i] = static_cast<std::uint8_t>(binding->expires >> (24 - 8 * i));
  }
  if (!payload.empty()) std::memcpy(plain.data() + header, payload.data(), payload.size());
  std::memcpy(text_.data(), kUserPrefix.data(), kUserPrefix.size());
  const std::size_t n = sealer_.seal({plain.data(), payload.size() + header},
                                     std::span<char>(text_).subspan(kUserPrefix.size()));
  if (n == 0) return last_ = {};
  return last_ = {text_.data(), kUserPrefix.size() + n};
}

std::optional<Opened> RouteTokens::open(std::string_view user, TokenPlain& buffer) const noexcept {
  if (!user.starts_with(kUserPrefix)) return std::nullopt;
  std::size_t key_index = 0;
  const auto n = sealer_.open(user.substr(kUserPrefix.size()), buffer, &key_index);
  if (!n || *n < kTokenHeader) return std::nullopt;
  const std::uint8_t kind = buffer[0] & static_cast<std::uint8_t>(~(kMaskedLeg | kBound));
  if (kind < 1 || kind > 3) return std::nullopt;
  Opened o;
  o.kind = static_cast<TokenKind>(kind);
  o.masked_leg = (buffer[0] & kMaskedLeg) != 0;
  o.bound = (buffer[0] & kBound) != 0;
  o.key_index = key_index;
  std::size_t header = kTokenHeader;
  if (o.bound) {
    header += kBindingSize;
    if (*n < header) return std::nullopt;
    for (std::size_t i = 0; i < 8; ++i)
      o.binding.mac = (o.binding.mac << 8) | buffer[kTokenHeader + i];
    for (std::size_t i = 0; i < 4; ++i)
      o.binding.expires = (o.binding.expires << 8) | buffer[kTokenHeader + 8 + i];
  }
  for (int i = 0; i < 8; ++i) o.flow = (o.flow << 8) | buffer[1 + i];
  std::memcpy(o.participant.data(), buffer.data() + 9, o.participant.size());
  o.payload = {reinterpret_cast<const char*>(buffer.data() + header), *n - header};
  return o;
}

sip::Writer& RouteTokens::entry(sip::Writer& w, TokenKind kind, std::uint64_t flow,
                                const Ip& participant, std::string_view payload,
                                std::string_view ip, std::uint16_t port, sbc::Protocol protocol,
                                bool masked_leg, const Binding* binding) noexcept {
  const std::string_view token = seal(kind, flow, participant, payload, masked_leg, binding);
  if (token.empty()) {
    w.fail();  // cannot seal (too long): the message is not sent rather than sent unsealed
    return w;
  }
  w << "<sip:" << token << "@";
  w.host(ip) << ":" << static_cast<unsigned>(port) << ";transport=" << sbc::transport_name(protocol)
             << ";lr>";
  return w;
}

std::uint64_t RouteTokens::hash(std::string_view token) noexcept {
  return common::siphash24(common::process_hash_key(), token);
}

}  // namespace sbc::proxy::detail
