#pragma once
// The seam between the transport (sockets, flows) and the relay (transactions, routing). The
// transport hands the relay every valid message it does not answer itself; the relay sends
// through the transport's Wire. Both sides run on one worker's thread.

#include <cstdint>
#include <optional>
#include <string_view>

#include "sbc/common/flow.hpp"
#include "sbc/sip/message.hpp"

namespace sbc::transport {

// Where a flow ends on our side: what our Via and Record-Route show on that side.
struct FlowAddress {
  Protocol protocol = Protocol::Udp;
  std::string_view local_ip;
  std::uint16_t local_port = 0;
  std::string_view remote_ip;       // the party at the other end (valid until the next call)
  std::uint16_t listener_port = 0;  // the port the listener is bound to (per-listener settings)
};

// Implemented by the relay (sbc/proxy).
class Router {
 public:
  virtual ~Router() = default;
  // A valid request from the outside that the edge and the policies let through.
  virtual void request_from_outside(const sip::Message& request, const FlowInfo& flow) noexcept = 0;
  // A valid response from the outside (to a request the relay sent down a flow).
  virtual void response_from_outside(const sip::Message& response,
                                     const FlowInfo& flow) noexcept = 0;
  // A message from the inside (the core): a datagram on the inside socket, or one framed out of
  // an inside connection over `protocol` (TCP, TLS), from source_ip:source_port.
  virtual void message_from_inside(std::string_view bytes, Protocol protocol,
                                   std::string_view source_ip,
                                   std::uint16_t source_port) noexcept = 0;
  // Nothing could be sent to ip:port over `protocol`: a connection toward it could not be opened
  // (refused, timed out, TLS handshake failed) or broke with messages unsent. Never called from
  // inside a Wire::send_inside call.
  virtual void inside_failed(Protocol protocol, std::string_view ip,
                             std::uint16_t port) noexcept = 0;
  // Called every few milliseconds: transaction timers.
  virtual void tick() noexcept = 0;
};

// Implemented by the worker (sbc/transport).
class Wire {
 public:
  virtual ~Wire() = default;
  // Sends down an outside flow; false when the flow is gone.
  virtual bool send_outside(std::uint64_t flow_token, std::string_view bytes) noexcept = 0;
  // Our end of an outside flow, if it still exists.
  virtual std::optional<FlowAddress> flow_address(std::uint64_t flow_token) const noexcept = 0;
  // Sends toward the inside: a datagram from the inside socket (UDP), or over the worker's
  // connection to ip:port (TCP, TLS), opened when there is none. Failures come back
  // asynchronously through Router::inside_failed.
  virtual void send_inside(Protocol protocol, std::string_view ip, std::uint16_t port,
                           std::string_view bytes) noexcept = 0;
  // True from SIGTERM on: the SBC drains, and requests that would start something new (a
  // dialog, a registration) are refused with 503 while running ones finish.
  virtual bool draining() const noexcept { return false; }
  // Closes a stream flow once what is queued on it has been written (after the drain's 503);
  // nothing for a UDP flow or a flow that is gone.
  virtual void close_after_sent(std::uint64_t /*flow_token*/) noexcept {}
};

}  // namespace sbc::transport
