#pragma once
// The tokens the relay hands out in the URIs it writes (Record-Route, Path, hidden Contacts):
// sealed (sbc::crypto::TokenSealer), they name the outside flow a request from the core goes down,
// the party they were issued to, and what a hidden entry stands for (the inside routes, a Contact's
// original URI). Internal to sbc/proxy.

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "sbc/crypto/token_sealer.hpp"
#include "sbc/proxy/addresses.hpp"
#include "sbc/sip/writer.hpp"

namespace sbc::proxy::detail {

// The user part of the URIs we put in Record-Route and Path: the outside flow's token follows.
inline constexpr std::string_view kUserPrefix = "sbc-";

// What a token we hand out says (its plaintext: kind, flow token big-endian, payload).
enum class TokenKind : std::uint8_t {
  Flow = 1,     // a Path or Record-Route entry: the outside flow
  Dialog = 2,   // our one outside Record-Route entry of a hidden dialog: flow + inside routes
  Contact = 3,  // a Contact we rewrote: flow + the original URI
  // A masked Call-ID: the inside one, sealed deterministically. Never opens as a route.
  CallId = 4,
};

// What a bound token carries after the participant: the MAC (8 bytes) and the expiry (4 bytes,
// seconds of the Unix epoch), big-endian.
struct Binding {
  std::uint64_t mac = 0;
  std::uint32_t expires = 0;
};

// A token opened.
struct Opened {
  TokenKind kind = TokenKind::Flow;
  bool masked_leg = false;  // issued on a leg whose Call-ID the outside sees masked
  std::uint64_t flow = 0;
  Ip participant{};
  std::string_view payload;
  bool bound = false;
  Binding binding;
  std::size_t key_index = 0;  // the token key that opened it: the binding is under its MAC key
};

using TokenPlain = std::array<std::uint8_t, sbc::crypto::TokenSealer::kMaxPlain>;

class RouteTokens {
 public:
  explicit RouteTokens(const sbc::crypto::TokenSealer& sealer) noexcept : sealer_(sealer) {}

  // "sbc-" + the sealed token (valid until the next call); empty if it cannot be sealed.
  // `masked_leg`: issued on a leg toward the outside whose Call-ID is masked. `binding`: the
  // token lets requests in from the outside, for this dialog and until then only.
  std::string_view seal(TokenKind kind, std::uint64_t flow, const Ip& participant,
                        std::string_view payload, bool masked_leg = false,
                        const Binding* binding = nullptr) noexcept;
  // What seal returned last.
  std::string_view last() const noexcept { return last_; }

  // A URI's user part as a token of ours, opened into `buffer` (the payload points into it).
  std::optional<Opened> open(std::string_view user, TokenPlain& buffer) const noexcept;

  // An entry (Record-Route, Path) naming one of our addresses with a sealed token; fails the
  // writer when the token cannot be sealed (the message is not sent rather than sent unsealed).
  sip::Writer& entry(sip::Writer& w, TokenKind kind, std::uint64_t flow, const Ip& participant,
                     std::string_view payload, std::string_view ip, std::uint16_t port,
                     sbc::Protocol protocol, bool masked_leg = false,
                     const Binding* binding = nullptr) noexcept;

  // A keyed hash of a token: the core cannot make another token with the hash of ours.
  static std::uint64_t hash(std::string_view token) noexcept;

 private:
  const sbc::crypto::TokenSealer& sealer_;
  std::array<char, 8 + sbc::crypto::TokenSealer::sealed_size(sbc::crypto::TokenSealer::kMaxPlain)>
      text_{};
  std::string_view last_;
};

}  // namespace sbc::proxy::detail
