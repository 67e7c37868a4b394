#pragma once
// Time and connection limits of stream transports (TCP and TLS).

#include <chrono>
#include <cstddef>

namespace sbc::transport {

struct StreamLimits {
  std::chrono::milliseconds first_byte_timeout{5000};  // accept (or handshake) -> first byte
  std::chrono::milliseconds message_timeout{10000};    // first byte of a message -> its last
  std::chrono::milliseconds idle_timeout{300000};      // between messages (keep-alives count)
  std::chrono::milliseconds handshake_timeout{5000};   // TLS handshake
  std::size_t max_connections = 10000;                 // all stream connections of the process
  // Per source as the policies count it: an IPv4 address, an IPv6 /policy.ipv6_prefix (/64).
  std::size_t max_connections_per_source = 100;
  // Per network: all sources of one IPv6 /48, of one IPv4 /24; 0: no cap.
  std::size_t max_connections_per_ipv6_48 = 400;
  std::size_t max_connections_per_ipv4_24 = 400;
  // The share of max_connections kept for trusted peers (policy.acl.trusted) and sources that
  // authenticated: when only that is left, other sources are refused.
  unsigned reserved_connections_percent = 10;
  // Unsent bytes per connection: reading pauses at this bound, and a message that would take the
  // queue past it closes the connection (toward the core: sending fails over).
  std::size_t max_queued_bytes = std::size_t{256} * 1024;
  // A connection whose queued bytes make no progress for this long is closed (the peer stopped
  // reading).
  std::chrono::milliseconds write_timeout{10000};
  std::size_t max_udp_flows = 16384;  // per worker; the least recently seen peer is evicted
  // Toward the core (TCP, TLS): how long opening a connection (with its TLS handshake) may take,
  // and how many inside connections one worker keeps (its own and those the core opened).
  std::chrono::milliseconds inside_connect_timeout{2000};
  std::size_t max_inside_connections = 64;
};

}  // namespace sbc::transport
