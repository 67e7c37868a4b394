#pragma once
// SipHash-2-4 (Aumasson and Bernstein, 2012), the keyed hash of every table whose keys an attacker
// chooses (source addresses, user names). With an unkeyed hash (FNV-1a) an attacker computes keys
// that share one bucket of a set-associative table and evicts whatever it likes from it (its own
// ban, another user's counts); with a secret key drawn at start it cannot tell which keys collide.
// About 20 ns for a 16-byte key; no allocation.

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace sbc::common {

struct HashKey {
  std::uint64_t k0 = 0;
  std::uint64_t k1 = 0;
};

// A key from the kernel's random source (getrandom).
HashKey random_hash_key() noexcept;
// The process's key, drawn at first use: one for every worker, so that all of them agree on a
// source's hash (its home worker is chosen by it).
const HashKey& process_hash_key() noexcept;

namespace detail {
constexpr std::uint64_t rotl(std::uint64_t x, int b) noexcept {
  return (x << b) | (x >> (64 - b));
}
constexpr void sip_round(std::uint64_t& v0, std::uint64_t& v1, std::uint64_t& v2,
                         std::uint64_t& v3) noexcept {
  v0 += v1;
  v1 = rotl(v1, 13);
  v1 ^= v0;
  v0 = rotl(v0, 32);
  v2 += v3;
  v3 = rotl(v3, 16);
  v3 ^= v2;
  v0 += v3;
  v3 = rotl(v3, 21);
  v3 ^= v0;
  v2 += v1;
  v1 = rotl(v1, 17);
  v1 ^= v2;
  v2 = rotl(v2, 32);
}
}  // namespace detail

// SipHash-2-4 of `data` under `key` (the reference's k0 = first 8 key bytes, little-endian).
inline std::uint64_t siphash24(const HashKey& key, const unsigned char* data,
                               std::size_t size) noexcept {
  std::uint64_t v0 = 0x736f6d6570736575ull ^ key.k0;
  std::uint64_t v1 = 0x646f72616e646f6dull ^ key.k1;
  std::uint64_t v2 = 0x6c7967656e657261ull ^ key.k0;
  std::uint64_t v3 = 0x7465646279746573ull ^ key.k1;
  const std::size_t whole = size & ~std::size_t{7};
  for (std::size_t i = 0; i < whole; i += 8) {
    std::uint64_t m = 0;
    if constexpr (std::endian::native == std::endian::little) {
      std::memcpy(&m, data + i, 8);  // one load (SipHash reads its words little-endian)
    } else {
      for (std::size_t j = 0; j < 8; ++j) m |= std::uint64_t{data[i + j]} << (8 * j);
    }
    v3 ^= m;
    detail::sip_round(v0, v1, v2, v3);
    detail::sip_round(v0, v1, v2, v3);
    v0 ^= m;
  }
  std::uint64_t last = static_cast<std::uint64_t>(size & 0xff) << 56;
  for (std::size_t j = 0; j < (size & 7); ++j) last |= std::uint64_t{data[whole + j]} << (8 * j);
  v3 ^= last;
  detail::sip_round(v0, v1, v2, v3);
  detail::sip_round(v0, v1, v2, v3);
  v0 ^= last;
  v2 ^= 0xff;
  for (int i = 0; i < 4; ++i) detail::sip_round(v0, v1, v2, v3);
  return v0 ^ v1 ^ v2 ^ v3;
}

inline std::uint64_t siphash24(const HashKey& key, std::span<const std::uint8_t> data) noexcept {
  return siphash24(key, data.data(), data.size());
}
inline std::uint64_t siphash24(const HashKey& key, std::string_view data) noexcept {
  return siphash24(key, reinterpret_cast<const unsigned char*>(data.data()), data.size());
}

}  // namespace sbc::common
