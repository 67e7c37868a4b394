#pragma once
// What the transport knows about where a message came from. It travels with every message to the
// stages after parsing (policies, relay).

#include <cstdint>
#include <string>
#include <string_view>

namespace sbc {

enum class Protocol : std::uint8_t { Udp, Tcp, Tls };

constexpr std::string_view protocol_name(Protocol p) noexcept {
  switch (p) {
    case Protocol::Udp:
      return "UDP";
    case Protocol::Tcp:
      return "TCP";
    case Protocol::Tls:
      return "TLS";
  }
  return "?";
}

// Lower case, as a URI's transport parameter, the configuration and the metrics' labels name it.
constexpr std::string_view transport_name(Protocol p) noexcept {
  switch (p) {
    case Protocol::Udp:
      return "udp";
    case Protocol::Tcp:
      return "tcp";
    case Protocol::Tls:
      return "tls";
  }
  return "udp";
}

struct TlsFacts {
  std::string_view version;        // "TLSv1.2", "TLSv1.3"
  std::string_view server_name;    // SNI the client asked for, if any
  std::string_view peer_identity;  // verified client certificate subject (mutual TLS), if any
};

struct FlowInfo {
  Protocol protocol = Protocol::Udp;
  // Our end as our headers show it (Via, Record-Route, Path): the listener's address and port, or
  // what listeners[].advertise names instead. Textual, IPv4-mapped IPv6 shown as IPv4.
  std::string_view local_ip;
  std::uint16_t local_port = 0;
  std::string_view remote_ip;
  std::uint16_t remote_port = 0;
  // The port the listener is bound to, when `advertise` shows another one (a NodePort, a load
  // balancer's port); 0: local_port. Per-listener settings go by this one (bound_port()).
  std::uint16_t listener_port = 0;
  TlsFacts tls;
  // The flow's token (see flow_table.hpp), to address it later; 0 when there is none.
  std::uint64_t flow_token = 0;
  // Set after Digest authentication at the edge (views into the message being handled): the
  // identity the relay asserts to the core, and the credentials header line it removes.
  std::string_view asserted_identity;
  std::string_view consumed_credentials;

  std::uint16_t bound_port() const noexcept {
    return listener_port != 0 ? listener_port : local_port;
  }
};

}  // namespace sbc
