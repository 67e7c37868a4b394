#pragma once
// Addresses as the relay reads and writes them in URIs and Vias. Internal to sbc/proxy.

#include <array>
#include <cstdint>
#include <string_view>

#include "sbc/common/address.hpp"
#include "sbc/common/flow.hpp"
#include "sbc/sip/message.hpp"

namespace sbc::proxy::detail {

// An IP address as 16 bytes (IPv4 mapped); zero when it does not parse.
using Ip = std::array<std::uint8_t, 16>;
inline Ip ip_bytes(std::string_view text) noexcept {
  const auto parsed = sbc::parse_address(text);
  return parsed ? *parsed : Ip{};
}

using sbc::strip_brackets;

// A URI's port, the default of its scheme and transport when it has none.
inline std::uint16_t port_of(const sip::Uri& uri) noexcept {
  if (uri.port != 0) return uri.port;
  const auto transport = uri.param("transport");
  return (uri.scheme == sip::Scheme::Sips || (transport && sip::iequals(transport.value, "tls")))
             ? 5061
             : 5060;
}

}  // namespace sbc::proxy::detail
