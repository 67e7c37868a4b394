#include "sbc/proxy/relay.hpp"

#include "sbc/proxy/relay_impl.hpp"
#include "sbc/sip/response.hpp"

namespace sbc::proxy {

Relay::Impl::Impl(RelaySettings settings, transport::Wire& wire, std::function<TimePoint()> clock)
    : settings_(std::move(settings)),
      wire_(wire),
      clock_(std::move(clock)),
      cores_(settings_.cores, settings_.probe_interval, settings_.core_health,
             settings_.on_core_state),
      sealer_(
          settings_.token_keys.empty()
              ? std::vector<sbc::crypto::TokenSealer::Key>{sbc::crypto::TokenSealer::random_key(0)}
              : settings_.token_keys),
      table_(settings_.max_transactions, settings_.branch_seed, settings_.max_transaction_bytes,
             stats),
      call_counts_(settings_.call_counts),
      call_limits_(settings_.call_limits),
      dialogs_(settings_.max_dialogs, call_counts_.get(), settings_.worker),
      message_(std::make_unique<Message>()),
      scratch_(std::make_unique<Message>()),
      out_(std::make_unique<std::array<char, 65536>>()),
      sdp_(std::make_unique<media::Sdp>()),
      rewritten_(std::make_unique<Message>()) {
  note_cores();
  dialogs_.set_on_close([this](const DialogTable::Dialog& d) { media_closed(d); });
  for (const std::string& name : settings_.untrusted_headers) {
    untrusted_.push_back(name);
    untrusted_ids_.push_back(sip::lookup_header(name));
  }
  clock_start_ = now_ = clock_();
  wall_start_ = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch())
                    .count();
}

void Relay::Impl::request_from_outside(const Message& m, const FlowInfo& flow) noexcept {
  now_ = clock_();
  route_cache_.message = nullptr;
  // A body the core (or rtpengine) would have to parse is read here first: a malformed SDP is
  // an attack on every parser behind the SBC. An ACK cannot be answered: dropped.
  const bool refused_body = bad_sdp(m);
  if (m.method() == Method::Ack) {
    if (!refused_body) return ack(m, &flow);
    stats.sdp_dropped.inc();
    return;
  }
  const sip::Via& via = m.top_via();
  if (via.branch.empty())
    return answer_outside(m, flow, 400, "Missing Via branch (RFC 3261 8.1.1.7)");
  if (refused_body) {
    stats.sdp_refused.inc();
    return answer_outside(m, flow, 400, reason_);
  }
  if (m.method() == Method::Cancel) return cancel(m, &flow, {});
  if (Transaction* t = table_.find_server(m, m.method()))
    return retransmission(*t, m.bytes().size());
  // Draining (SIGTERM): what is running finishes (ACK, CANCEL, retransmissions above, requests
  // in a dialog); anything new, a dialog or a registration the end of the grace period would
  // cut, is refused so that the client goes elsewhere, and a connection is closed after it.
  if (wire_.draining() && m.to().tag.empty()) {
    stats.draining.inc();
    const std::string_view retry[] = {kDrainingRetryAfter, kServer};
    answer_outside(m, flow, 503, kDrainingReason, retry);
    wire_.close_after_sent(flow.flow_token);
    return;
  }
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
  if (srtp_missing(m, flow)) {
    table_.release(*t);
    return answer_outside(m, flow, 488, "Not Acceptable Here (SRTP required)");
  }
  if (const CallScope refused = track_call(*t, m, &flow); refused != CallScope::None) {
    table_.release(*t);
    return refuse_call(m, flow, refused);
  }
  if (!anchor_request(*t, m, true, srtp_mode(flow.protocol, flow.bound_port()))) send_to_core(*t);
  if (t->invite()) answer_in_transaction(*t, m, 100, "Trying");
  schedule(*t);
}

// The request as it goes to core t.core_index: our Via (with t's branch) on top, the client's
// with received/rport, Max-Forwards decremented, our Route entries consumed, Record-Route or
// Path added, untrusted headers removed. Into t.request.
bool Relay::Impl::build_to_core(Transaction& t, const Message& m, const FlowInfo& flow,
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
  if (!flow.consumed_credentials.empty()) ok = ok && editor.replace(flow.consumed_credentials, {});
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

void Relay::Impl::send_to_core(Transaction& t) noexcept {
  start_client(t);
  if (t.failover_allowed) t.failover_at = now_ + settings_.failover_timeout;
  wire_.send_inside(t.core.protocol, t.core.ip_view(), t.core.port, t.request);
  cores_.stats(t.core_index).requests.inc();
  stats.requests_to_core.inc();
}

// Core t.core_index failed this request before answering it: mark it and send the request to
// the next usable core as a new client transaction (new branch). False when there is none.
bool Relay::Impl::fail_over(Transaction& t, std::string_view reason) noexcept {
  cores_.failed(t.core_index, now_, reason);
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
  if (!t.media_body.empty() && !set_request_body(t)) return false;  // the anchored offer
  send_to_core(t);
  stats.failovers.inc();
  return true;
}

// A response finds its transaction by our branch alone (RFC 3261 17.1.3), whatever flow it
// came on.
void Relay::Impl::response_from_outside(const Message& m, const FlowInfo& /*flow*/) noexcept {
  now_ = clock_();
  route_cache_.message = nullptr;
  Transaction* t = table_.find_client(m.top_via().branch);
  if (t == nullptr || t->direction != Direction::ToOutside) {
    stats.stray_responses.inc();
    return;
  }
  // A response cannot be refused: one with a malformed SDP never reaches the core (the UA
  // retransmits it, or the transaction times out).
  if (bad_sdp(m)) {
    stats.sdp_dropped.inc();
    return;
  }
  response(*t, m);
}

void Relay::Impl::message_from_inside(std::string_view bytes, Protocol protocol,
                                      std::string_view ip, std::uint16_t port) noexcept {
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
void Relay::Impl::inside_failed(Protocol protocol, std::string_view ip,
                                std::uint16_t port) noexcept {
  now_ = clock_();
  route_cache_.message = nullptr;
  if (const auto core = cores_.find(ip, port); core && cores_.target(*core).protocol == protocol)
    cores_.failed(*core, now_, "unreachable");
  for (Transaction& t : table_.slots()) {
    if (!t.used || t.direction != Direction::ToCore || t.final_seen || t.any_response ||
        t.media_wait_request ||  // not sent yet
        t.core.protocol != protocol || t.core.ip_view() != ip || t.core.port != port)
      continue;
    stats.transport_errors.inc();
    if (!fail_over(t, "unreachable")) give_up(t, 503, "Service Unavailable (core unreachable)");
    schedule(t);
  }
}

void Relay::Impl::tick() noexcept {
  now_ = clock_();
  route_cache_.message = nullptr;
  if (const std::uint64_t due = cores_.probes_due(now_); due != 0)
    for (std::size_t i = 0; i < cores_.size(); ++i)
      if ((due >> i & 1u) != 0) send_probe(i);
  if (const std::size_t ended = dialogs_.expire(now_, kDialogSweepPerTick); ended != 0)
    stats.dialogs_timed_out.inc(ended);
  table_.wake_due(now_, [this](Transaction& t) {
    fire(t);
    if (t.used) schedule(t);
  });
}

void Relay::Impl::request_from_inside(const Message& m, const Address& source) noexcept {
  if (m.method() == Method::Ack) return ack(m, nullptr);
  if (m.top_via().branch.empty()) return answer_inside(m, source, 400, "Missing Via branch");
  if (m.method() == Method::Cancel) return cancel(m, nullptr, source);
  if (Transaction* t = table_.find_server(m, m.method()))
    return retransmission(*t, m.bytes().size());
  if (m.max_forwards() == 0) return answer_inside(m, source, 483, "Too Many Hops");
  // Draining: no new dialog toward the outside (its flow closes at the end of the grace
  // period); the core may try another route. Other requests outside a dialog (MESSAGE, NOTIFY)
  // are single transactions and still go.
  if (wire_.draining() && m.to().tag.empty() && is_dialog_creating(m.method())) {
    stats.draining.inc();
    const std::string_view retry[] = {kDrainingRetryAfter, kServer};
    return answer_inside(m, source, 503, kDrainingReason, retry);
  }
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
  bool ok = !our_via.empty() && vias_to_outside(*t, m, source, editor);
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
  if (is_dialog_creating(m.method()) && m.to().tag.empty())
    ok =
        ok && record_route_to_outside(*t, m, own, *address, source.protocol, mask, binding, editor);
  if (m.method() != Method::Register) ok = ok && hide_contacts(m, editor, own.flow_token);
  if (!ok || !write(editor, t->request)) {
    table_.release(*t);
    stats.too_large.inc();
    return answer_inside(m, source, 513, "Message Too Large to relay");
  }
  (void)track_call(*t, m, nullptr);  // the core's calls are not limited
  if (!anchor_request(*t, m, false, srtp_mode(address->protocol, address->listener_port))) {
    start_client(*t);
    if (!wire_.send_outside(t->dest_flow, t->request)) {
      call_answered(*t, nullptr, 0);
      table_.release(*t);
      stats.flow_failed.inc();
      return answer_inside(m, source, 430, "Flow Failed");
    }
  }
  stats.requests_to_outside.inc();
  if (t->invite()) answer_in_transaction(*t, m, 100, "Trying");
  schedule(*t);
}

void Relay::Impl::cancel(const Message& m, const FlowInfo* flow, const Address& source) noexcept {
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

void Relay::Impl::retransmission(Transaction& t, std::size_t size) noexcept {
  stats.retransmissions_absorbed.inc();
  t.bytes_received += size;
  if (!t.last_response.empty()) send_server(t, t.last_response);
}

Relay::Relay(RelaySettings settings, transport::Wire& wire,
             std::function<Clock::time_point()> clock)
    : impl_(std::make_unique<Impl>(std::move(settings), wire, std::move(clock))) {}
Relay::~Relay() = default;

void Relay::set_unknown_bye_listener(CallEnd listener) {
  impl_->unknown_bye_listener_ = std::move(listener);
}

void Relay::end_call(std::string_view inside_call_id, std::string_view from_tag,
                     std::string_view to_tag) noexcept {
  impl_->end_call(inside_call_id, from_tag, to_tag);
}

void Relay::set_refusal_listener(
    std::function<void(std::string_view remote_ip, sbc::Protocol protocol)> listener) {
  impl_->refusal_listener_ = std::move(listener);
}

void Relay::set_answer_listener(
    std::function<void(std::string_view remote_ip, std::uint16_t status)> listener) {
  impl_->answer_listener_ = std::move(listener);
}

void Relay::request_from_outside(const sip::Message& request, const sbc::FlowInfo& flow) noexcept {
  impl_->request_from_outside(request, flow);
}
void Relay::response_from_outside(const sip::Message& response,
                                  const sbc::FlowInfo& flow) noexcept {
  impl_->response_from_outside(response, flow);
}
void Relay::message_from_inside(std::string_view bytes, sbc::Protocol protocol,
                                std::string_view source_ip, std::uint16_t source_port) noexcept {
  impl_->message_from_inside(bytes, protocol, source_ip, source_port);
}
void Relay::inside_failed(sbc::Protocol protocol, std::string_view ip,
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
std::size_t Relay::active_dialogs() const noexcept {
  return impl_->dialogs().active();
}
std::size_t Relay::established_dialogs() const noexcept {
  return impl_->dialogs().established();
}
void Relay::set_call_limits(const CallLimitSettings& limits) noexcept {
  impl_->set_call_limits(limits);
}
void Relay::set_media_port(MediaPort* port) noexcept {
  impl_->set_media_port(port);
}
std::size_t Relay::transaction_bytes() const noexcept {
  return impl_->transaction_bytes();
}
const RelaySettings& Relay::settings() const noexcept {
  return impl_->settings();
}
const RegistrationView& Relay::registrations() const noexcept {
  return impl_->registrations();
}
const CoreSet& Relay::cores() const noexcept {
  return impl_->cores();
}
std::size_t Relay::replace_cores(const std::vector<CoreTarget>& targets) {
  return impl_->replace_cores(targets);
}

std::array<std::uint32_t, CoreSet::kMaxCores> Relay::in_flight_by_core() const noexcept {
  std::array<std::uint32_t, CoreSet::kMaxCores> counts{};
  for (const Transaction& t : impl_->transactions().slots())
    if (t.used && t.direction == Direction::ToCore && !t.final_seen && t.core_index < counts.size())
      ++counts[t.core_index];
  return counts;
}
std::size_t Relay::set_drained(const std::function<bool(const CoreTarget&)>& which, bool drained) {
  CoreSet& cores = impl_->cores();
  std::size_t named = 0;
  for (std::size_t i = 0; i < cores.size(); ++i) {
    if (!cores.active(i) || !which(cores.target(i))) continue;
    cores.set_drained(i, drained);
    ++named;
  }
  return named;
}
bool Relay::set_token_keys(const std::vector<sbc::crypto::TokenSealer::Key>& keys) noexcept {
  try {
    impl_->sealer().rekey(keys);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// An index is reused long after its core left: no transaction in flight can still name it.
constexpr std::chrono::minutes kCoreIndexReuseAfter{10};

std::size_t Relay::Impl::replace_cores(const std::vector<CoreTarget>& targets) {
  now_ = clock_();
  const std::size_t dropped = cores_.replace(targets, now_, kCoreIndexReuseAfter);
  note_cores();
  return dropped;
}

void Relay::Impl::note_cores() noexcept {
  all_cores_ = non_tls_cores_ = 0;
  for (std::size_t i = 0; i < cores_.size(); ++i) {
    if (!cores_.active(i)) continue;
    all_cores_ |= std::uint64_t{1} << i;
    if (cores_.target(i).protocol != Protocol::Tls) non_tls_cores_ |= std::uint64_t{1} << i;
  }
}

}  // namespace sbc::proxy
