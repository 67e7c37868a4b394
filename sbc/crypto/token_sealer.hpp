#pragma once
// Seals short tokens (flow tokens, hidden routes and contacts) that the SBC hands to the outside
// in URIs and must be able to trust when they come back: AES-128-GCM-SIV (BoringSSL) under a key
// with a one-byte id, a unique nonce per token (random, then counted), all URL-safe (base64url
// without padding, the characters a URI user part takes unescaped). A forged, altered or truncated
// token, or one sealed under a key we no longer hold, does not open. Keys rotate: the first key
// seals, every configured key opens. Exposes no BoringSSL type.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sbc::crypto {

class TokenSealer {
 public:
  struct Key {
    std::uint8_t id = 0;
    std::array<std::uint8_t, 16> bytes{};
  };
  // "ID:HEX" with ID 0..255 and 32 hex digits (128 bits); nothing on a syntax error.
  static std::optional<Key> parse_key(std::string_view text);
  // A key from the system's random source.
  static Key random_key(std::uint8_t id);

  // The first key seals; all open. Throws std::invalid_argument on an empty list or a repeated
  // id (start-up only).
  explicit TokenSealer(const std::vector<Key>& keys);
  ~TokenSealer();
  // New keys (a rotation on reload): the first seals from now on, all open. Tokens sealed
  // under a key that is still in the list keep opening. Throws as the constructor does, and
  // then nothing changes.
  void rekey(const std::vector<Key>& keys);
  TokenSealer(const TokenSealer&) = delete;
  TokenSealer& operator=(const TokenSealer&) = delete;

  // The sealed text's length for a plaintext of `size` bytes.
  static constexpr std::size_t sealed_size(std::size_t size) noexcept {
    const std::size_t raw = 1 + kNonce + size + kTag;
    return (raw * 4 + 2) / 3;
  }
  static constexpr std::size_t kMaxPlain = 512;

  // Writes the sealed text into `out`; returns its length, 0 if it does not fit or `plain` is
  // over kMaxPlain.
  std::size_t seal(std::span<const std::uint8_t> plain, std::span<char> out) const noexcept;
  // As seal, but one plaintext always gives one text: a fixed nonce, with which AES-GCM-SIV
  // reveals only whether two plaintexts are equal (RFC 8452 section 9). For values that every
  // message of a dialog must carry the same, such as a masked Call-ID.
  std::size_t seal_deterministic(std::span<const std::uint8_t> plain,
                                 std::span<char> out) const noexcept;
  // The plaintext's length in `out`, or nothing if the token does not open. `key_index`, if
  // given, receives the index of the key that opened it (for bind()).
  std::optional<std::size_t> open(std::string_view sealed, std::span<std::uint8_t> out,
                                  std::size_t* key_index = nullptr) const noexcept;
  // A keyed 64-bit MAC of (a, b): SipHash-2-4 under a key derived from key `key_index` (0: the
  // one that seals). A token carries it to be bound to values it must come back with (a
  // dialog's Call-ID and tag): without the key, nobody can find other values with the same MAC.
  std::uint64_t bind(std::string_view a, std::string_view b,
                     std::size_t key_index = 0) const noexcept;

 private:
  static constexpr std::size_t kNonce = 12;
  static constexpr std::size_t kTag = 16;
  std::size_t seal_with_nonce(std::span<const std::uint8_t> plain, std::span<char> out,
                              bool random_nonce) const noexcept;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sbc::crypto
