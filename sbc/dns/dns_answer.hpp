#pragma once
// What c-ares 1.18 does not give us from a DNS answer: the TTL of its SRV records (its SRV parser
// drops them). The message comes from the network, so every read is bounds-checked.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "sbc/common/flow.hpp"

namespace sbc::dns {

// The smallest TTL of the answer records of `type` in the DNS message; none when the message is
// malformed or has no such record.
std::optional<std::uint32_t> min_answer_ttl(std::span<const unsigned char> message,
                                            std::uint16_t type) noexcept;

// The SRV name RFC 3263 queries for a SIP target over `protocol`: "_sip._udp.", "_sip._tcp." or
// "_sips._tcp." followed by `host`.
std::string srv_name(std::string_view host, Protocol protocol);

// The port of a target found by A/AAAA only (no SRV record, no port in the URI).
constexpr std::uint16_t default_port(Protocol protocol) noexcept {
  return protocol == Protocol::Tls ? 5061 : 5060;
}

}  // namespace sbc::dns
