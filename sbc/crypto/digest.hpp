#pragma once
// The cryptography of HTTP Digest authentication at the edge (RFC 3261 section 22, RFC 7616,
// RFC 8760): the MD5 and SHA-256 hashes as lowercase hex, a constant-time comparison, and
// stateless nonces (an HMAC-SHA-256 over the issue time and what the nonce is bound to, so the
// SBC keeps no state per challenge and a forged or foreign nonce is recognised). BoringSSL
// underneath; exposes none of its types.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace sbc::crypto {

enum class DigestAlgorithm : std::uint8_t { Md5, Sha256 };

// "MD5" / "SHA-256" as written in the algorithm parameter (case-insensitive); nothing otherwise.
// An absent parameter means MD5 (RFC 7616 3.3); the caller decides that.
std::optional<DigestAlgorithm> digest_algorithm(std::string_view name) noexcept;
std::string_view digest_algorithm_name(DigestAlgorithm algorithm) noexcept;
constexpr std::size_t digest_hex_size(DigestAlgorithm algorithm) noexcept {
  return algorithm == DigestAlgorithm::Md5 ? 32 : 64;
}

// H(parts joined by ':') as lowercase hex into `out`; returns the view of it.
std::string_view digest_hex(DigestAlgorithm algorithm, std::span<const std::string_view> parts,
                            std::array<char, 64>& out) noexcept;

// Equal length and bytes, in time that depends only on the length.
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

class NonceMint {
 public:
  static constexpr std::size_t kKeySize = 32;
  using Key = std::array<std::uint8_t, kKeySize>;
  // 56 hex characters: the issue time (8 bytes), a serial (4 bytes: two nonces of one second for
  // one client differ, so each has counts of its own) and 16 bytes of MAC.
  static constexpr std::size_t kNonceSize = 56;
  using Nonce = std::array<char, kNonceSize>;

  explicit NonceMint(const Key& key) noexcept : key_(key) {}
  static Key random_key() noexcept;
  // 64 hex digits; nothing on a syntax error.
  static std::optional<Key> parse_key(std::string_view hex) noexcept;

  // A nonce issued at `issued` (seconds) for whatever `binding` holds (the client's address...).
  Nonce mint(std::uint64_t issued, std::uint32_t serial,
             std::span<const std::uint8_t> binding) const noexcept;
  // The issue time of a nonce this mint made for the same binding; nothing for anything else.
  std::optional<std::uint64_t> check(std::string_view nonce,
                                     std::span<const std::uint8_t> binding) const noexcept;
  // The nonce's MAC bytes: unforgeable, so they can key a table of nonces seen.
  static std::array<std::uint8_t, 16> mac_of(std::string_view checked_nonce) noexcept;

 private:
  std::array<std::uint8_t, 16> mac(std::span<const std::uint8_t, 12> head,
                                   std::span<const std::uint8_t> binding) const noexcept;
  Key key_;
};

}  // namespace sbc::crypto
