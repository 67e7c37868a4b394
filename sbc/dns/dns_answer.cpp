#include "sbc/dns/dns_answer.hpp"

namespace sbc::dns {
namespace {

constexpr std::size_t kHeaderSize = 12;

std::uint16_t read16(std::span<const unsigned char> m, std::size_t at) noexcept {
  return static_cast<std::uint16_t>(m[at] << 8 | m[at + 1]);
}

// The offset just after the (possibly compressed) name at `at`, or none when it runs past the
// end. A compression pointer ends the name where it stands, so no loop can follow.
std::optional<std::size_t> skip_name(std::span<const unsigned char> m, std::size_t at) noexcept {
  while (at < m.size()) {
    const unsigned char length = m[at];
    if (length == 0) return at + 1;
    if ((length & 0xC0) == 0xC0) {
      if (at + 2 > m.size()) return std::nullopt;
      return at + 2;
    }
    if ((length & 0xC0) != 0) return std::nullopt;  // reserved label types
    at += 1 + length;
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::uint32_t> min_answer_ttl(std::span<const unsigned char> message,
                                            std::uint16_t type) noexcept {
  if (message.size() < kHeaderSize) return std::nullopt;
  const std::uint16_t questions = read16(message, 4);
  const std::uint16_t answers = read16(message, 6);
  std::size_t at = kHeaderSize;
  for (std::uint16_t q = 0; q < questions; ++q) {
    const auto end = skip_name(message, at);
    if (!end || *end + 4 > message.size()) return std::nullopt;
    at = *end + 4;  // type, class
  }
  std::optional<std::uint32_t> smallest;
  for (std::uint16_t a = 0; a < answers; ++a) {
    const auto end = skip_name(message, at);
    if (!end || *end + 10 > message.size()) return std::nullopt;
    at = *end;
    const std::uint16_t record_type = read16(message, at);
    const std::uint32_t ttl =
        static_cast<std::uint32_t>(read16(message, at + 4)) << 16 | read16(message, at + 6);
    const std::uint16_t length = read16(message, at + 8);
    at += 10;
    if (at + length > message.size()) return std::nullopt;
    at += length;
    // RFC 2181 section 8: a TTL with the top bit set is read as zero.
    const std::uint32_t effective = ttl > 0x7FFFFFFFu ? 0 : ttl;
    if (record_type == type && (!smallest || effective < *smallest)) smallest = effective;
  }
  return smallest;
}

std::string srv_name(std::string_view host, Protocol protocol) {
  std::string name = protocol == Protocol::Udp   ? "_sip._udp."
                     : protocol == Protocol::Tcp ? "_sip._tcp."
                                                 : "_sips._tcp.";
  name += host;
  return name;
}

}  // namespace sbc::dns
