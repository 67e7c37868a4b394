#include "sbc/common/address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <string>

#include "sbc/common/keyed_hash.hpp"

namespace sbc {

std::uint64_t SourceKey::hash() const noexcept {
  // Keyed: the tables keyed by sources are set-associative, and an attacker who could compute
  // which addresses share a bucket would evict entries of its choice (see keyed_hash.hpp).
  return common::siphash24(common::process_hash_key(), bytes);
}

std::optional<std::array<std::uint8_t, 16>> parse_address(std::string_view text) noexcept {
  text = strip_brackets(text);
  char buffer[64];
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  text.copy(buffer, text.size());
  buffer[text.size()] = '\0';
  std::array<std::uint8_t, 16> out{};
  if (inet_pton(AF_INET, buffer, out.data() + 12) == 1) {
    out[10] = out[11] = 0xff;
    return out;
  }
  if (inet_pton(AF_INET6, buffer, out.data()) == 1) return out;
  return std::nullopt;
}

namespace {
bool is_v4_mapped(const std::array<std::uint8_t, 16>& a) noexcept {
  for (int i = 0; i < 10; ++i)
    if (a[i] != 0) return false;
  return a[10] == 0xff && a[11] == 0xff;
}
void cut(std::array<std::uint8_t, 16>& a, unsigned bits) noexcept {
  for (unsigned i = 0; i < 16; ++i) {
    if (bits >= 8 * (i + 1)) continue;
    const unsigned keep = bits > 8 * i ? bits - 8 * i : 0;
    a[i] = static_cast<std::uint8_t>(a[i] & (0xFF00u >> keep));
  }
}
}  // namespace

std::optional<SourceKey> source_key(std::string_view address, unsigned ipv6_prefix) noexcept {
  const auto bytes = parse_address(address);
  if (!bytes) return std::nullopt;
  return source_key(*bytes, ipv6_prefix);
}

SourceKey source_key(const std::array<std::uint8_t, 16>& address, unsigned ipv6_prefix) noexcept {
  SourceKey key;
  key.bytes = address;
  if (!is_v4_mapped(key.bytes)) cut(key.bytes, ipv6_prefix);
  return key;
}

bool Cidr::contains(const std::array<std::uint8_t, 16>& address) const noexcept {
  std::array<std::uint8_t, 16> a = address;
  cut(a, bits);
  return a == bytes;
}

bool overlaps(const Cidr& block, const SourceKey& key, unsigned ipv6_prefix) noexcept {
  const unsigned key_bits = is_v4_mapped(key.bytes) ? 128 : std::min(ipv6_prefix, 128u);
  if (block.bits <= key_bits) return block.contains(key.bytes);
  return Cidr{key.bytes, key_bits}.contains(block.bytes);
}

std::optional<Cidr> parse_cidr(std::string_view text) noexcept {
  const std::size_t slash = text.find('/');
  const auto bytes = parse_address(text.substr(0, slash));
  if (!bytes) return std::nullopt;
  const bool v4 = is_v4_mapped(*bytes) && text.substr(0, slash).find(':') == std::string_view::npos;
  unsigned bits = v4 ? 32 : 128;
  if (slash != std::string_view::npos) {
    const std::string_view digits = text.substr(slash + 1);
    if (digits.empty() || digits.size() > 3) return std::nullopt;
    unsigned v = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    if (v > bits) return std::nullopt;
    bits = v;
  }
  Cidr cidr;
  cidr.bits = v4 ? bits + 96 : bits;
  cidr.bytes = *bytes;
  cut(cidr.bytes, cidr.bits);
  return cidr;
}

}  // namespace sbc
