#pragma once
// FNV-1a, 64 bits: a plain, unkeyed hash for identifiers derived from a request (the stateless
// To tag, the stateless branch, the loop hash), stable across processes and retransmissions.
// Not for tables keyed by what an attacker sends: those use the keyed SipHash (keyed_hash.hpp).

#include <cstdint>
#include <string_view>

namespace sbc::common {

inline constexpr std::uint64_t kFnvBasis = 0xcbf29ce484222325ull;
inline constexpr std::uint64_t kFnvPrime = 0x100000001b3ull;

// `hash` (kFnvBasis to start) extended by the bytes of `s`.
constexpr std::uint64_t fnv1a(std::uint64_t hash, std::string_view s) noexcept {
  for (char c : s) {
    hash ^= static_cast<unsigned char>(c);
    hash *= kFnvPrime;
  }
  return hash;
}

}  // namespace sbc::common
