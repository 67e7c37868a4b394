#include "sbc/proxy/relay.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <queue>
#include <random>
#include <string>
#include <vector>

#include "policy/source.hpp"
#include "sbc/common/keyed_hash.hpp"
#include "sbc/proxy/call_id_mask.hpp"
#include "sbc/proxy/route_tokens.hpp"
#include "sbc/proxy/transaction_table.hpp"
#include "sbc/sip/editor.hpp"
#include "sbc/sip/response.hpp"
#include "sbc/sip/writer.hpp"
#include "tls/token_sealer.hpp"

namespace sbc::proxy {
namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): the relay's own parts

using sip::HeaderId;
using sip::Message;
using sip::Method;
using sip::Writer;
using transport::FlowInfo;
using transport::Protocol;

constexpr std::string_view kServer = "Server: sbc";
// What a transaction may send to an unproved UDP source, in multiples of what it received.
constexpr std::uint64_t kAmplificationFactor = 3;
// Contacts of one message we hide at most (a 3xx's list); the message editor bounds the edits.
constexpr std::size_t kMaxHiddenContacts = 16;
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

bool is_dialog_creating(Method m) noexcept {
  return m == Method::Invite || m == Method::Subscribe || m == Method::Refer;
}

}  // namespace

class Relay::Impl {
 public:
  Impl(RelaySettings settings, transport::Wire& wire, std::function<TimePoint()> clock)
      : settings_(std::move(settings)),
        wire_(wire),
        clock_(std::move(clock)),
        cores_(settings_.cores, settings_.probe_interval),
        sealer_(settings_.token_keys.empty()
                    ? std::vector<tls::TokenSealer::Key>{tls::TokenSealer::random_key(0)}
                    : settings_.token_keys),
        table_(settings_.max_transactions, settings_.branch_seed, settings_.max_transaction_bytes,
               stats),
        message_(std::make_unique<Message>()),
        scratch_(std::make_unique<Message>()),
        out_(std::make_unique<std::array<char, 65536>>()) {
    for (std::size_t i = 0; i < cores_.size(); ++i) {
      all_cores_ |= std::uint64_t{1} << i;
      if (cores_.target(i).protocol != Protocol::Tls) non_tls_cores_ |= std::uint64_t{1} << i;
    }
    for (const std::string& name : settings_.untrusted_headers) {
      untrusted_.push_back(name);
      untrusted_ids_.push_back(sip::lookup_header(name));
    }
    clock_start_ = now_ = clock_();
    wall_start_ = std::chrono::duration_cast<std::chrono::seconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
  }

  RelayStats stats;
  std::function<void(std::string_view, Protocol)> refusal_listener_;
  std::function<void(std::string_view, std::uint16_t)> answer_listener_;
  const RelaySettings& settings() const noexcept { return settings_; }
  const CoreSet& cores() const noexcept { return cores_; }
  std::size_t active() const noexcept { return table_.active(); }
  std::size_t transaction_bytes() const noexcept { return table_.bytes(); }

  // ---- entry points ----------------------------------------------------------------------

  void request_from_outside(const Message& m, const FlowInfo& flow) noexcept {
    now_ = clock_();
    route_cache_.message = nullptr;
    if (m.method() == Method::Ack) return ack(m, &flow);
    const sip::Via& via = m.top_via();
    if (via.branch.empty())
      return answer_outside(m, flow, 400, "Missing Via branch (RFC 3261 8.1.1.7)");
    if (m.method() == Method::Cancel) return cancel(m, &flow, {});
    if (Transaction* t = table_.find_server(m, m.method()))
      return retransmission(*t, m.bytes().size());
    const OwnRoutes own = own_routes(m, &flow);
    if (!in_dialog_allowed(m, own, flow)) {
      stats.dialog_refused.inc();
      if (answer_listener_) answer_listener_(flow.remote_ip, 481);  // scored as a refusal
      return answer_outside(m, flow, 481, "Call/Transaction Does Not Exist");
    }
    const std::uint32_t hash = loop_hash(m, call_ids_.inside(m.call_id()), own.count);
    if (detect_loop(m, hash)) {
      stats.loops.inc();
      return answer_outside(m, flow, 482, "Loop Detected");
    }
    if (cores_.size() == 0) return answer_outside(m, flow, 503, "No core configured");
    // A request whose remaining Route names one of our cores (in a dialog) goes there; others
    // go to the core the set chooses, and may fail over to the next. A sips: request goes over
    // TLS to the core too (RFC 5630: TLS on every hop), so the other cores count as tried.
    const std::uint64_t excluded = cores_without_tls(m);
    const std::optional<std::size_t> named = named_core(m, own);
    if ((named && (excluded >> *named & 1u) != 0) || (excluded != 0 && excluded == all_cores_)) {
      stats.sips_refused.inc();
      return answer_outside(m, flow, 416, "Unsupported URI Scheme (no TLS path to the core)");
    }
    const std::optional<std::size_t> core = named ? named : cores_.choose(excluded, now_);
    if (!core) {
      stats.no_core.inc();
      const std::string_view retry[] = {"Retry-After: 10", kServer};
      return answer_outside(m, flow, 503, "Service Unavailable (no core available)", retry);
    }
    Transaction* t = table_.allocate(m.bytes().size());
    if (t == nullptr) {
      const std::string_view retry[] = {"Retry-After: 5", kServer};
      return answer_outside(m, flow, 503, table_.full_reason(), retry);
    }
    table_.begin(*t, Direction::ToCore, m, hash, now_);
    t->asserted_identity.assign(flow.asserted_identity);
    if (!flow.consumed_credentials.empty()) {
      t->consumed_offset =
          static_cast<std::uint32_t>(flow.consumed_credentials.data() - m.bytes().data());
      t->consumed_size = static_cast<std::uint32_t>(flow.consumed_credentials.size());
    }
    t->source_flow = flow.flow_token;
    t->source.set(flow.remote_ip, flow.remote_port, flow.protocol);  // refusals weigh by it
    t->server_reliable = flow.protocol != Protocol::Udp;
    // A UDP source proves it receives what we send by answering a Digest nonce, or by holding
    // the token of a dialog issued to its address (in_dialog_allowed checked it above).
    t->source_proved =
        !flow.asserted_identity.empty() || (settings_.dialog_protection && own.bound &&
                                            !m.to().tag.empty() && m.method() != Method::Register);
    t->core_index = *core;
    t->tried = excluded | std::uint64_t{1} << *core;
    t->failover_allowed = !named && m.to().tag.empty() && cores_.size() > 1;
    if (!build_to_core(*t, m, flow, own)) {
      table_.release(*t);
      if (untrusted_left_) {
        stats.untrusted_refused.inc();
        return answer_outside(m, flow, 400, "Bad Request (too many identity headers to remove)");
      }
      stats.too_large.inc();
      return answer_outside(m, flow, 513, "Message Too Large to relay");
    }
    send_to_core(*t);
    if (t->invite()) answer_in_transaction(*t, m, 100, "Trying");
    schedule(*t);
  }

  // The request as it goes to core t.core_index: our Via (with t's branch) on top, the client's
  // with received/rport, Max-Forwards decremented, our Route entries consumed, Record-Route or
  // Path added, untrusted headers removed. Into t.request.
  bool build_to_core(Transaction& t, const Message& m, const FlowInfo& flow,
                     const OwnRoutes& own) noexcept {
    const CoreTarget& core = cores_.target(t.core_index);
    t.core.set(core.ip, core.port, core.protocol);
    t.client_reliable = core.protocol != Protocol::Udp;
    const sip::Via& via = m.top_via();
    sip::MessageEditor editor(m);
    const std::string_view our_via =
        write_our_via(core.protocol, settings_.inside_ip, settings_.inside_port, t.branch_view());
    const std::size_t client_via =
        sip::write_via_with_source(via, flow.remote_ip, flow.remote_port, client_via_buffer_);
    bool ok = !our_via.empty() && client_via > 0;
    ok = ok && editor.replace(via.text, {client_via_buffer_.data(), client_via});
    ok = ok && editor.prepend_via(our_via);
    ok = ok && editor.decrement_max_forwards(static_cast<int>(settings_.max_forwards));
    ok = ok && rewrite_routes(m, editor, own, true);
    ok = ok && restore_request_uri(m, editor);
    // A Call-ID we masked gets the core's own back; the answers get the masked one again.
    const std::string_view call_id = call_ids_.inside(m.call_id());
    t.call_id_differs = call_id.data() != m.call_id().data();
    if (t.call_id_differs) {
      t.server_call_id.assign(m.call_id());
      ok = ok && editor.replace(m.call_id(), call_id);
    }
    ok = ok && call_ids_.open_quoted(m, editor);
    // Every trust-domain header goes, or the request does not: one left would let the outside
    // assert an identity to the core (RFC 3325 section 6).
    untrusted_left_ = !strip_untrusted(editor);
    ok = ok && !untrusted_left_;
    // The credentials the edge checked are spent here; the core gets the identity instead.
    if (!flow.consumed_credentials.empty())
      ok = ok && editor.replace(flow.consumed_credentials, {});
    if (!flow.asserted_identity.empty())
      ok = ok && editor.add_header("P-Asserted-Identity", flow.asserted_identity);
    const std::uint64_t token = flow.flow_token;
    const Ip participant = ip_bytes(flow.remote_ip);
    Writer record(record_buffer_);
    t.outside_entry = t.binding_mac = 0;
    if (is_dialog_creating(m.method()) && m.to().tag.empty()) {
      // Two entries: the core sees the inside one, the user agent the outside one.
      tokens_.entry(record, TokenKind::Flow, token, participant, {}, settings_.inside_ip,
                    settings_.inside_port, core.protocol)
          << ", ";
      const Binding binding = dialog_binding(m.call_id(), m.from().tag);
      tokens_.entry(record, TokenKind::Flow, token, participant, {}, flow.local_ip, flow.local_port,
                    flow.protocol, false, &binding);
      ok = ok && record.ok() && editor.add_record_route(record.view());
      if (!tokens_.last().empty()) t.outside_entry = RouteTokens::hash(tokens_.last());
      // `m` is the request as `original` keeps it (or its very bytes).
      t.binding_mac = binding.mac;
      t.binding_call_id_offset = static_cast<std::uint32_t>(m.call_id().data() - m.bytes().data());
      t.binding_call_id_size = static_cast<std::uint32_t>(m.call_id().size());
      t.binding_tag_offset = static_cast<std::uint32_t>(m.from().tag.data() - m.bytes().data());
      t.binding_tag_size = static_cast<std::uint32_t>(m.from().tag.size());
    } else if (m.method() == Method::Register) {
      // Only we may say which way the core reaches this user (RFC 3327): a Path from the outside
      // could point the core anywhere.
      untrusted_left_ = untrusted_left_ || !editor.strip_headers(HeaderId::Path);
      ok = ok && !untrusted_left_;
      tokens_.entry(record, TokenKind::Flow, token, participant, {}, settings_.inside_ip,
                    settings_.inside_port, core.protocol);
      ok = ok && record.ok() && editor.add_path(record.view());
    }
    return ok && write(editor, t.request);
  }

  void send_to_core(Transaction& t) noexcept {
    start_client(t);
    if (t.failover_allowed) t.failover_at = now_ + settings_.failover_timeout;
    wire_.send_inside(t.core.protocol, t.core.ip_view(), t.core.port, t.request);
    cores_.stats(t.core_index).requests.inc();
    stats.requests_to_core.inc();
  }

  // Core t.core_index failed this request before answering it: mark it and send the request to
  // the next usable core as a new client transaction (new branch). False when there is none.
  bool fail_over(Transaction& t) noexcept {
    cores_.failed(t.core_index, now_);
    if (!t.failover_allowed) return false;
    const std::optional<std::size_t> next = cores_.choose(t.tried, now_);
    if (!next) return false;
    const auto address = wire_.flow_address(t.source_flow);
    if (!address) return false;  // the client is gone: nobody to answer
    Message& original = *scratch_;
    if (!original.parse(t.original, sip::Framing::Datagram, settings_.limits).is_valid())
      return false;
    FlowInfo flow;
    flow.protocol = address->protocol;
    flow.local_ip = address->local_ip;
    flow.local_port = address->local_port;
    flow.remote_ip = t.source.ip_view();
    flow.remote_port = t.source.port;
    flow.flow_token = t.source_flow;
    flow.asserted_identity = t.asserted_identity;
    if (t.consumed_size != 0)
      flow.consumed_credentials = original.bytes().substr(t.consumed_offset, t.consumed_size);
    // A new generation makes a new branch: late answers of the failed core match nothing.
    if (++t.generation == 0) t.generation = 1;
    set_branch_generation(t.branch.data(), t.generation);
    t.wake_at = kNever;
    t.core_index = *next;
    t.tried |= std::uint64_t{1} << *next;
    t.provisional_seen = t.any_response = false;
    t.cancel_sent = false;
    if (!build_to_core(t, original, flow, own_routes(original, &flow))) return false;
    send_to_core(t);
    stats.failovers.inc();
    return true;
  }

  // Dialog protection (RFC 3261 26.1.4, tearing down sessions): a request inside a dialog
  // (To tag) from the outside must come through the Record-Route entry we issued for that dialog,
  // and from the address of the party we issued it to. A third party has no such token, and
  // cannot use someone else's from its own address: 481.
  // The token must also be bound to this very dialog (its Call-ID and the caller's tag, which
  // comes back as From or To tag) and not expired: a token from one real call opens no invented
  // dialog. A REGISTER is never in a dialog: a To tag on it exempts it from nothing.
  bool in_dialog_allowed(const Message& m, const OwnRoutes& own,
                         const FlowInfo& flow) const noexcept {
    if (!settings_.dialog_protection || m.to().tag.empty() || m.method() == Method::Register)
      return true;
    if (!own.has_participant || !own.bound) return false;
    if (own.participant != ip_bytes(flow.remote_ip)) return false;
    if (wall_seconds() > own.binding.expires) return false;
    const std::uint64_t mac = own.binding.mac;
    return sealer_.bind(m.call_id(), m.from().tag, own.key_index) == mac ||
           sealer_.bind(m.call_id(), m.to().tag, own.key_index) == mac;
  }

  // The core that the Route set left after ours names (a hidden entry's routes first), if it
  // is one of ours.
  std::optional<std::size_t> named_core(const Message& m, const OwnRoutes& own) const noexcept {
    if (!own.hidden_routes.empty()) {
      sip::Scanner in(own.hidden_routes);
      sip::NameAddr first;
      if (sip::parse_name_addr(in, first, sip::NameAddrRules::RouteLike))
        return cores_.find(strip_brackets(first.uri.host),
                           first.uri.port == 0 ? 5060 : first.uri.port);
      return std::nullopt;
    }
    // Outside a dialog of ours, a Route from the outside names nothing we follow.
    if (own.flow_token == 0) return std::nullopt;
    Routes routes = routes_of(m);
    sip::NameAddr route;
    for (std::size_t seen = 0; routes.next(route); ++seen) {
      if (seen < own.count) continue;
      return cores_.find(strip_brackets(route.uri.host),
                         route.uri.port == 0 ? 5060 : route.uri.port);
    }
    return std::nullopt;
  }

  // A response finds its transaction by our branch alone (RFC 3261 17.1.3), whatever flow it
  // came on.
  void response_from_outside(const Message& m, const FlowInfo& /*flow*/) noexcept {
    now_ = clock_();
    route_cache_.message = nullptr;
    Transaction* t = table_.find_client(m.top_via().branch);
    if (t == nullptr || t->direction != Direction::ToOutside) {
      stats.stray_responses.inc();
      return;
    }
    response(*t, m);
  }

  void message_from_inside(std::string_view bytes, Protocol protocol, std::string_view ip,
                           std::uint16_t port) noexcept {
    now_ = clock_();
    Message& m = *message_;
    const sip::Verdict verdict = m.parse(bytes, sip::Framing::Datagram, settings_.limits);
    route_cache_.message = nullptr;
    if (!verdict.is_valid()) {
      stats.inside_invalid.inc();
      return;
    }
    if (!m.is_request()) {
      if (m.top_via().branch.starts_with(kProbePrefix)) return probe_answer(m);
      Transaction* t = table_.find_client(m.top_via().branch);
      if (t == nullptr || t->direction != Direction::ToCore) {
        stats.stray_responses.inc();
        return;
      }
      return response(*t, m);
    }
    Address source;
    source.set(ip, port, protocol);
    request_from_inside(m, source);
  }

  // Nothing could be sent to ip:port over `protocol` (a connection to a core that could not be
  // opened, or broke with requests unsent): RFC 3261 17.1.4 treats it as a 503 from that core.
  // Its transactions that have no answer yet go to the next core, or are answered 503.
  void inside_failed(Protocol protocol, std::string_view ip, std::uint16_t port) noexcept {
    now_ = clock_();
    route_cache_.message = nullptr;
    if (const auto core = cores_.find(ip, port); core && cores_.target(*core).protocol == protocol)
      cores_.failed(*core, now_);
    for (Transaction& t : table_.slots()) {
      if (!t.used || t.direction != Direction::ToCore || t.final_seen || t.any_response ||
          t.core.protocol != protocol || t.core.ip_view() != ip || t.core.port != port)
        continue;
      stats.transport_errors.inc();
      if (!fail_over(t)) give_up(t, 503, "Service Unavailable (core unreachable)");
      schedule(t);
    }
  }

  void tick() noexcept {
    now_ = clock_();
    route_cache_.message = nullptr;
    if (const std::uint64_t due = cores_.probes_due(now_); due != 0)
      for (std::size_t i = 0; i < cores_.size(); ++i)
        if ((due >> i & 1u) != 0) send_probe(i);
    table_.wake_due(now_, [this](Transaction& t) {
      fire(t);
      if (t.used) schedule(t);
    });
  }

 private:
  // ---- requests from the inside ----------------------------------------------------------

  void request_from_inside(const Message& m, const Address& source) noexcept {
    if (m.method() == Method::Ack) return ack(m, nullptr);
    if (m.top_via().branch.empty()) return answer_inside(m, source, 400, "Missing Via branch");
    if (m.method() == Method::Cancel) return cancel(m, nullptr, source);
    if (Transaction* t = table_.find_server(m, m.method()))
      return retransmission(*t, m.bytes().size());
    if (m.max_forwards() == 0) return answer_inside(m, source, 483, "Too Many Hops");
    const OwnRoutes own = own_routes(m, nullptr);
    const std::uint32_t hash = loop_hash(m, m.call_id(), own.count);
    if (detect_loop(m, hash)) {
      stats.loops.inc();
      return answer_inside(m, source, 482, "Loop Detected");
    }
    if (own.flow_token == 0) {
      stats.not_routable.inc();
      return answer_inside(m, source, 403, "Forbidden (no route to the outside)");
    }
    const auto address = wire_.flow_address(own.flow_token);
    if (!address) {
      stats.flow_failed.inc();
      return answer_inside(m, source, 430, "Flow Failed");
    }
    if (settings_.sips_end_to_end && m.request_uri().scheme == sip::Scheme::Sips &&
        address->protocol != Protocol::Tls) {
      stats.sips_refused.inc();
      return answer_inside(m, source, 416, "Unsupported URI Scheme (the flow is not TLS)");
    }
    Transaction* t = table_.allocate(m.bytes().size());
    if (t == nullptr) {
      const std::string_view retry[] = {"Retry-After: 5", kServer};
      return answer_inside(m, source, 503, table_.full_reason(), retry);
    }
    table_.begin(*t, Direction::ToOutside, m, hash, now_);
    t->source = source;
    t->server_reliable = source.protocol != Protocol::Udp;
    t->dest_flow = own.flow_token;
    t->client_reliable = address->protocol != Protocol::Udp;

    sip::MessageEditor editor(m);
    const std::string_view our_via =
        write_our_via(address->protocol, address->local_ip, address->local_port, t->branch_view());
    bool ok = !our_via.empty();
    if (settings_.topology_hiding) {
      // The core's Via stack stays here; the response gets it back.
      t->hidden_vias.clear();
      auto vias = m.vias();
      sip::Via v;
      bool first = true;
      while (vias.next(v)) {
        if (!first) t->hidden_vias += ", ";
        if (first) {
          const std::size_t n =
              sip::write_via_with_source(v, source.ip_view(), source.port, client_via_buffer_);
          t->hidden_vias.append(client_via_buffer_.data(), n);
        } else {
          t->hidden_vias += v.text;
        }
        first = false;
      }
      ok = ok && editor.remove_headers(HeaderId::Via);
    } else {
      const std::size_t n = sip::write_via_with_source(m.top_via(), source.ip_view(), source.port,
                                                       client_via_buffer_);
      ok = ok && n > 0 && editor.replace(m.top_via().text, {client_via_buffer_.data(), n});
    }
    ok = ok && editor.prepend_via(our_via);
    ok = ok && editor.decrement_max_forwards(static_cast<int>(settings_.max_forwards));
    ok = ok && rewrite_routes(m, editor, own, false);
    // The Call-ID the core chose (often naming its host) is masked on a new leg, and in a dialog
    // whose leg was masked when it was created; a dialog the outside started keeps its own.
    const bool mask = masks_call_id(m, own);
    Binding binding;
    if (mask) {
      const std::string_view masked = call_ids_.masked(m.call_id());
      t->call_id_differs = true;
      t->server_call_id.assign(m.call_id());
      ok = ok && !masked.empty() && editor.replace(m.call_id(), masked);
      binding = dialog_binding(masked, m.from().tag);
    } else {
      binding = dialog_binding(m.call_id(), m.from().tag);
    }
    Writer record(record_buffer_);
    const Ip participant = ip_bytes(address->remote_ip);
    t->hidden_record_route.clear();
    if (is_dialog_creating(m.method()) && m.to().tag.empty()) {
      // What the core would see without hiding: our outside and inside entries on top of its own.
      tokens_.entry(record, TokenKind::Flow, own.flow_token, participant, {}, address->local_ip,
                    address->local_port, address->protocol, mask, &binding)
          << ", ";
      tokens_.entry(record, TokenKind::Flow, own.flow_token, participant, {}, settings_.inside_ip,
                    settings_.inside_port, source.protocol, mask);
      if (settings_.topology_hiding) {
        // The outside sees one entry of ours; the core's entries travel sealed inside it.
        Writer inside(hidden_buffer_);
        bool first = true;
        auto rr = m.name_addrs(HeaderId::RecordRoute);
        sip::NameAddr value;
        while (rr.next(value)) {
          if (!first) inside << ", ";
          inside << value.text;
          first = false;
        }
        t->hidden_record_route.assign(record.view());
        if (!first) t->hidden_record_route.append(", ").append(inside.view());
        Writer hidden(record_buffer_);
        tokens_.entry(hidden, TokenKind::Dialog, own.flow_token, participant, inside.view(),
                      address->local_ip, address->local_port, address->protocol, false, &binding);
        ok =
            ok && inside.ok() && hidden.ok() && record.ok() &&
            (m.count(HeaderId::RecordRoute) == 0 || editor.remove_headers(HeaderId::RecordRoute)) &&
            editor.add_record_route(hidden.view());
      } else {
        ok = ok && record.ok() && editor.add_record_route(record.view());
      }
    }
    if (m.method() != Method::Register) ok = ok && hide_contacts(m, editor, own.flow_token);
    if (!ok || !write(editor, t->request)) {
      table_.release(*t);
      stats.too_large.inc();
      return answer_inside(m, source, 513, "Message Too Large to relay");
    }
    start_client(*t);
    if (!wire_.send_outside(t->dest_flow, t->request)) {
      table_.release(*t);
      stats.flow_failed.inc();
      return answer_inside(m, source, 430, "Flow Failed");
    }
    stats.requests_to_outside.inc();
    if (t->invite()) answer_in_transaction(*t, m, 100, "Trying");
    schedule(*t);
  }

  // ---- shared request handling -----------------------------------------------------------

  // ACK: for a non-2xx final it belongs to our INVITE server transaction and ends there; for a
  // 2xx it is a request of its own, routed by its Route set without a transaction.
  void ack(const Message& m, const FlowInfo* flow) noexcept {
    if (Transaction* t = table_.find_server(m, Method::Invite)) {
      if (t->state == ServerState::Completed) {
        t->state = ServerState::Confirmed;
        t->response_retransmit_at = kNever;
        t->end_at = t->server_reliable ? now_ : now_ + settings_.t4;  // timer I
        schedule(*t);
      }
      stats.retransmissions_absorbed.inc();
      return;
    }
    // The ACK of an answer the edge gave without a transaction (a Digest challenge, a policy's
    // rejection): it repeats the INVITE's Call-ID, From and top Via (RFC 3261 17.1.1.3), so the
    // To tag of that stateless answer comes back in it. It ends here.
    std::array<char, 16> tag;
    if (flow != nullptr && m.to().tag.size() == tag.size() &&
        m.to().tag == sip::stateless_to_tag(m, tag)) {
      stats.stateless_acks_absorbed.inc();
      return;
    }
    const OwnRoutes own = own_routes(m, flow);
    if (flow != nullptr && !in_dialog_allowed(m, own, *flow)) {
      stats.dialog_refused.inc();
      return;  // an ACK is never answered
    }
    sip::MessageEditor editor(m);
    const std::string_view branch = stateless_branch(m.top_via().branch);
    bool ok = rewrite_routes(m, editor, own, flow != nullptr) &&
              editor.decrement_max_forwards(static_cast<int>(settings_.max_forwards));
    if (flow != nullptr) ok = ok && restore_request_uri(m, editor);
    if (flow != nullptr) {
      const std::string_view call_id = call_ids_.inside(m.call_id());
      if (call_id.data() != m.call_id().data()) ok = ok && editor.replace(m.call_id(), call_id);
      const std::optional<std::size_t> named = named_core(m, own);
      const std::uint64_t excluded = cores_without_tls(m);
      const std::optional<std::size_t> index = named ? named : cores_.choose(excluded, now_);
      if (!index || (excluded >> *index & 1u) != 0) return;
      const CoreTarget& core = cores_.target(*index);
      const std::string_view our_via =
          write_our_via(core.protocol, settings_.inside_ip, settings_.inside_port, branch);
      const std::size_t n = sip::write_via_with_source(m.top_via(), flow->remote_ip,
                                                       flow->remote_port, client_via_buffer_);
      ok = ok && !our_via.empty() && n > 0 &&
           editor.replace(m.top_via().text, {client_via_buffer_.data(), n}) &&
           editor.prepend_via(our_via);
      if (!strip_untrusted(editor)) {
        stats.untrusted_refused.inc();
        return;  // an ACK is never answered
      }
      if (!ok || !write(editor, stateless_)) return;
      wire_.send_inside(core.protocol, core.ip, core.port, stateless_);
    } else {
      if (own.flow_token == 0) {
        stats.not_routable.inc();
        return;  // an ACK is never answered
      }
      const auto address = wire_.flow_address(own.flow_token);
      if (!address) {
        stats.flow_failed.inc();
        return;
      }
      if (masks_call_id(m, own)) {
        const std::string_view masked = call_ids_.masked(m.call_id());
        ok = ok && !masked.empty() && editor.replace(m.call_id(), masked);
      }
      const std::string_view our_via =
          write_our_via(address->protocol, address->local_ip, address->local_port, branch);
      // Nothing answers an ACK: the inside Via stack can simply go.
      ok = ok && !our_via.empty() &&
           (settings_.topology_hiding ? editor.remove_headers(HeaderId::Via) : true) &&
           editor.prepend_via(our_via);
      if (!ok || !write(editor, stateless_)) return;
      wire_.send_outside(own.flow_token, stateless_);
    }
    stats.stateless_forwarded.inc();
  }

  void cancel(const Message& m, const FlowInfo* flow, const Address& source) noexcept {
    Transaction* t = table_.find_server(m, Method::Invite);
    const bool from_outside = flow != nullptr;
    if (t == nullptr || (t->direction == Direction::ToCore) != from_outside) {
      stats.no_transaction.inc();
      if (from_outside) return answer_outside(m, *flow, 481, "Call/Transaction Does Not Exist");
      return answer_inside(m, source, 481, "Call/Transaction Does Not Exist");
    }
    // RFC 3261 9.2 / 16.10: answer the CANCEL at once; cancel the branch once it is proceeding.
    if (from_outside) {
      answer_outside(m, *flow, 200, "OK");
    } else {
      answer_inside(m, source, 200, "OK");
    }
    stats.cancels.inc();
    if (t->final_seen || t->cancel_wanted) return;
    t->cancel_wanted = true;
    if (t->provisional_seen) send_cancel(*t);
  }

  void retransmission(Transaction& t, std::size_t size) noexcept {
    stats.retransmissions_absorbed.inc();
    t.bytes_received += size;
    if (!t.last_response.empty()) send_server(t, t.last_response);
  }

  // ---- responses -------------------------------------------------------------------------

  void response(Transaction& t, const Message& m) noexcept {
    const bool for_cancel = sip::method_from_name(m.cseq().method) == Method::Cancel;
    if (for_cancel) {
      if (m.status_code() >= 200) {
        t.cancel_retransmit_at = kNever;
        t.cancel_timeout_at = kNever;
        schedule(t);
      }
      return;
    }
    const std::uint16_t status = m.status_code();
    t.any_response = true;
    t.failover_at = kNever;
    if (status == 503 && t.direction == Direction::ToCore && !t.final_seen) {
      // The core is overloaded or out of service (RFC 3261 21.5.4): try the next one. Failing
      // that, the client gets 500, not 503: the SBC itself is not the one unavailable (16.7).
      if (t.invite()) send_ack_for(t, m);
      if (fail_over(t)) {
        schedule(t);
        return;
      }
      return final_from_core_as_500(t, m);
    }
    if (status == 100) {
      // The next hop has it: stop retransmitting (INVITE) or slow down (non-INVITE, 17.1.2.2).
      if (t.invite()) {
        t.retransmit_at = kNever;
      } else if (t.retransmit_interval < settings_.t2) {
        t.retransmit_interval = settings_.t2;
      }
      t.provisional_seen = true;
      if (t.cancel_wanted && !t.cancel_sent) send_cancel(t);
      schedule(t);
      return;
    }
    if (t.final_seen) {
      if (t.invite() && status >= 200 && status < 300 && t.state == ServerState::Accepted) {
        // A 2xx retransmission: it goes through end to end (RFC 6026 Accepted state).
        forward_response(t, m);
      } else if (t.invite() && status >= 300) {
        send_ack_for(t, m);  // our ACK was lost
      }
      return;
    }
    if (!forward_response(t, m)) return;
    // Dialogs: established by the first 2xx to a dialog-creating INVITE, ended by a 2xx to BYE
    // (the difference is the number of calls up, give or take calls whose parties vanished).
    // Retransmitted finals returned above.
    if (status >= 200 && status < 300) {
      if (t.creates_dialog) stats.dialogs_established.inc();
      if (t.method == Method::Bye) stats.dialogs_ended.inc();
    }
    // The core refused the client's credentials (a challenge to a request that had some), or
    // refused it outright: the policies count that against the source.
    if (t.direction == Direction::ToCore && refusal_listener_ &&
        ((t.had_credentials && (status == 401 || status == 407)) || status == 403))
      refusal_listener_(t.source.ip_view(), t.source.protocol);
    // The answer classes a source gets score it (scanner); retransmissions returned above.
    if (t.direction == Direction::ToCore && answer_listener_ && status >= 200)
      answer_listener_(t.source.ip_view(), status);
    if (status < 200) {
      t.provisional_seen = true;
      if (t.invite()) {
        t.retransmit_at = kNever;
        t.timeout_at = kNever;
        t.timer_c_at = now_ + settings_.timer_c;
      }
      if (t.cancel_wanted && !t.cancel_sent) send_cancel(t);
      schedule(t);
      return;
    }
    finish(t);
    if (t.invite() && status < 300) {
      t.state = ServerState::Accepted;
      t.end_at = now_ + settings_.linger;
    } else if (t.invite()) {
      send_ack_for(t, m);
      complete_invite_server(t);
    } else {
      t.state = ServerState::Completed;
      t.end_at = now_ + settings_.linger;
    }
    schedule(t);
  }

  void final_from_core_as_500(Transaction& t, const Message& m) noexcept {
    finish(t);
    if (!forward_response(t, m, "SIP/2.0 500 Server Internal Error (no core available)")) return;
    if (t.invite()) {
      complete_invite_server(t);
    } else {
      t.state = ServerState::Completed;
      t.end_at = now_ + settings_.linger;
    }
    schedule(t);
  }

  // Relays a response to the server side, with our Via taken off; keeps it for retransmissions.
  bool forward_response(Transaction& t, const Message& m,
                        std::string_view status_line = {}) noexcept {
    sip::MessageEditor editor(m);
    bool ok = status_line.empty() || editor.replace(m.start_line(), status_line);
    if (t.call_id_differs) ok = ok && editor.replace(m.call_id(), t.server_call_id);
    if (t.direction == Direction::ToOutside && settings_.topology_hiding) {
      // The user agent's answer carries our Via only: the core's stack goes back in its place.
      ok = ok && editor.remove_headers(HeaderId::Via) && editor.prepend_via(t.hidden_vias);
    } else {
      ok = ok && editor.remove_top_via();
    }
    if (t.direction == Direction::ToCore && t.method == Method::Register) {
      (void)editor.remove_headers(HeaderId::Path);  // our Path is no business of the outside
    }
    if (t.direction == Direction::ToOutside && !strip_untrusted(editor)) {
      // A user agent's answer must not assert an identity to the core either.
      stats.untrusted_refused.inc();
      return false;
    }
    if (settings_.topology_hiding && t.method != Method::Register) {
      if (t.direction == Direction::ToCore) {
        ok = ok && hide_record_route(t, m, editor) && hide_contacts(m, editor, t.source_flow);
      } else if (!t.hidden_record_route.empty() && m.count(HeaderId::RecordRoute) != 0) {
        ok = ok && restore_record_route(m, editor, t);
      }
    }
    if (!ok || !write(editor, t.last_response)) {
      stats.too_large.inc();
      return false;
    }
    send_server(t, t.last_response, !status_line.empty() || m.status_code() >= 200);
    if (t.direction == Direction::ToCore) {
      stats.responses_to_outside.inc();
    } else {
      stats.responses_to_core.inc();
    }
    return true;
  }

  // An answer from the core going outside: the Record-Route entries of the inside (the core's
  // and our inside one) go sealed into our one outside entry; entries beyond it (the outside
  // side's) stay. The user agent's in-dialog requests bring the sealed routes back to us.
  bool hide_record_route(const Transaction& t, const Message& m,
                         sip::MessageEditor& editor) noexcept {
    if (m.count(HeaderId::RecordRoute) == 0) return true;
    std::array<std::string_view, 32> values;
    std::size_t n = 0, ours = values.size();
    auto rr = m.name_addrs(HeaderId::RecordRoute);
    sip::NameAddr value;
    while (n < values.size() && rr.next(value)) {
      if (ours == values.size() && value.uri.user.starts_with(kUserPrefix) && n > 0 &&
          !is_inside_address(value.uri)) {
        if (t.outside_entry != 0 && RouteTokens::hash(value.uri.user) == t.outside_entry) {
          ours = n;  // the very entry we issued for this request (sealed with its flow)
        } else {
          const auto opened = tokens_.open(value.uri.user, opened_routes_);
          if (opened && opened->flow == t.source_flow) ours = n;
        }
      }
      values[n++] = value.text;
    }
    if (ours == values.size()) return true;  // not recorded through us: nothing of ours to hide
    // The user agent's route set is this list reversed: the inside routes after ours, in the
    // order a request will carry them, are the entries before our inside one, reversed.
    Writer inside(hidden_buffer_);
    for (std::size_t i = ours - 1; i-- > 0;) {
      inside << values[i];
      if (i > 0) inside << ", ";
    }
    const auto address = wire_.flow_address(t.source_flow);
    if (!address || !inside.ok()) return true;
    Writer list(record_buffer_);
    const Binding binding = dialog_binding(
        t.call_id_differs ? std::string_view(t.server_call_id) : m.call_id(), m.from().tag, &t);
    tokens_.entry(list, TokenKind::Dialog, t.source_flow, ip_bytes(t.source.ip_view()),
                  inside.view(), address->local_ip, address->local_port, address->protocol, false,
                  &binding);
    for (std::size_t i = ours + 1; i < n; ++i) list << ", " << values[i];
    return list.ok() && editor.remove_headers(HeaderId::RecordRoute) &&
           editor.add_record_route(list.view());
  }

  // An answer from the outside going to the core: our hidden entry becomes again the list the
  // core would have seen (kept in the transaction).
  bool restore_record_route(const Message& m, sip::MessageEditor& editor,
                            const Transaction& t) noexcept {
    Writer list(record_buffer_);
    auto rr = m.name_addrs(HeaderId::RecordRoute);
    sip::NameAddr value;
    bool first = true, replaced = false;
    while (rr.next(value)) {
      if (!first) list << ", ";
      first = false;
      if (!replaced && value.uri.user.starts_with(kUserPrefix) &&
          is_own_address(value.uri.host, port_of(value.uri), nullptr)) {
        list << t.hidden_record_route;
        replaced = true;
      } else {
        list << value.text;
      }
    }
    if (!replaced) return true;
    return list.ok() && editor.remove_headers(HeaderId::RecordRoute) &&
           editor.add_record_route(list.view());
  }

  bool is_inside_address(const sip::Uri& uri) const noexcept {
    return strip_brackets(uri.host) == settings_.inside_ip && port_of(uri) == settings_.inside_port;
  }

  // A non-2xx final answer sent for an INVITE: wait for the ACK, retransmitting the answer
  // over UDP (timers G and H).
  void complete_invite_server(Transaction& t) noexcept {
    t.state = ServerState::Completed;
    if (!t.server_reliable) {
      t.response_interval = settings_.t1;
      t.response_retransmit_at = now_ + settings_.t1;
    }
    t.end_at = now_ + 64 * settings_.t1;
  }

  // ---- timers ----------------------------------------------------------------------------

  void fire(Transaction& t) noexcept {
    if (!t.final_seen && !t.any_response &&
        (t.failover_at <= now_ || (t.failover_allowed && t.timeout_at <= now_))) {
      // Silence from the core: the next one gets the request as a new client transaction.
      t.failover_at = kNever;
      if (fail_over(t)) return;
    }
    if (!t.final_seen) {
      if (t.retransmit_at <= now_) {
        send_client(t, t.request);
        stats.retransmissions_sent.inc();
        t.retransmit_interval = t.invite() ? 2 * t.retransmit_interval
                                           : std::min(2 * t.retransmit_interval, settings_.t2);
        t.retransmit_at = now_ + t.retransmit_interval;
      }
      if (t.timeout_at <= now_ || t.timer_c_at <= now_) {
        if (t.timer_c_at <= now_ && !t.cancel_sent) {
          t.cancel_wanted = true;
          send_cancel(t);
        }
        time_out(t);
      }
    }
    if (t.cancel_sent && t.cancel_retransmit_at <= now_ && !t.client_reliable) {
      send_client(t, t.cancel);
      stats.retransmissions_sent.inc();
      t.cancel_interval = std::min(2 * t.cancel_interval, settings_.t2);
      t.cancel_retransmit_at = now_ + t.cancel_interval;
    }
    if (t.cancel_timeout_at <= now_) t.cancel_retransmit_at = t.cancel_timeout_at = kNever;
    if (t.response_retransmit_at <= now_ && !t.last_response.empty()) {
      send_server(t, t.last_response);
      stats.retransmissions_sent.inc();
      t.response_interval = std::min(2 * t.response_interval, settings_.t2);
      t.response_retransmit_at = now_ + t.response_interval;
    }
    if (t.end_at <= now_) table_.release(t);
  }

  // The next hop did not answer in time: 408 to the server side (RFC 3261 16.8).
  void time_out(Transaction& t) noexcept {
    stats.timeouts.inc();
    give_up(t, 408, "Request Timeout");
  }

  // Ends the client side without an answer from the next hop, and answers the server side.
  void give_up(Transaction& t, std::uint16_t status, std::string_view reason) noexcept {
    finish(t);
    Message& original = *scratch_;
    if (original.parse(t.original, sip::Framing::Datagram, settings_.limits).is_valid()) {
      answer_in_transaction(t, original, status, reason);
    }
    if (t.invite()) {
      complete_invite_server(t);
    } else {
      t.state = ServerState::Completed;
      t.end_at = now_ + settings_.linger;
    }
  }

  void schedule(Transaction& t) noexcept {
    trim(t);
    TimePoint at =
        std::min({t.end_at, t.response_retransmit_at, t.cancel_retransmit_at, t.cancel_timeout_at});
    if (!t.final_seen)
      at = std::min({at, t.retransmit_at, t.timeout_at, t.timer_c_at, t.failover_at});
    table_.wake(t, at);
  }

  // ---- the client side -------------------------------------------------------------------

  void start_client(Transaction& t) noexcept {
    if (!t.client_reliable) {
      t.retransmit_interval = settings_.t1;
      t.retransmit_at = now_ + settings_.t1;
    }
    t.timeout_at = now_ + 64 * settings_.t1;
  }

  void send_client(const Transaction& t, std::string_view bytes) noexcept {
    if (t.direction == Direction::ToCore) {
      wire_.send_inside(t.core.protocol, t.core.ip_view(), t.core.port, bytes);
    } else {
      (void)wire_.send_outside(t.dest_flow, bytes);
    }
  }

  // `final_answer`: the first final response of the transaction (sent even past the budget).
  void send_server(Transaction& t, std::string_view bytes, bool final_answer = false) noexcept {
    if (t.direction == Direction::ToCore) {
      if (!t.server_reliable && !t.source_proved) {
        // Provisionals take at most 2x (a 100 and a 180 fit for a usual INVITE), so that 1x is
        // left for the final answer; a retransmitted request earns its 3x again.
        const std::uint64_t allowed = (final_answer ? kAmplificationFactor : 2) * t.bytes_received;
        if (!final_answer && t.bytes_sent + bytes.size() > allowed) {
          stats.amplification_dropped.inc();
          return;
        }
        t.bytes_sent += bytes.size();
      }
      (void)wire_.send_outside(t.source_flow, bytes);
    } else {
      wire_.send_inside(t.source.protocol, t.source.ip_view(), t.source.port, bytes);
    }
  }

  // CANCEL or ACK for the request we sent: same Request-URI, Call-ID, From, CSeq number, our
  // Via only, the same Route set (RFC 3261 9.1, 17.1.1.3).
  bool build_hop_request(const Transaction& t, std::string_view method, const Message* response,
                         std::string& out) noexcept {
    Message& sent = *scratch_;
    if (!sent.parse(t.request, sip::Framing::Datagram, settings_.limits).is_valid()) return false;
    Writer w(*out_);
    w << method << " " << sent.request_uri().text << " SIP/2.0\r\nVia: " << sent.top_via().text
      << "\r\n";
    for (const sip::HeaderField& h : sent.headers())
      if (h.id == HeaderId::Route) w << h.line;
    const sip::HeaderField* to =
        response != nullptr ? response->find(HeaderId::To) : sent.find(HeaderId::To);
    w << "Max-Forwards: 70\r\n"
      << sent.find(HeaderId::From)->line << "To: " << to->value << "\r\n"
      << sent.find(HeaderId::CallId)->line << "CSeq: " << sent.cseq().number << " " << method
      << "\r\nContent-Length: 0\r\n\r\n";
    if (!w.ok()) return false;
    out.assign(w.view());
    return true;
  }

  void send_cancel(Transaction& t) noexcept {
    if (t.cancel_sent || !build_hop_request(t, "CANCEL", nullptr, t.cancel)) return;
    t.cancel_sent = true;
    send_client(t, t.cancel);
    if (!t.client_reliable) {
      t.cancel_interval = settings_.t1;
      t.cancel_retransmit_at = now_ + settings_.t1;
    }
    t.cancel_timeout_at = now_ + 64 * settings_.t1;
    schedule(t);
  }

  void send_ack_for(Transaction& t, const Message& response) noexcept {
    if (build_hop_request(t, "ACK", &response, stateless_)) send_client(t, stateless_);
  }

  // ---- health probes --------------------------------------------------------------------

  void send_probe(std::size_t i) noexcept {
    const CoreTarget& core = cores_.target(i);
    const std::size_t n = cores_.write_probe(i, settings_.inside_ip, settings_.inside_port, *out_);
    if (n != 0) wire_.send_inside(core.protocol, core.ip, core.port, {out_->data(), n});
  }

  // Only an answer naming the outstanding probe's nonce counts; anything else (forged, late) is
  // ignored and counted.
  void probe_answer(const Message& m) noexcept {
    if (!cores_.probe_answered(m.top_via().branch, m.status_code() == 503))
      stats.probe_mismatches.inc();
  }

  // ---- local answers ---------------------------------------------------------------------

  std::string_view build_answer(const Message& m, std::uint16_t status, std::string_view reason,
                                std::string_view source_ip, std::uint16_t source_port,
                                std::span<const std::string_view> extra) noexcept {
    std::array<char, 16> tag;
    sip::ResponseSpec spec;
    spec.status = status;
    spec.reason = reason;
    spec.to_tag = status == 100 ? std::string_view{} : sip::stateless_to_tag(m, tag);
    spec.source_ip = source_ip;
    spec.source_port = source_port;
    spec.extra_headers = extra;
    const std::size_t n = sip::build_response(m, spec, *out_);
    return {out_->data(), n};
  }

  void answer_outside(const Message& m, const FlowInfo& flow, std::uint16_t status,
                      std::string_view reason,
                      std::span<const std::string_view> extra = {}) noexcept {
    const std::string_view bytes =
        build_answer(m, status, reason, flow.remote_ip, flow.remote_port, extra);
    if (!bytes.empty()) (void)wire_.send_outside(flow.flow_token, bytes);
  }

  void answer_inside(const Message& m, const Address& source, std::uint16_t status,
                     std::string_view reason,
                     std::span<const std::string_view> extra = {}) noexcept {
    const std::string_view bytes =
        build_answer(m, status, reason, source.ip_view(), source.port, extra);
    if (!bytes.empty()) wire_.send_inside(source.protocol, source.ip_view(), source.port, bytes);
  }

  // An answer of our own inside a transaction (100 Trying, 408): kept for retransmissions.
  void answer_in_transaction(Transaction& t, const Message& request, std::uint16_t status,
                             std::string_view reason) noexcept {
    const std::string_view bytes =
        build_answer(request, status, reason, t.source.ip_view(), t.source.port, {});
    if (bytes.empty()) return;
    t.last_response.assign(bytes);
    send_server(t, t.last_response, status >= 200);
  }

  // ---- routing ---------------------------------------------------------------------------

  bool is_own_address(std::string_view host, std::uint16_t port,
                      const FlowInfo* flow) const noexcept {
    host = strip_brackets(host);
    if (host == settings_.inside_ip && port == settings_.inside_port) return true;
    if (flow != nullptr && host == flow->local_ip && port == flow->local_port) return true;
    return std::any_of(settings_.outside_addresses.begin(), settings_.outside_addresses.end(),
                       [&](const OwnAddress& a) { return a.ip == host && a.port == port; });
  }

  // Our entries at the top of the Route set (at most two: the inside and the outside one).
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
  Routes routes_of(const Message& m) const noexcept {
    RouteCache& c = route_cache_;
    if (c.message != &m || c.bytes != m.bytes().data() || c.size != m.bytes().size()) {
      c.message = &m;
      c.bytes = m.bytes().data();
      c.size = m.bytes().size();
      c.count = 0;
      auto cursor = m.name_addrs(HeaderId::Route);
      while (c.count < kCachedRoutes && cursor.next(c.entries[c.count])) ++c.count;
      sip::NameAddr more;
      c.complete = c.count < kCachedRoutes || !cursor.next(more);
    }
    return {c.complete ? &c : nullptr, m};
  }

  OwnRoutes own_routes(const Message& m, const FlowInfo* flow) noexcept {
    OwnRoutes own;
    Routes routes = routes_of(m);
    sip::NameAddr route;
    while (own.count < 2 && routes.next(route)) {
      const sip::Uri& uri = route.uri;
      if (!is_own_address(uri.host, port_of(uri), flow)) break;
      ++own.count;
      if (own.flow_token != 0) continue;
      if (const auto opened = tokens_.open(uri.user, opened_routes_)) {
        if (opened->kind == TokenKind::Contact) continue;
        own.flow_token = opened->flow;
        own.participant = opened->participant;
        own.has_participant = true;
        own.masked_leg = opened->masked_leg;
        own.bound = opened->bound;
        own.binding = opened->binding;
        own.key_index = opened->key_index;
        if (opened->kind == TokenKind::Dialog) {
          own.hidden_routes = opened->payload;
          break;  // a hidden entry stands for both of ours
        }
      }
    }
    return own;
  }

  // The binding of a dialog's outside Record-Route entry: the dialog's Call-ID as the outside
  // sees it and the From tag of the request that creates it (the caller's, which the outside
  // party's in-dialog requests carry as From or To tag), good for relay.dialog_token_lifetime.
  // With `t`: the MAC its request's entry got, if the inputs are the same (they are, unless the
  // core changed the From tag).
  Binding dialog_binding(std::string_view outside_call_id, std::string_view from_tag,
                         const Transaction* t = nullptr) noexcept {
    const std::uint32_t expires =
        wall_seconds() + static_cast<std::uint32_t>(settings_.dialog_token_lifetime.count());
    if (t != nullptr && t->binding_mac != 0) {
      // `original` may have been given back since (a large request, after its final answer).
      const std::string_view original = t->original;
      const auto kept = [&original](std::uint32_t offset, std::uint32_t size) {
        return std::size_t{offset} + size <= original.size() ? original.substr(offset, size)
                                                             : std::string_view();
      };
      const std::string_view call_id = kept(t->binding_call_id_offset, t->binding_call_id_size);
      const std::string_view tag = kept(t->binding_tag_offset, t->binding_tag_size);
      if (!call_id.empty() && call_id == outside_call_id && tag == from_tag &&
          (!tag.empty() || t->binding_tag_size == 0))
        return {t->binding_mac, expires};
    }
    return {sealer_.bind(outside_call_id, from_tag), expires};
  }
  // Seconds of the Unix epoch, advancing with the relay's clock (tests move it).
  std::uint32_t wall_seconds() const noexcept {
    const auto since = std::chrono::duration_cast<std::chrono::seconds>(now_ - clock_start_);
    return static_cast<std::uint32_t>(wall_start_ + since.count());
  }

  // Removes every relay.untrusted_headers header; false when some could not be removed.
  bool strip_untrusted(sip::MessageEditor& editor) const noexcept {
    // By id when the name has one (what strip_headers(name) looks up every time).
    for (std::size_t i = 0; i < untrusted_.size(); ++i) {
      const bool stripped = untrusted_ids_[i] != HeaderId::Other
                                ? editor.strip_headers(untrusted_ids_[i])
                                : editor.strip_headers(untrusted_[i]);
      if (!stripped) return false;
    }
    return true;
  }

  // ---- Call-ID masking (relay.mask_call_id) --------------------------------------------

  // The cores a request may not go to as a bit mask (bit i = core i): for a sips: Request-URI
  // (relay.sips_end_to_end), those not reached over TLS.
  std::uint64_t cores_without_tls(const Message& m) const noexcept {
    return settings_.sips_end_to_end && m.request_uri().scheme == sip::Scheme::Sips ? non_tls_cores_
                                                                                    : 0;
  }

  // Whether a message from the core going down a flow gets a masked Call-ID: a request outside a
  // dialog starts a leg of its own (even when the core relays an outside caller's Call-ID: that
  // caller's leg keeps it), one inside a dialog follows what its leg got when it was created.
  bool masks_call_id(const Message& m, const OwnRoutes& own) const noexcept {
    return settings_.mask_call_id && (m.to().tag.empty() || own.masked_leg);
  }

  // A Request-URI that is a Contact we rewrote (ours, with a Contact token) gets its original
  // back.
  bool restore_request_uri(const Message& m, sip::MessageEditor& editor) noexcept {
    const sip::Uri& uri = m.request_uri();
    if (!uri.user.starts_with(kUserPrefix) || !is_own_address(uri.host, port_of(uri), nullptr))
      return true;
    const auto opened = tokens_.open(uri.user, opened_contact_);
    if (!opened || opened->kind != TokenKind::Contact) return true;
    return editor.set_request_uri(opened->payload);
  }

  // Rewrites every Contact of a message that leaves to the outside down `flow` (a 3xx lists
  // several, all of them addresses of the inside): our address with a token holding the
  // original URI. A request to one of them comes back to us and gets the original (above).
  bool hide_contacts(const Message& m, sip::MessageEditor& editor, std::uint64_t flow) noexcept {
    if (!settings_.topology_hiding || m.count(HeaderId::Contact) == 0 || m.contact_is_star())
      return true;
    const auto address = wire_.flow_address(flow);
    if (!address) return true;
    Writer w(contact_buffer_);
    auto contacts = m.name_addrs(HeaderId::Contact);
    sip::NameAddr contact;
    for (std::size_t hidden = 0; contacts.next(contact); ++hidden) {
      // The editor's edits are bounded; a list longer than this is not relayed rather than
      // relayed with inside addresses in it.
      if (hidden == kMaxHiddenContacts) return false;
      const std::string_view token = tokens_.seal(TokenKind::Contact, flow, Ip{}, contact.uri.text);
      if (token.empty()) return false;
      const std::size_t start = w.view().size();
      w << "sip:" << token << "@";
      w.host(address->local_ip) << ":" << static_cast<unsigned>(address->local_port)
                                << ";transport=" << transport_param(address->protocol);
      if (!w.ok() || !editor.rewrite_uri(contact, w.view().substr(start))) return false;
    }
    return true;
  }

  // Removes our entries from the top of the Route set; the inside routes a hidden entry
  // carries take their place.
  // From the outside, the entries after ours are kept only as the route set of a dialog of ours
  // whose token does not carry it itself (topology hiding off); any other Route entry was
  // preloaded by the sender to steer the request (to a backup core, a core marked down, or
  // through the core elsewhere) and is removed: only our own routing chooses the core.
  bool rewrite_routes(const Message& m, sip::MessageEditor& editor, const OwnRoutes& own,
                      bool from_outside) noexcept {
    const bool keep_rest = !from_outside || (own.flow_token != 0 && own.hidden_routes.empty());
    if (own.count == 0 && (keep_rest || m.count(HeaderId::Route) == 0)) return true;
    Routes routes = routes_of(m);
    sip::NameAddr route;
    Writer rest(route_buffer_);
    rest << own.hidden_routes;
    bool any = !own.hidden_routes.empty();
    bool foreign = false;
    std::size_t seen = 0;
    while (routes.next(route)) {
      if (seen++ < own.count) continue;
      if (!keep_rest) {
        foreign = true;
        continue;
      }
      if (any) rest << ", ";
      rest << route.text;
      any = true;
    }
    if (foreign) stats.foreign_routes_removed.inc();
    if (!rest.ok() || !editor.strip_headers(HeaderId::Route)) return false;
    return !any || editor.add_header("Route", rest.view());
  }

  // RFC 3261 16.3 step 4: a request carrying our Via with the loop hash this very request
  // would get has been here before, unchanged. The hash covers what a spiral changes
  // (Request-URI, Route set) and what identifies the request (16.6 step 8), not the Via.
  bool detect_loop(const Message& m, std::uint32_t hash) const noexcept {
    auto ours = [&](const sip::Via& v) {
      return branch_has_loop_hash(v.branch, hash) && is_own_address(v.host, v.port, nullptr);
    };
    // The usual request from a user agent has one Via, which the parse already holds.
    if (m.via_count() == 1) return ours(m.top_via());
    auto vias = m.vias();
    sip::Via v;
    while (vias.next(v))
      if (ours(v)) return true;
    return false;
  }

  // `call_id` is the inside one (a masked Call-ID opened): a request that loops through the core
  // and back out, or through the outside and back in, carries the other form the second time.
  std::uint32_t loop_hash(const Message& m, std::string_view call_id,
                          std::size_t own_routes) const noexcept {
    std::uint64_t h = kFnvBasis;
    h = fnv1a(h, m.request_uri().text);
    h = fnv1a(h, call_id);
    h = fnv1a(h, m.from().tag);
    h = fnv1a(h, m.to().tag);
    char number[12];
    auto [end, ec] = std::to_chars(number, number + sizeof number, m.cseq().number);
    (void)ec;
    h = fnv1a(h, {number, static_cast<std::size_t>(end - number)});
    // The Route set after ours: a spiral (through the core and back to us on the way to the
    // other party) carries the same Request-URI as the first pass, but fewer routes.
    Routes routes = routes_of(m);
    sip::NameAddr route;
    for (std::size_t i = 0; routes.next(route); ++i)
      if (i >= own_routes) h = fnv1a(h, route.text);
    return static_cast<std::uint32_t>(h ^ (h >> 32));
  }

  // Our Via (write_via), in via_buffer_ (valid until the next call); empty if it does not fit.
  std::string_view write_our_via(Protocol protocol, std::string_view host, std::uint16_t port,
                                 std::string_view branch) noexcept {
    Writer w(via_buffer_);
    write_via(w, protocol, host, port, branch);
    return w.ok() ? w.view() : std::string_view{};
  }

  std::string_view stateless_branch(std::string_view incoming) noexcept {
    return write_stateless_branch(stateless_branch_.data(), incoming);
  }

  // ---- the transaction table -------------------------------------------------------------

  // What t no longer needs goes, large buffers only (small ones stay with the slot). The request
  // as it arrived serves a fail-over and our own final answer: not after a final. The request
  // as relayed serves retransmissions (INVITE: until a provisional; others: until the final) and
  // then only CANCEL and ACK, which its first lines build as well: an ACK of it stays instead.
  void trim(Transaction& t) noexcept {
    if (t.final_seen && t.original.capacity() > kKeepBytes) free_buffer(t.original);
    if (t.request.capacity() > kKeepBytes && (t.final_seen || (t.invite() && t.provisional_seen))) {
      if (t.invite() && build_hop_request(t, "ACK", nullptr, stateless_)) {
        std::string(stateless_).swap(t.request);
      } else if (t.final_seen) {
        free_buffer(t.request);
      }
    }
    table_.account(t);
  }

  // The first final answer for t's request (relayed, or our own 408/503/500): the client side
  // stops retransmitting and waiting, and the transaction time, as its client sees it, is
  // measured from the request's arrival (failovers included).
  void finish(Transaction& t) noexcept {
    t.final_seen = true;
    t.retransmit_at = t.timeout_at = t.timer_c_at = t.failover_at = kNever;
    const std::size_t kind = (t.direction == Direction::ToCore ? 0 : 2) + (t.invite() ? 0 : 1);
    stats.transaction_time[kind].observe(now_ - t.started);
  }

  bool write(const sip::MessageEditor& editor, std::string& out) noexcept {
    return editor.write(out, settings_.limits.max_message_bytes);
  }

  RelaySettings settings_;
  transport::Wire& wire_;
  std::function<TimePoint()> clock_;
  TimePoint now_{};
  CoreSet cores_;
  std::uint64_t all_cores_ = 0;      // bit i = core i
  std::uint64_t non_tls_cores_ = 0;  // the cores not reached over TLS
  tls::TokenSealer sealer_;
  RouteTokens tokens_{sealer_};
  CallIdMask call_ids_{sealer_, settings_.mask_call_id};
  TokenPlain opened_routes_{};
  TokenPlain opened_contact_{};
  std::array<char, 4096> hidden_buffer_{};
  TransactionTable table_;
  std::vector<std::string_view> untrusted_;  // relay.untrusted_headers
  std::vector<HeaderId> untrusted_ids_;      // their ids (HeaderId::Other: known by name only)
  bool untrusted_left_ = false;       // the last build_to_core failed on a header it must remove
  TimePoint clock_start_;             // the relay's clock at construction ...
  std::int64_t wall_start_ = 0;       // ... and the Unix time then (token expiry survives restarts)
  std::unique_ptr<Message> message_;  // messages from the inside
  std::unique_ptr<Message> scratch_;  // re-parsing what a transaction keeps
  std::unique_ptr<std::array<char, 65536>> out_;
  std::string stateless_;
  std::array<char, 256> via_buffer_{};
  std::array<char, 1024> client_via_buffer_{};
  std::array<char, 2048> record_buffer_{};
  std::array<char, 4096> route_buffer_{};
  std::array<char, 8192> contact_buffer_{};
  std::array<char, kStatelessBranchSize> stateless_branch_{};
  mutable RouteCache route_cache_;
};

Relay::Relay(RelaySettings settings, transport::Wire& wire,
             std::function<Clock::time_point()> clock)
    : impl_(std::make_unique<Impl>(std::move(settings), wire, std::move(clock))) {}
Relay::~Relay() = default;

void Relay::set_refusal_listener(
    std::function<void(std::string_view remote_ip, transport::Protocol protocol)> listener) {
  impl_->refusal_listener_ = std::move(listener);
}

void Relay::set_answer_listener(
    std::function<void(std::string_view remote_ip, std::uint16_t status)> listener) {
  impl_->answer_listener_ = std::move(listener);
}

void Relay::request_from_outside(const sip::Message& request,
                                 const transport::FlowInfo& flow) noexcept {
  impl_->request_from_outside(request, flow);
}
void Relay::response_from_outside(const sip::Message& response,
                                  const transport::FlowInfo& flow) noexcept {
  impl_->response_from_outside(response, flow);
}
void Relay::message_from_inside(std::string_view bytes, transport::Protocol protocol,
                                std::string_view source_ip, std::uint16_t source_port) noexcept {
  impl_->message_from_inside(bytes, protocol, source_ip, source_port);
}
void Relay::inside_failed(transport::Protocol protocol, std::string_view ip,
                          std::uint16_t port) noexcept {
  impl_->inside_failed(protocol, ip, port);
}
void Relay::tick() noexcept {
  impl_->tick();
}
const RelayStats& Relay::stats() const noexcept {
  return impl_->stats;
}
std::size_t Relay::active_transactions() const noexcept {
  return impl_->active();
}
std::size_t Relay::transaction_bytes() const noexcept {
  return impl_->transaction_bytes();
}
const RelaySettings& Relay::settings() const noexcept {
  return impl_->settings();
}
const CoreSet& Relay::cores() const noexcept {
  return impl_->cores();
}

}  // namespace sbc::proxy
