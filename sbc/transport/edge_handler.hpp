#pragma once
// The first stage after the socket: parse and validate one message, then answer what the edge
// answers itself. Pure (no I/O): the transport hands bytes in and sends back what comes out, so
// every decision here is unit-tested without sockets. One instance per worker; not thread-safe.

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/counter.hpp"
#include "metrics/histogram.hpp"
#include "policy/chain.hpp"
#include "sbc/common/flow.hpp"
#include "sbc/sip/message.hpp"
#include "sbc/transport/routing.hpp"

namespace sbc::transport {

struct EdgeOptions {
  sip::Limits limits;
  std::vector<std::string> proxy_require_supported;
};

// Per-worker counters (one writer each), added up by the metrics scrape.
struct EdgeStats {
  std::array<metrics::Counter, 3> received;  // by Protocol
  std::array<metrics::Counter, 3> sent;      // to the outside, by Protocol (counted by the worker)
  // Messages that parsed far enough to tell, by Protocol and kind: [0] REGISTER, [1] INVITE,
  // [2] other requests, [3] responses.
  std::array<std::array<metrics::Counter, 4>, 3> received_by_kind;
  std::array<metrics::Counter, 7> answers;  // by status class: [1] 1xx ... [6] 6xx
  metrics::Counter invalid_answered;        // invalid requests answered 4xx/5xx
  metrics::Counter invalid_dropped;         // invalid responses, requests no answer can reach
  metrics::Counter options_answered;        // OPTIONS addressed to the SBC itself
  metrics::Counter unrouted_answered;       // valid requests answered 503 while no relay exists
  metrics::Counter relayed;                 // valid messages handed to the relay
  metrics::Counter acks_absorbed;
  metrics::Counter responses_dropped;      // valid responses with no transaction to go to
  metrics::Counter amplification_refused;  // UDP answers larger than the request, over budget
  // TLS handshakes of this worker's connections (counted by tls/): completed by version
  // ([0] TLS 1.2, [1] TLS 1.3), refused or broken, timed out.
  std::array<metrics::Counter, 2> tls_handshakes_ok;
  metrics::Counter tls_handshakes_failed;
  metrics::Counter tls_handshakes_timed_out;
  metrics::Histogram tls_handshake_duration{metrics::kHandshakeBounds};  // completed ones
  // The SBC's own time for a relayed message, from its arrival to its hand-off toward the other
  // side, by RelayDirection (measured by the worker).
  std::array<metrics::Histogram, 2> relay_processing{
      metrics::Histogram{metrics::kMessageProcessingBounds},
      metrics::Histogram{metrics::kMessageProcessingBounds}};
};

// Sees every message the edge handles, and whether the edge or the policies refused it (the pcap
// capture). Called on the worker's thread: it must not block.
class MessageTap {
 public:
  virtual ~MessageTap() = default;
  virtual void observe(std::string_view bytes, const FlowInfo& flow, bool rejected) noexcept = 0;
};

// Gives a UDP message its flow (FlowInfo::flow_token) when the edge hands it to the router, and
// only then: a datagram that is invalid, from a banned or denied source, or refused by a policy
// never touches the flow table (flow_table.hpp).
class FlowBinder {
 public:
  virtual ~FlowBinder() = default;
  // The flow of the message being handled; `hold`: a request that a registration or a dialog
  // will route back through (REGISTER, dialog-creating requests). 0: none.
  virtual std::uint64_t bind_flow(bool hold) noexcept = 0;
};

class EdgeHandler {
 public:
  enum class Action : std::uint8_t { None, Reply };
  struct Outcome {
    Action action = Action::None;
    std::string_view reply;      // valid until the next call
    sip::Verdict verdict;        // why
    bool authenticated = false;  // relayed after Digest authentication at the edge
    bool close_after = false;    // a stream closes once the reply is written (draining)
  };

  explicit EdgeHandler(EdgeOptions options);

  // One message: a whole datagram, or one message cut from a stream.
  Outcome handle(std::string_view bytes, sip::Framing framing, const FlowInfo& flow) noexcept;
  // A request whose framing failed on a stream: answer it if its headers allow.
  Outcome reject_stream(std::string_view header_section, std::uint16_t status,
                        std::string_view reason, const FlowInfo& flow) noexcept;

  const EdgeStats& stats() const noexcept { return stats_; }
  // For the transport's own counters (TLS handshakes), on this worker's thread.
  EdgeStats& counters() noexcept { return stats_; }
  // What valid messages go to after the edge's own checks; none: requests get 503.
  void set_router(Router* router) noexcept { router_ = router; }
  // The security policies every request passes before anything answers or relays it; none: all
  // pass. Banned sources are dropped before parsing.
  void set_policy(policy::Chain* chain) noexcept { policy_ = chain; }
  policy::Chain* policy() noexcept { return policy_; }
  void set_tap(MessageTap* tap) noexcept { tap_ = tap; }
  // Binds flows of messages that arrive without one (UDP) when they reach the router.
  void set_flow_binder(FlowBinder* binder) noexcept { flow_binder_ = binder; }
  // Set from SIGTERM on: an OPTIONS ping of the SBC itself is answered 503 (a load balancer or a
  // trunk that pings us stops sending). None: never draining.
  void set_draining(const std::atomic<bool>* draining) noexcept { draining_ = draining; }

 private:
  Outcome reply(const sip::Verdict& verdict, const FlowInfo& flow,
                std::span<const std::string_view> extra = {}) noexcept;
  bool addressed_to_self(const sip::Message& m) const noexcept;
  Outcome handle_message(std::string_view bytes, sip::Framing framing,
                         const FlowInfo& flow) noexcept;
  // `flow`, or a copy of it in `copy` with its flow bound (see FlowBinder).
  const FlowInfo& routed(const FlowInfo& flow, const sip::Message& m, FlowInfo& copy) noexcept;
  Outcome refused(Outcome outcome) noexcept {
    rejected_ = true;
    return outcome;
  }

  EdgeOptions options_;
  std::vector<std::string_view> supported_views_;
  std::unique_ptr<sip::Message> message_;
  std::array<char, 4096> out_{};
  std::array<char, 512> scratch_{};
  std::size_t request_bytes_ = 0;  // of the message being handled
  EdgeStats stats_;
  Router* router_ = nullptr;
  policy::Chain* policy_ = nullptr;
  MessageTap* tap_ = nullptr;
  FlowBinder* flow_binder_ = nullptr;
  const std::atomic<bool>* draining_ = nullptr;
  bool rejected_ = false;  // of the message being handled
};

}  // namespace sbc::transport
