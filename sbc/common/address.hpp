#pragma once
// Who a message comes from, as the policies count it: the source address, with IPv6 addresses
// cut to a prefix (/64 by default) so that an attacker rotating addresses inside the block its
// provider gave it stays one source. A fixed-size key: tables keyed by it never allocate.

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sbc {

struct SourceKey {
  std::array<std::uint8_t, 16> bytes{};  // IPv4: ::ffff:a.b.c.d
  bool operator==(const SourceKey&) const = default;
  std::uint64_t hash() const noexcept;
};

// An address as bytes (IPv4 mapped into IPv6), from its text form.
std::optional<std::array<std::uint8_t, 16>> parse_address(std::string_view text) noexcept;
// The key of a source: IPv4 whole, IPv6 cut to `ipv6_prefix` bits.
std::optional<SourceKey> source_key(std::string_view address, unsigned ipv6_prefix) noexcept;
SourceKey source_key(const std::array<std::uint8_t, 16>& address, unsigned ipv6_prefix) noexcept;

// An address block: "192.0.2.0/24", "2001:db8::/32", or one address.
struct Cidr {
  std::array<std::uint8_t, 16> bytes{};
  unsigned bits = 128;  // of the IPv6(-mapped) form
  bool contains(const std::array<std::uint8_t, 16>& address) const noexcept;
};
std::optional<Cidr> parse_cidr(std::string_view text) noexcept;
// Whether the block of `key` (an IPv4 address, or an IPv6 prefix of `ipv6_prefix` bits) and
// `block` share an address: one holds the other (`sbc ctl bans --source`, `unban PREFIX`).
bool overlaps(const Cidr& block, const SourceKey& key, unsigned ipv6_prefix) noexcept;

// IPv6 literals in text: as the host of a URI, a Via or a host:port, an IPv6 address goes in
// brackets (RFC 3261 25.1 IPv6reference, RFC 3986 3.2.2); an IPv4 address or a name does not.
constexpr bool needs_brackets(std::string_view host) noexcept {
  return host.find(':') != std::string_view::npos;
}
// `host` appended to `out` as a URI writes it: "[2001:db8::1]", "192.0.2.1".
inline void append_host(std::string& out, std::string_view host) {
  const bool brackets = needs_brackets(host);
  if (brackets) out += '[';
  out += host;
  if (brackets) out += ']';
}
inline std::string host_for_uri(std::string_view host) {
  std::string out;
  out.reserve(host.size() + 2);
  append_host(out, host);
  return out;
}
// The address inside an IPv6 reference ("[2001:db8::1]"); any other text as it is.
constexpr std::string_view strip_brackets(std::string_view host) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    return host.substr(1, host.size() - 2);
  return host;
}

}  // namespace sbc
