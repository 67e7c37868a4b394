#pragma once
// The relay's implementation (Relay::Impl), internal to sbc/proxy: one class, its member
// functions defined by concern across
//   relay.cpp            the RFC 3261 state machine's entry points and requests, both ways
//   relay_responses.cpp  responses, timers, the client side, local answers
//   relay_routing.cpp    our Route entries, dialog protection, loop detection, the ACK routed
//                        without a transaction, trust boundary (untrusted headers, SDP bodies)
//   relay_topology.cpp   topology hiding: Vias, Record-Route, Contacts, Request-URI
//   relay_dialogs.cpp    the calls: dialogs opened, refreshed and ended, the fraud limits
//   relay_media.cpp      media anchoring: offers and answers rewritten, sessions deleted
// and self-contained parts of their own: the transaction table (transaction_table.hpp), route
// tokens (route_tokens.hpp), Call-ID masking (call_id_mask.hpp), our Via and branches
// (branches.hpp), health probes (core_set.hpp).

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sbc/crypto/token_sealer.hpp"
#include "sbc/media/sdp.hpp"
#include "sbc/proxy/addresses.hpp"
#include "sbc/proxy/branches.hpp"
#include "sbc/proxy/call_id_mask.hpp"
#include "sbc/proxy/dialog_table.hpp"
#include "sbc/proxy/registration_view.hpp"
#include "sbc/proxy/relay.hpp"
#include "sbc/proxy/route_tokens.hpp"
#include "sbc/proxy/transaction_table.hpp"
#include "sbc/sip/editor.hpp"
#include "sbc/sip/writer.hpp"

namespace sbc::proxy {
namespace detail {

using sbc::FlowInfo;
using sbc::Protocol;
using sip::HeaderId;
using sip::Message;
using sip::Method;
using sip::Writer;

inline constexpr std::string_view kServer = "Server: sbc";
// The answer to a new request while the SBC drains (SIGTERM): the client retries elsewhere (RFC
// 3263: the next server of its list; behind a Service, another replica) or here after a while.
inline constexpr std::string_view kDrainingReason = "Service Unavailable (shutting down)";
inline constexpr std::string_view kDrainingRetryAfter = "Retry-After: 5";
// What a transaction may send to an unproved UDP source, in multiples of what it received.
inline constexpr std::uint64_t kAmplificationFactor = 3;
// Dialog slots the sweep for session timeouts looks at on every tick (10 ms): a table of 32768
// is swept in 1.3 s.
inline constexpr std::size_t kDialogSweepPerTick = 256;
// Contacts of one message we hide at most (a 3xx's list); the message editor bounds the edits.
inline constexpr std::size_t kMaxHiddenContacts = 16;

// Our own entries at the top of a Route set: how many, the flow token the first one names, and
// the inside routes a hidden (topology hiding) entry carries, to go in their place.
struct OwnRoutes {
  std::size_t count = 0;
  std::uint64_t flow_token = 0;
  std::string_view hidden_routes;
  // The address of the outside party the token was issued for (dialog protection).
  std::array<std::uint8_t, 16> participant{};
  bool has_participant = false;
  // The token was issued on a leg whose Call-ID the outside sees masked.
  bool masked_leg = false;
  // The token's dialog binding, if it has one (a bound token: RouteTokens::seal).
  bool bound = false;
  Binding binding;
  std::size_t key_index = 0;
};

inline bool is_dialog_creating(Method m) noexcept {
  return m == Method::Invite || m == Method::Subscribe || m == Method::Refer;
}

}  // namespace detail

// The relay's sources only include this header: its parts' names are the relay's own.
using namespace detail;  // NOLINT(google-build-using-namespace)

class Relay::Impl {
 public:
  Impl(RelaySettings settings, transport::Wire& wire, std::function<TimePoint()> clock);

  RelayStats stats;
  std::function<void(std::string_view, Protocol)> refusal_listener_;
  Relay::CallEnd unknown_bye_listener_;
  std::function<void(std::string_view, std::uint16_t)> answer_listener_;
  const RelaySettings& settings() const noexcept { return settings_; }
  const CoreSet& cores() const noexcept { return cores_; }
  CoreSet& cores() noexcept { return cores_; }
  TransactionTable& transactions() noexcept { return table_; }
  sbc::crypto::TokenSealer& sealer() noexcept { return sealer_; }
  std::size_t replace_cores(const std::vector<CoreTarget>& targets);
  void note_cores() noexcept;  // all_cores_, non_tls_cores_ from the set
  std::size_t active() const noexcept { return table_.active(); }
  std::size_t transaction_bytes() const noexcept { return table_.bytes(); }
  const RegistrationView& registrations() const noexcept { return registrations_; }
  const DialogTable& dialogs() const noexcept { return dialogs_; }
  void set_call_limits(const CallLimitSettings& limits) noexcept { call_limits_ = limits; }
  void end_call(std::string_view inside_call_id, std::string_view from_tag,
                std::string_view to_tag) noexcept;
  void set_media_port(MediaPort* port) noexcept { media_ = port; }

  // ---- entry points (relay.cpp) ----------------------------------------------------------
  void request_from_outside(const Message& m, const FlowInfo& flow) noexcept;
  void response_from_outside(const Message& m, const FlowInfo& /*flow*/) noexcept;
  void message_from_inside(std::string_view bytes, Protocol protocol, std::string_view ip,
                           std::uint16_t port) noexcept;
  void inside_failed(Protocol protocol, std::string_view ip, std::uint16_t port) noexcept;
  void tick() noexcept;

 private:
  // ---- requests both ways (relay.cpp) ----------------------------------------------------
  bool build_to_core(Transaction& t, const Message& m, const FlowInfo& flow,
                     const OwnRoutes& own) noexcept;
  void send_to_core(Transaction& t) noexcept;
  bool fail_over(Transaction& t, std::string_view reason) noexcept;
  void request_from_inside(const Message& m, const Address& source) noexcept;
  void cancel(const Message& m, const FlowInfo* flow, const Address& source) noexcept;
  void retransmission(Transaction& t, std::size_t size) noexcept;

  // ---- responses, timers, the client side, local answers (relay_responses.cpp) -----------
  void response(Transaction& t, const Message& m) noexcept;
  void final_from_core_as_500(Transaction& t, const Message& m) noexcept;
  bool forward_response(Transaction& t, const Message& m,
                        std::string_view status_line = {}) noexcept;
  void complete_invite_server(Transaction& t) noexcept;
  void note_registration(const Transaction& t, const Message& m) noexcept;
  void fire(Transaction& t) noexcept;
  void time_out(Transaction& t) noexcept;
  void give_up(Transaction& t, std::uint16_t status, std::string_view reason) noexcept;
  void schedule(Transaction& t) noexcept;
  void start_client(Transaction& t) noexcept;
  void send_client(const Transaction& t, std::string_view bytes) noexcept;
  void send_server(Transaction& t, std::string_view bytes, bool final_answer = false) noexcept;
  bool build_hop_request(const Transaction& t, std::string_view method, const Message* response,
                         std::string& out) noexcept;
  void send_cancel(Transaction& t) noexcept;
  void send_ack_for(Transaction& t, const Message& response) noexcept;
  void send_probe(std::size_t i) noexcept;
  void probe_answer(const Message& m) noexcept;
  std::string_view build_answer(const Message& m, std::uint16_t status, std::string_view reason,
                                std::string_view source_ip, std::uint16_t source_port,
                                std::span<const std::string_view> extra) noexcept;
  void answer_outside(const Message& m, const FlowInfo& flow, std::uint16_t status,
                      std::string_view reason,
                      std::span<const std::string_view> extra = {}) noexcept;
  void answer_inside(const Message& m, const Address& source, std::uint16_t status,
                     std::string_view reason,
                     std::span<const std::string_view> extra = {}) noexcept;
  void answer_in_transaction(Transaction& t, const Message& request, std::uint16_t status,
                             std::string_view reason) noexcept;
  void trim(Transaction& t) noexcept;
  void finish(Transaction& t) noexcept;
  bool write(const sip::MessageEditor& editor, std::string& out) noexcept;

  // ---- routing (relay_routing.cpp) -------------------------------------------------------
  // The Route entries of the message being handled, parsed once for the passes over them (our
  // own entries, the loop hash, the rewrite, the core they name) rather than once per pass.
  // Keyed by the message and its bytes, and forgotten at every entry point.
  static constexpr std::size_t kCachedRoutes = 8;
  struct RouteCache {
    const Message* message = nullptr;
    const char* bytes = nullptr;
    std::size_t size = 0;
    std::size_t count = 0;
    bool complete = false;  // all of the message's entries are here; else the passes parse
    std::array<sip::NameAddr, kCachedRoutes> entries{};
  };
  // The Route entries of a message one by one, as Message::name_addrs(HeaderId::Route) gives
  // them.
  class Routes {
   public:
    Routes(const RouteCache* cache, const Message& m) noexcept
        : cache_(cache), cursor_(m.name_addrs(HeaderId::Route)) {}
    bool next(sip::NameAddr& out) noexcept {
      if (cache_ == nullptr) return cursor_.next(out);
      if (index_ == cache_->count) return false;
      out = cache_->entries[index_++];
      return true;
    }

   private:
    const RouteCache* cache_;
    Message::ValueCursor<sip::NameAddr> cursor_;
    std::size_t index_ = 0;
  };
  // An ACK: absorbed by our INVITE server transaction, or routed by its Route set.
  void ack(const Message& m, const FlowInfo* flow) noexcept;
  bool in_dialog_allowed(const Message& m, const OwnRoutes& own,
                         const FlowInfo& flow) const noexcept;
  std::optional<std::size_t> named_core(const Message& m, const OwnRoutes& own) const noexcept;
  bool is_own_address(std::string_view host, std::uint16_t port,
                      const FlowInfo* flow) const noexcept;
  Routes routes_of(const Message& m) const noexcept;
  OwnRoutes own_routes(const Message& m, const FlowInfo* flow) noexcept;
  Binding dialog_binding(std::string_view outside_call_id, std::string_view from_tag,
                         const Transaction* t = nullptr) noexcept;
  std::uint32_t wall_seconds() const noexcept;
  bool strip_untrusted(sip::MessageEditor& editor) const noexcept;
  // Whether `m` (from the outside) carries an SDP body that breaks RFC 8866 or a bound; then
  // reason_ is the reason phrase of the 400 that refuses it.
  bool bad_sdp(const Message& m) noexcept;
  std::uint64_t cores_without_tls(const Message& m) const noexcept;
  bool masks_call_id(const Message& m, const OwnRoutes& own) const noexcept;
  bool rewrite_routes(const Message& m, sip::MessageEditor& editor, const OwnRoutes& own,
                      bool from_outside) noexcept;
  bool detect_loop(const Message& m, std::uint32_t hash) const noexcept;
  std::uint32_t loop_hash(const Message& m, std::string_view call_id,
                          std::size_t own_routes) const noexcept;
  std::string_view write_our_via(Protocol protocol, std::string_view host, std::uint16_t port,
                                 std::string_view branch) noexcept;
  std::string_view stateless_branch(std::string_view incoming) noexcept;

  // ---- calls (relay_dialogs.cpp) ---------------------------------------------------------
  // A new transaction t relays request m: a dialog-creating INVITE opens a call (from the
  // outside, `flow`, within policy.calls: else the scope that refused it), a re-INVITE or
  // UPDATE finds its call (refreshed by its 2xx), a BYE ends it.
  CallScope track_call(Transaction& t, const Message& m, const FlowInfo* flow) noexcept;
  void refuse_call(const Message& m, const FlowInfo& flow, CallScope scope) noexcept;
  // This relay's table in call_counts_ (0 in counts a relay made for itself).
  unsigned counts_worker() const noexcept {
    return call_counts_ && call_counts_->workers() > settings_.worker ? settings_.worker : 0;
  }
  // t's first final answer (status), or its end without one (status 0).
  void call_answered(Transaction& t, const Message* m, std::uint16_t status) noexcept;
  TimePoint session_expiry(const Message* answer) const noexcept;

  // ---- media anchoring (relay_media.cpp) -------------------------------------------------
  static bool is_sdp(const Message& m) noexcept;
  std::string_view media_session(const DialogTable::Dialog& d) noexcept;
  // True when t's request waits for its offer's rewrite (it goes on from request_media_done).
  // `srtp`: media.srtp of the listener of the outside flow the request came from or goes down.
  bool anchor_request(Transaction& t, const Message& m, bool from_outside,
                      RelaySettings::Srtp srtp = RelaySettings::Srtp::Off) noexcept;
  void ask_media(MediaOp op, const Transaction& t, const DialogTable::Dialog& d, const Message& m,
                 bool from_outside, std::string_view transport_protocol = {}) noexcept;
  // media.srtp: the listener's mode, and whether m offers SDES-SRTP only.
  RelaySettings::Srtp srtp_mode(Protocol protocol, std::uint16_t listener_port) const noexcept;
  bool srtp_offer(const Message& m) noexcept;
  // An SDP offer from the outside without SRTP on a listener that requires it (488).
  bool srtp_missing(const Message& m, const FlowInfo& flow) noexcept;
  void request_media_done(MediaOp op, std::uint32_t slot, std::uint32_t generation,
                          TimePoint started, const MediaResult& r) noexcept;
  MediaCall media_call(MediaOp op, const DialogTable::Dialog& d, const Message& m,
                       bool from_outside) noexcept;
  bool set_request_body(Transaction& t) noexcept;
  bool replace_body(std::string& bytes, std::string_view body) noexcept;
  void late_offer_anchored(Transaction& t) noexcept;
  bool anchor_ack(const Message& m, std::string& ack, const Address* core, std::uint64_t flow_token,
                  std::string_view source_ip = {}) noexcept;
  void ack_done(std::size_t slot, std::uint32_t id, TimePoint started,
                const MediaResult& r) noexcept;
  // True when response m waits for its answer's rewrite (it goes on from response_media_done).
  bool anchor_response(Transaction& t, const Message& m) noexcept;
  void response_media_done(MediaOp op, std::uint32_t slot, std::uint32_t generation,
                           TimePoint started, const MediaResult& r) noexcept;
  void media_closed(const DialogTable::Dialog& d) noexcept;

  // ---- topology hiding (relay_topology.cpp) ----------------------------------------------
  bool vias_to_outside(Transaction& t, const Message& m, const Address& source,
                       sip::MessageEditor& editor) noexcept;
  bool record_route_to_outside(Transaction& t, const Message& m, const OwnRoutes& own,
                               const transport::FlowAddress& address, Protocol inside_protocol,
                               bool mask, const Binding& binding,
                               sip::MessageEditor& editor) noexcept;
  bool hide_record_route(const Transaction& t, const Message& m,
                         sip::MessageEditor& editor) noexcept;
  bool restore_record_route(const Message& m, sip::MessageEditor& editor,
                            const Transaction& t) noexcept;
  bool is_inside_address(const sip::Uri& uri) const noexcept;
  bool restore_request_uri(const Message& m, sip::MessageEditor& editor) noexcept;
  bool hide_contacts(const Message& m, sip::MessageEditor& editor, std::uint64_t flow) noexcept;

  RelaySettings settings_;
  transport::Wire& wire_;
  std::function<TimePoint()> clock_;
  TimePoint now_{};
  CoreSet cores_;
  std::uint64_t all_cores_ = 0;      // bit i = core i
  std::uint64_t non_tls_cores_ = 0;  // the cores not reached over TLS
  sbc::crypto::TokenSealer sealer_;
  RouteTokens tokens_{sealer_};
  CallIdMask call_ids_{sealer_, settings_.mask_call_id};
  TokenPlain opened_routes_{};
  TokenPlain opened_contact_{};
  std::array<char, 4096> hidden_buffer_{};
  TransactionTable table_;
  RegistrationView registrations_;           // the REGISTER 2xx relayed out (sbc ctl flows)
  std::shared_ptr<CallCounts> call_counts_;  // policy.calls, shared by the workers
  CallLimitSettings call_limits_;
  DialogTable dialogs_;
  std::vector<std::string_view> untrusted_;  // relay.untrusted_headers
  std::vector<HeaderId> untrusted_ids_;      // their ids (HeaderId::Other: known by name only)
  bool untrusted_left_ = false;       // the last build_to_core failed on a header it must remove
  TimePoint clock_start_;             // the relay's clock at construction ...
  std::int64_t wall_start_ = 0;       // ... and the Unix time then (token expiry survives restarts)
  std::unique_ptr<Message> message_;  // messages from the inside
  std::unique_ptr<Message> scratch_;  // re-parsing what a transaction keeps
  std::unique_ptr<std::array<char, 65536>> out_;
  std::string stateless_;
  std::unique_ptr<media::Sdp> sdp_;  // the body last read (bad_sdp)
  MediaPort* media_ = nullptr;
  std::string media_session_;
  std::string media_buffer_;
  std::string media_held_;
  // ACKs whose answer to a late offer the media relay is rewriting, or rewrote (anchor_ack).
  struct HeldAck {
    DialogTable::Ref dialog;
    std::uint32_t cseq = 0;
    std::uint32_t id = 0;  // which hold a media result belongs to
    bool used = false, done = false, to_outside = false;
    std::uint64_t flow_token = 0;  // where it goes: down a flow, or to a core
    Address core;
    std::string bytes, body;  // the ACK as it goes on; its rewritten answer
    TimePoint keep_until{};
  };
  static constexpr std::size_t kHeldAcks = 64;
  std::vector<HeldAck> held_acks_;
  std::uint32_t held_ack_ids_ = 0;
  std::unique_ptr<Message> rewritten_;  // a response with its answer rewritten
  bool rewriting_response_ = false;
  std::string reason_;  // the reason phrase of the last refusal built (bad_sdp, refuse_call)
  std::array<char, 256> via_buffer_{};
  std::array<char, 1024> client_via_buffer_{};
  std::array<char, 2048> record_buffer_{};
  std::array<char, 4096> route_buffer_{};
  std::array<char, 8192> contact_buffer_{};
  std::array<char, kStatelessBranchSize> stateless_branch_{};
  mutable RouteCache route_cache_;
};

}  // namespace sbc::proxy
