#pragma once
// The relay: a transaction-stateful, record-routing edge proxy between the outside (user agents,
// trunks) and the inside (the SIP core), RFC 3261 sections 16 and 17. One per worker, on that
// worker's thread; pure (no sockets): it sends through a transport::Wire and keeps time through a
// clock it is given, so every path is unit-tested without the network.
//
// What it does:
// - Server and client transactions for INVITE and non-INVITE with the timers of RFC 3261
//   Appendix A; request retransmissions are absorbed and answered with the last response;
//   requests to the core are retransmitted over UDP (timers A/E) and time out with 408 (B/F, C).
// - 100 Trying for INVITE; CANCEL answered and relayed; ACK for non-2xx absorbed hop by hop;
//   ACK and other requests for 2xx routed statelessly by Route.
// - Our Via on top with an RFC 3261 branch that names the transaction (slot + generation) and
//   carries a loop hash (482 for a request that comes back unchanged); received/rport (RFC 3581)
//   on the client's Via.
// - Record-Route (two entries, inside and outside) on dialog-creating requests; Path (RFC 3327)
//   on REGISTER. Both carry the outside flow's token, so a request from the core that comes back
//   through them goes down that very flow; 430 Flow Failed when it is gone (RFC 5626).
// - Topology hiding: the core's Via stack never leaves to the outside (kept in the transaction,
//   restored on the response); optionally (relay.mask_call_id) neither do its Call-IDs, sealed
//   deterministically on the legs toward the outside and opened on what comes back.
// - Trust boundary: identity headers (P-Asserted-Identity …) and Path from the outside are removed;
//   an SDP body from the outside is read and checked (RFC 8866) before it goes anywhere.
// - The registrations whose 2xx it relayed to the outside, in a bounded view for the operator
//   (registration_view.hpp; `sbc ctl flows`).

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>

#include "metrics/counter.hpp"
#include "metrics/histogram.hpp"
#include "sbc/crypto/token_sealer.hpp"
#include "sbc/proxy/core_set.hpp"
#include "sbc/proxy/media_port.hpp"
#include "sbc/proxy/registration_view.hpp"
#include "sbc/proxy/relay_settings.hpp"
#include "sbc/transport/routing.hpp"

namespace sbc::proxy {

using Clock = std::chrono::steady_clock;

// Per-worker counters (one writer each), added up by the metrics scrape.
struct RelayStats {
  metrics::Counter requests_to_core;          // new requests relayed to the core
  metrics::Counter requests_to_outside;       // new requests relayed from the core down a flow
  metrics::Counter responses_to_outside;      // responses relayed to the outside
  metrics::Counter responses_to_core;         // responses relayed to the core
  metrics::Counter retransmissions_absorbed;  // request retransmissions answered from state
  metrics::Counter retransmissions_sent;      // our own retransmissions (UDP timers A, E, G)
  metrics::Counter stateless_forwarded;       // ACK for 2xx and other transaction-less requests
  metrics::Counter timeouts;                  // 408 sent because the next hop did not answer
  metrics::Counter cancels;                   // CANCEL matched and relayed
  metrics::Counter no_transaction;            // CANCEL without its INVITE (481)
  metrics::Counter flow_failed;               // 430: the flow of a registration is gone
  metrics::Counter loops;                     // 482
  metrics::Counter not_routable;              // request from the core without our route (403)
  metrics::Counter table_full;                // 503: the transaction table is full
  metrics::Counter memory_full;               // 503: relay.max_transaction_bytes spent
  metrics::Counter stray_responses;           // responses matching no transaction
  metrics::Counter inside_invalid;            // invalid messages from the inside, dropped
  metrics::Counter too_large;                 // a relayed message would exceed the size limit
  metrics::Counter failovers;                 // requests sent on to another core
  metrics::Counter no_core;                   // 503: no core usable
  metrics::Counter sips_refused;  // 416: a sips: request and no TLS path (relay.sips_end_to_end)
  metrics::Counter transport_errors;  // requests a connection to their core could not carry
  metrics::Counter dialog_refused;    // in-dialog request not from a party of the dialog (481)
  metrics::Counter draining;          // 503: a new request while the SBC drains (SIGTERM)
  // Messages from the outside with more trust-domain headers than could be removed (400, or
  // dropped for ACKs and responses): never relayed with some left.
  metrics::Counter untrusted_refused;
  // Requests from the outside whose SDP body broke RFC 8866 or a bound (400 naming the defect),
  // and ACKs and responses from the outside dropped for one: never relayed (sbc/media/sdp.hpp).
  metrics::Counter sdp_refused;
  metrics::Counter sdp_dropped;
  // Requests from the outside whose preloaded Route entries (not ours, not a dialog's route set)
  // were removed: the core is chosen by our routing only.
  metrics::Counter foreign_routes_removed;
  // Responses not sent to an unproved UDP source: they would have taken what a transaction sent
  // it past 3 times what it received from it (provisionals, retransmissions; RFC 9000 8's rule).
  metrics::Counter amplification_dropped;
  metrics::Counter probe_mismatches;         // probe answers naming no outstanding probe: ignored
  metrics::Counter stateless_acks_absorbed;  // ACKs of the edge's own transaction-less answers
  metrics::Counter dialogs_established;      // 2xx relayed to an INVITE outside a dialog
  metrics::Counter dialogs_ended;            // 2xx relayed to a BYE
  // New calls from the outside refused by policy.calls, by the scope over its limit, and new
  // calls either way refused because the dialog table (relay.max_dialogs) was full.
  metrics::Counter call_limit_user;
  metrics::Counter call_limit_source;
  metrics::Counter call_limit_total;
  metrics::Counter call_limit_table;  // the limit's own table: the key's window full
  metrics::Counter dialog_table_full;
  metrics::Counter dialogs_timed_out;  // forgotten after relay.session_timeout without a refresh
  // Media anchoring: requests to the media relay by command and result, the calls anchored now
  // (sessions opened - closed), what went through unanchored (media.on_failure pass, a call not
  // in the dialog table, a late offer), and how long the media relay took.
  std::array<metrics::Counter, 3> media_ok;      // by MediaOp
  std::array<metrics::Counter, 3> media_failed;  // by MediaOp
  metrics::Counter media_sessions_opened;
  metrics::Counter media_sessions_closed;
  metrics::Counter media_unanchored;
  metrics::Counter media_srtp_bridged;  // offers bridged between SDES-SRTP and RTP (media.srtp)
  metrics::Counter media_srtp_refused;  // offers without SRTP on a listener requiring it: 488
  metrics::Histogram media_time{metrics::kTransactionBounds};
  // From a request's arrival to its first final answer, by direction and method: [0] to the
  // core, INVITE; [1] to the core, other; [2] to the outside, INVITE; [3] to the outside, other.
  std::array<metrics::Histogram, 4> transaction_time{
      metrics::Histogram(metrics::kTransactionBounds),
      metrics::Histogram(metrics::kTransactionBounds),
      metrics::Histogram(metrics::kTransactionBounds),
      metrics::Histogram(metrics::kTransactionBounds)};
  metrics::Counter transactions_started;
  metrics::Counter transactions_ended;  // started - ended = active
};

class Relay final : public transport::Router {
 public:
  Relay(
      RelaySettings settings, transport::Wire& wire,
      std::function<Clock::time_point()> clock = [] { return Clock::now(); });
  ~Relay() override;
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  void request_from_outside(const sip::Message& request,
                            const sbc::FlowInfo& flow) noexcept override;
  void response_from_outside(const sip::Message& response,
                             const sbc::FlowInfo& flow) noexcept override;
  void message_from_inside(std::string_view bytes, sbc::Protocol protocol,
                           std::string_view source_ip, std::uint16_t source_port) noexcept override;
  void inside_failed(sbc::Protocol protocol, std::string_view ip,
                     std::uint16_t port) noexcept override;
  // A datagram from the inside socket (tests, fuzzing).
  void datagram_from_inside(std::string_view bytes, std::string_view source_ip,
                            std::uint16_t source_port) noexcept {
    message_from_inside(bytes, sbc::Protocol::Udp, source_ip, source_port);
  }
  void tick() noexcept override;

  // Called (on the worker's thread) with the client's address and transport when the core
  // refuses a request for its credentials: a 401/407 to a request that carried some, or a 403.
  void set_refusal_listener(
      std::function<void(std::string_view remote_ip, sbc::Protocol protocol)> listener);
  // Called (on the worker's thread) with the client's address and the status of every first
  // final answer relayed to the outside (the policies score the answer classes a source gets).
  void set_answer_listener(
      std::function<void(std::string_view remote_ip, std::uint16_t status)> listener);

  // Called (on the worker's thread) for a BYE from the outside whose call leg this relay does
  // not hold: it may be another worker's (a UDP BYE from another source port than the INVITE's,
  // a new connection). The daemon hands it to the other relays' end_call.
  using CallEnd = std::function<void(std::string_view inside_call_id, std::string_view from_tag,
                                     std::string_view to_tag)>;
  void set_unknown_bye_listener(CallEnd listener);
  // Ends the call leg that a BYE from the outside with these identifiers names, if this relay
  // holds it (on this relay's thread).
  void end_call(std::string_view inside_call_id, std::string_view from_tag,
                std::string_view to_tag) noexcept;

  const RelayStats& stats() const noexcept;
  std::size_t active_transactions() const noexcept;
  // Calls held (dialog_table.hpp): attempts and established dialogs, and established only.
  std::size_t active_dialogs() const noexcept;
  std::size_t established_dialogs() const noexcept;
  // policy.calls on a reload (on this relay's thread): calls up keep their places.
  void set_call_limits(const CallLimitSettings& limits) noexcept;
  // Anchors the media of the calls from now on (null: none); the port outlives the relay.
  void set_media_port(MediaPort* port) noexcept;
  // Bytes the transaction slots hold (relay.max_transaction_bytes bounds it).
  std::size_t transaction_bytes() const noexcept;
  const RelaySettings& settings() const noexcept;
  // The registrations whose 2xx this relay relayed to the outside (registration_view.hpp); read
  // on this relay's thread.
  const RegistrationView& registrations() const noexcept;
  const CoreSet& cores() const noexcept;
  // Makes `targets` the cores (cores by DNS name, on a new answer); on this relay's thread.
  // Transactions in flight finish on their core. Returns how many targets did not fit.
  std::size_t replace_cores(const std::vector<CoreTarget>& targets);
  // Transactions to each core (by index) still waiting for its final answer: the admin API's
  // count, read by walking the table on this relay's thread (not kept on the message path).
  std::array<std::uint32_t, CoreSet::kMaxCores> in_flight_by_core() const noexcept;
  // Drains (or enables) the cores in the set that `which` names (sbc ctl core drain); on this
  // relay's thread. Returns how many it named.
  std::size_t set_drained(const std::function<bool(const CoreTarget&)>& which, bool drained);
  // relay.token_keys on a reload: the first seals from now on, all open (a rotation keeps the
  // registrations and dialogs whose tokens an old key sealed, while it stays in the list). False
  // (nothing changed) for a list the sealer refuses (empty, an id twice).
  bool set_token_keys(const std::vector<sbc::crypto::TokenSealer::Key>& keys) noexcept;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sbc::proxy
