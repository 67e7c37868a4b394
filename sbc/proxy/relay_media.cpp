// Media anchoring (media_port.hpp): the SDP offer of an INVITE or UPDATE in a call the relay
// tracks (dialog_table.hpp) goes to the media relay first, and the request goes on with the body
// it rewrote (Content-Length with it); the SDP answer in the 18x or 2xx to it likewise; the
// session is deleted when the call ends. A request waits in its transaction (retransmissions
// are absorbed meanwhile); a response waits in its transaction's buffer (a final one arriving
// meanwhile waits behind it; a provisional is dropped). A late offer (an INVITE without SDP:
// the offer in its 18x/2xx, the answer in the ACK of the 2xx) is anchored the other way round:
// the response waits for its offer's rewrite, and the ACK, which no transaction holds, waits in
// held_acks_ for its answer's (a repeated ACK gets the same answer without asking again).
//
// media.srtp: an offer of SDES-SRTP from the outside on a listener that has the setting reaches
// the core as plain RTP (rtpengine bridges: `transport-protocol` RTP/AVP; the answer goes back to
// the caller in SRTP with rtpengine's key); a `required` listener refuses an offer without SRTP
// (488), and the offers the core sends down its flows, or down a call whose caller offered SRTP,
// reach the outside in RTP/SAVP with rtpengine's key.

#include "sbc/proxy/relay_impl.hpp"

namespace sbc::proxy {
namespace {

constexpr std::string_view kMediaUnavailable = "Service Unavailable (media relay unavailable)";

// The requests whose SDP is an offer (or, PRACK, the answer to a late offer in a reliable 18x:
// RFC 3262 section 5), answered in their 18x/2xx.
bool offers_sdp(Method m) noexcept {
  return m == Method::Invite || m == Method::Update || m == Method::Prack;
}

// RFC 4568: SDES keys are media-level attributes.
bool has_crypto(const media::Sdp& sdp, const media::SdpMedia& m) noexcept {
  for (const media::SdpAttribute& a : sdp.attributes(m))
    if (a.name == "crypto" && media::parse_crypto(a.value)) return true;
  return false;
}

}  // namespace

bool Relay::Impl::is_sdp(const Message& m) noexcept {
  if (m.body().empty()) return false;
  const sip::HeaderField* type = m.find(HeaderId::ContentType);
  if (type == nullptr) return false;
  // The media type, without parameters: application/sdp in any case (RFC 3261 7.3.1).
  std::string_view media_type = type->value.substr(0, type->value.find(';'));
  while (!media_type.empty() && (media_type.back() == ' ' || media_type.back() == '\t'))
    media_type.remove_suffix(1);
  return sip::iequals(media_type, "application/sdp");
}

// The media relay's name of a leg's session (MediaCall::session), in media_session_.
std::string_view Relay::Impl::media_session(const DialogTable::Dialog& d) noexcept {
  media_session_.assign(d.call_id).append(d.from_outside ? "~o" : "~i");
  return media_session_;
}

RelaySettings::Srtp Relay::Impl::srtp_mode(Protocol protocol,
                                           std::uint16_t listener_port) const noexcept {
  if (protocol != Protocol::Tls) return RelaySettings::Srtp::Off;
  for (const auto& [port, mode] : settings_.media_srtp)
    if (port == listener_port) return mode;
  return RelaySettings::Srtp::Off;
}

// Every stream m offers (an RTP profile, port not 0) is SRTP with SDES keys (RTP/SAVP or
// RTP/SAVPF and an a=crypto), and there is one at least.
bool Relay::Impl::srtp_offer(const Message& m) noexcept {
  if (!is_sdp(m) || media::parse_sdp(m.body(), *sdp_)) return false;
  bool any = false;
  for (const media::SdpMedia& s : sdp_->media_list()) {
    if (s.port == 0 || !s.rtp()) continue;
    if ((s.proto != "RTP/SAVP" && s.proto != "RTP/SAVPF") || !has_crypto(*sdp_, s)) return false;
    any = true;
  }
  return any;
}

bool Relay::Impl::srtp_missing(const Message& m, const FlowInfo& flow) noexcept {
  const Method method = m.method();
  if (media_ == nullptr || (method != Method::Invite && method != Method::Update) || !is_sdp(m) ||
      srtp_mode(flow.protocol, flow.bound_port()) != RelaySettings::Srtp::Required || srtp_offer(m))
    return false;
  stats.media_srtp_refused.inc();
  return true;
}

bool Relay::Impl::anchor_request(Transaction& t, const Message& m, bool from_outside,
                                 RelaySettings::Srtp srtp) noexcept {
  if (media_ == nullptr || !offers_sdp(m.method())) return false;
  const bool late = m.method() == Method::Invite && m.body().empty();
  if (!late && !is_sdp(m)) return false;
  DialogTable::Dialog* d = dialogs_.get(t.dialog);
  if (d == nullptr) {
    stats.media_unanchored.inc();  // not a call the table holds (full, or the core's untracked)
    return false;
  }
  if (d->call_id.empty())
    d->call_id.assign(from_outside ? call_ids_.inside(m.call_id()) : m.call_id());
  if (late) {
    t.late_offer = true;  // the offer comes in the response (anchor_response)
    return false;
  }
  t.media_wait_request = true;
  // A backstop: the port's own deadline answers first (408 if it never did).
  t.timeout_at = now_ + 64 * settings_.t1;
  if (m.method() == Method::Prack && d->answer_due) {
    d->answer_due = false;  // the answer to the offer of a reliable 18x (a late offer)
    ask_media(MediaOp::Answer, t, *d, m, from_outside);
    return true;
  }
  // The profile the other side gets: the sender's own unless media.srtp bridges.
  std::string_view profile;
  if (from_outside) {
    if (srtp != RelaySettings::Srtp::Off) d->srtp = srtp_offer(m);
    if (d->srtp && srtp != RelaySettings::Srtp::Off) profile = "RTP/AVP";
  } else if (srtp == RelaySettings::Srtp::Required || d->srtp) {
    profile = "RTP/SAVP";
  }
  if (!profile.empty()) stats.media_srtp_bridged.inc();
  ask_media(MediaOp::Offer, t, *d, m, from_outside, profile);
  return true;
}

// The call of m's SDP for the media relay: the offerer's tag first (the callee's, To, for the
// offer of a late offer in a response and for its answer in the ACK).
MediaCall Relay::Impl::media_call(MediaOp op, const DialogTable::Dialog& d, const Message& m,
                                  bool from_outside) noexcept {
  const bool callee_offered = (op == MediaOp::Offer) != m.is_request();
  MediaCall call;
  call.session = media_session(d);
  call.from_tag = callee_offered ? m.to().tag : m.from().tag;
  call.to_tag = callee_offered ? m.from().tag : m.to().tag;
  call.sdp = m.body();
  call.from_outside = from_outside;
  return call;
}

// Sends m's SDP (an offer or an answer of t, in call leg d) to the media port; its result goes
// to request_media_done (a request waits) or response_media_done (a response waits), which find t
// again by slot and generation.
void Relay::Impl::ask_media(MediaOp op, const Transaction& t, const DialogTable::Dialog& d,
                            const Message& m, bool from_outside,
                            std::string_view transport_protocol) noexcept {
  MediaCall call = media_call(op, d, m, from_outside);
  call.transport_protocol = transport_protocol;
  std::optional<transport::FlowAddress> flow;
  if (from_outside && m.is_request()) {
    call.received_from = t.source.ip_view();
  } else if (from_outside && (flow = wire_.flow_address(t.dest_flow))) {
    call.received_from = flow->remote_ip;  // a response from the user agent
  }
  const auto slot = static_cast<std::uint32_t>(&t - table_.slots().data());
  media_->request(op, call,
                  [this, op, request = m.is_request(), slot, generation = t.generation,
                   started = now_](const MediaResult& r) {
                    if (request) {
                      request_media_done(op, slot, generation, started, r);
                    } else {
                      response_media_done(op, slot, generation, started, r);
                    }
                  });
}

// The request of transaction `slot` gets its rewritten offer (or answer, in a PRACK) and goes on
// (or is refused).
void Relay::Impl::request_media_done(MediaOp op_done, std::uint32_t slot, std::uint32_t generation,
                                     TimePoint started, const MediaResult& r) noexcept {
  now_ = clock_();
  route_cache_.message = nullptr;
  stats.media_time.observe(now_ - started);
  Transaction& t = table_.slots()[slot];
  if (!t.used || t.generation != generation || !t.media_wait_request) return;
  t.media_wait_request = false;
  const auto op = static_cast<std::size_t>(op_done);
  if (r.ok) {
    stats.media_ok[op].inc();
    t.media_body.assign(r.sdp);
    if (!set_request_body(t)) {
      stats.too_large.inc();
      give_up(t, 513, "Message Too Large to relay");
      return schedule(t);
    }
    t.media_offered = op_done == MediaOp::Offer;
    if (DialogTable::Dialog* d = dialogs_.get(t.dialog); d != nullptr && !d->media) {
      d->media = true;
      stats.media_sessions_opened.inc();
    }
  } else {
    stats.media_failed[op].inc();
    if (settings_.media_on_failure == RelaySettings::MediaFailure::Reject) {
      give_up(t, 503, kMediaUnavailable);
      return schedule(t);
    }
    stats.media_unanchored.inc();
  }
  if (t.direction == Direction::ToCore) {
    send_to_core(t);
  } else {
    start_client(t);
    if (!wire_.send_outside(t.dest_flow, t.request)) {
      stats.flow_failed.inc();
      give_up(t, 430, "Flow Failed");
    }
  }
  schedule(t);
}

// t.request with t.media_body as its body.
bool Relay::Impl::set_request_body(Transaction& t) noexcept {
  if (!replace_body(t.request, t.media_body)) return false;
  table_.account(t);
  return true;
}

// `bytes` (a whole message) with `body` instead of its own, Content-Length with it.
bool Relay::Impl::replace_body(std::string& bytes, std::string_view body) noexcept {
  Message& sent = *scratch_;
  if (!sent.parse(bytes, sip::Framing::Datagram, settings_.limits).is_valid()) return false;
  sip::MessageEditor editor(sent);
  if (!editor.set_body(body) || !write(editor, media_buffer_)) return false;
  bytes.swap(media_buffer_);
  return true;
}

bool Relay::Impl::anchor_response(Transaction& t, const Message& m) noexcept {
  if (media_ == nullptr || rewriting_response_ || !offers_sdp(t.method)) return false;
  const std::uint16_t status = m.status_code();
  if (status <= 100 || status >= 300 || !is_sdp(m)) return false;
  if (t.media_wait_response) {
    // One answer at a time: a final response waits behind it, a provisional is dropped.
    if (status >= 200) t.media_queued.assign(m.bytes());
    return true;
  }
  DialogTable::Dialog* d = dialogs_.get(t.dialog);
  // A late offer: the response offers (its sender, the callee, is on the request's far side).
  const MediaOp op = t.late_offer ? MediaOp::Offer : MediaOp::Answer;
  if (d == nullptr || (op == MediaOp::Answer && (!t.media_offered || !d->media))) {
    if (d != nullptr && d->media) stats.media_unanchored.inc();  // an answer to an unanchored offer
    return false;
  }
  t.media_response.assign(m.bytes());
  t.media_wait_response = true;
  ask_media(op, t, *d, m, t.direction == Direction::ToOutside);
  return true;
}

// The response waiting in transaction `slot` goes on with its rewritten answer (or the request
// is refused), then the one that waited behind it, if any.
void Relay::Impl::response_media_done(MediaOp op_done, std::uint32_t slot, std::uint32_t generation,
                                      TimePoint started, const MediaResult& r) noexcept {
  now_ = clock_();
  route_cache_.message = nullptr;
  stats.media_time.observe(now_ - started);
  Transaction& t = table_.slots()[slot];
  if (!t.used || t.generation != generation || !t.media_wait_response) return;
  t.media_wait_response = false;
  media_held_.swap(t.media_response);
  const auto op = static_cast<std::size_t>(op_done);
  Message& m = *message_;
  if (!m.parse(media_held_, sip::Framing::Datagram, settings_.limits).is_valid()) return;
  if (!r.ok) {
    stats.media_failed[op].inc();
    // A provisional is dropped; a 2xx cannot go on with the inside's address: the requester gets
    // 503 and the answerer, never ACKed, ends its side (RFC 3261 13.3.1.4).
    if (m.status_code() >= 200 && !t.final_seen) {
      if (settings_.media_on_failure == RelaySettings::MediaFailure::Reject) {
        give_up(t, 503, kMediaUnavailable);
      } else {
        stats.media_unanchored.inc();
        rewriting_response_ = true;
        response(t, m);
        rewriting_response_ = false;
      }
    }
  } else {
    stats.media_ok[op].inc();
    if (op_done == MediaOp::Offer) late_offer_anchored(t);
    sip::MessageEditor editor(m);
    if (editor.set_body(r.sdp) && write(editor, media_buffer_) &&
        rewritten_->parse(media_buffer_, sip::Framing::Datagram, settings_.limits).is_valid()) {
      rewriting_response_ = true;
      response(t, *rewritten_);
      rewriting_response_ = false;
    } else {
      stats.too_large.inc();
    }
  }
  if (t.used && t.generation == generation && !t.media_queued.empty()) {
    media_held_.swap(t.media_queued);
    t.media_queued.clear();
    if (m.parse(media_held_, sip::Framing::Datagram, settings_.limits).is_valid()) response(t, m);
  }
  if (t.used && t.generation == generation) schedule(t);
}

// The offer in t's response is anchored: its 2xx retransmissions go out as it did, the answer in
// the ACK will be anchored too, and the session is deleted at the call's end.
void Relay::Impl::late_offer_anchored(Transaction& t) noexcept {
  t.media_offered = true;
  DialogTable::Dialog* d = dialogs_.get(t.dialog);
  if (d == nullptr) return;
  d->late_offer = true;
  d->answer_due = true;  // in the PRACK of a reliable 18x, or the ACK of the 2xx
  if (!d->media) {
    d->media = true;
    stats.media_sessions_opened.inc();
  }
}

// The answer in the ACK of a late offer's 2xx (`ack`: the ACK as it goes on, toward `core` or
// down `flow_token`) goes to the media relay first, the ACK held meanwhile; an ACK that repeats
// one held gets its rewritten answer (or is dropped while the first waits). True when the ACK
// was taken. At most kHeldAcks wait or are remembered per worker; beyond, an ACK goes on as it
// came, counted unanchored.
bool Relay::Impl::anchor_ack(const Message& m, std::string& ack, const Address* core,
                             std::uint64_t flow_token, std::string_view source_ip) noexcept {
  if (media_ == nullptr || !is_sdp(m)) return false;
  const bool from_outside = core != nullptr;
  const std::string_view call_id = from_outside ? call_ids_.inside(m.call_id()) : m.call_id();
  DialogTable::Dialog* d = dialogs_.find(call_id, m.from().tag, m.to().tag, from_outside);
  if (d == nullptr || !d->late_offer) return false;  // (an ACK with SDP to an ordinary 2xx)
  const DialogTable::Ref dialog = dialogs_.ref(*d);
  const std::uint32_t cseq = m.cseq().number;
  if (held_acks_.empty()) held_acks_.resize(kHeldAcks);
  HeldAck* free_slot = nullptr;
  for (HeldAck& h : held_acks_) {
    if (h.used && h.dialog.slot == dialog.slot && h.dialog.generation == dialog.generation &&
        h.cseq == cseq) {
      if (!h.done) return true;
      if (!h.body.empty()) (void)replace_body(ack, h.body);
      return false;
    }
    if (free_slot == nullptr && (!h.used || (h.done && h.keep_until <= now_))) free_slot = &h;
  }
  if (!d->answer_due) return false;  // answered already (in a PRACK)
  d->answer_due = false;
  if (free_slot == nullptr) {
    stats.media_unanchored.inc();
    return false;
  }
  HeldAck& h = *free_slot;
  h.used = true;
  h.done = false;
  h.dialog = dialog;
  h.cseq = cseq;
  h.id = ++held_ack_ids_;
  h.flow_token = flow_token;
  if (core != nullptr) h.core = *core;
  h.to_outside = core == nullptr;
  h.bytes.assign(ack);
  h.body.clear();
  const auto slot = static_cast<std::size_t>(&h - held_acks_.data());
  MediaCall call = media_call(MediaOp::Answer, *d, m, from_outside);
  call.received_from = source_ip;
  media_->request(MediaOp::Answer, call,
                  [this, slot, id = h.id, started = now_](const MediaResult& r) {
                    ack_done(slot, id, started, r);
                  });
  return true;
}

// A held ACK goes on: with its rewritten answer, or as it came (it must reach the callee
// whatever happens to the media: counted unanchored).
void Relay::Impl::ack_done(std::size_t slot, std::uint32_t id, TimePoint started,
                           const MediaResult& r) noexcept {
  now_ = clock_();
  route_cache_.message = nullptr;
  stats.media_time.observe(now_ - started);
  HeldAck& h = held_acks_[slot];
  if (!h.used || h.id != id || h.done) return;
  h.done = true;
  h.keep_until = now_ + 64 * settings_.t1;  // a 2xx retransmitted meanwhile brings a new ACK
  constexpr auto op = static_cast<std::size_t>(MediaOp::Answer);
  if (r.ok && replace_body(h.bytes, r.sdp)) {
    stats.media_ok[op].inc();
    h.body.assign(r.sdp);
  } else {
    (r.ok ? stats.too_large : stats.media_failed[op]).inc();
    stats.media_unanchored.inc();
  }
  if (h.to_outside) {
    (void)wire_.send_outside(h.flow_token, h.bytes);
  } else {
    wire_.send_inside(h.core.protocol, h.core.ip_view(), h.core.port, h.bytes);
  }
}

// A call's end: its session goes (each leg's once).
void Relay::Impl::media_closed(const DialogTable::Dialog& d) noexcept {
  if (!d.media || media_ == nullptr) return;
  stats.media_sessions_closed.inc();
  MediaCall call;
  call.session = media_session(d);
  call.from_outside = d.from_outside;
  constexpr auto op = static_cast<std::size_t>(MediaOp::Delete);
  media_->request(MediaOp::Delete, call, [this, started = now_](const MediaResult& r) {
    stats.media_time.observe(clock_() - started);
    (r.ok ? stats.media_ok[op] : stats.media_failed[op]).inc();
  });
}

}  // namespace sbc::proxy
