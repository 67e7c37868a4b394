// The relay's answers side (RFC 3261 16.7, 17): responses relayed back to the server side,
// the timers of Appendix A, the client side's sends (retransmissions, CANCEL, ACK), our own
// answers, and what a transaction keeps between messages.

#include "sbc/proxy/relay_impl.hpp"

#include <algorithm>

#include "sbc/sip/response.hpp"

namespace sbc::proxy {

void Relay::Impl::response(Transaction& t, const Message& m) noexcept {
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
  if (t.direction == Direction::ToCore && status != 503) cores_.answered(t.core_index);
  if (status == 503 && t.direction == Direction::ToCore && !t.final_seen) {
    // The core is overloaded or out of service (RFC 3261 21.5.4): try the next one. Failing
    // that, the client gets 500, not 503: the SBC itself is not the one unavailable (16.7).
    if (t.invite()) send_ack_for(t, m);
    if (fail_over(t, "503 to a request")) {
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
  if (!t.final_seen && anchor_response(t, m)) return;  // goes on once its SDP is anchored
  if (t.final_seen) {
    if (t.invite() && status >= 200 && status < 300 && t.state == ServerState::Accepted) {
      // A 2xx retransmission: it goes through end to end (RFC 6026 Accepted state); with its
      // answer anchored, as it went the first time.
      if (t.media_offered) {
        send_server(t, t.last_response);
      } else {
        forward_response(t, m);
      }
    } else if (t.invite() && status >= 300) {
      send_ack_for(t, m);  // our ACK was lost
    }
    return;
  }
  // The call's place is given back before its final answer leaves: whoever hears it may call
  // again at once (and does, in test_call_flood.py).
  if (status >= 200) call_answered(t, &m, status);
  if (!forward_response(t, m)) return;
  // Dialogs: established by the first 2xx to a dialog-creating INVITE, ended by a 2xx to BYE
  // (the difference is the number of calls up, give or take calls whose parties vanished).
  // Retransmitted finals returned above.
  if (status >= 200 && status < 300) {
    if (t.creates_dialog) stats.dialogs_established.inc();
    if (t.method == Method::Bye) stats.dialogs_ended.inc();
    if (t.method == Method::Register && t.direction == Direction::ToCore) note_registration(t, m);
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

void Relay::Impl::final_from_core_as_500(Transaction& t, const Message& m) noexcept {
  finish(t);
  call_answered(t, nullptr, 500);
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
bool Relay::Impl::forward_response(Transaction& t, const Message& m,
                                   std::string_view status_line) noexcept {
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

// The registrar's 2xx to a REGISTER from the outside, into the registrations view. It lists
// every binding the address-of-record has left (RFC 3261 10.3 step 8): the registration lasts
// as long as the longest of them (a Contact's expires, else the Expires header, else 3600 s,
// 10.2.1.1); with none it is removed.
void Relay::Impl::note_registration(const Transaction& t, const Message& m) noexcept {
  constexpr std::uint32_t kDefaultExpires = 3600;
  constexpr std::size_t kMaxContacts = 32;  // bindings looked at
  const std::int64_t header = m.expires();
  const std::uint32_t fallback = header >= 0 ? static_cast<std::uint32_t>(header) : kDefaultExpires;
  std::uint32_t longest = 0;
  auto contacts = m.name_addrs(HeaderId::Contact);
  sip::NameAddr contact;
  for (std::size_t n = 0; n < kMaxContacts && contacts.next(contact); ++n) {
    std::uint32_t expires = fallback;
    if (const sip::ParamValue p = contact.param("expires"))
      if (!sip::parse_delta_seconds(p.value, expires)) expires = fallback;
    longest = std::max(longest, expires);
  }
  // The address-of-record: the To URI without its parameters ("sip:user@host").
  const sip::Uri& to = m.to().uri;
  std::string_view aor = to.text;
  if (!to.host.empty())
    aor = {to.text.data(),
           static_cast<std::size_t>(to.host.data() + to.host.size() - to.text.data())};
  registrations_.update(aor, t.source.protocol, identity_user(t.asserted_identity),
                        std::chrono::seconds(longest), now_);
}

// A non-2xx final answer sent for an INVITE: wait for the ACK, retransmitting the answer
// over UDP (timers G and H).
void Relay::Impl::complete_invite_server(Transaction& t) noexcept {
  t.state = ServerState::Completed;
  if (!t.server_reliable) {
    t.response_interval = settings_.t1;
    t.response_retransmit_at = now_ + settings_.t1;
  }
  t.end_at = now_ + 64 * settings_.t1;
}

void Relay::Impl::fire(Transaction& t) noexcept {
  if (!t.final_seen && !t.any_response && !t.media_wait_request &&
      (t.failover_at <= now_ || (t.failover_allowed && t.timeout_at <= now_))) {
    // Silence from the core: the next one gets the request as a new client transaction.
    t.failover_at = kNever;
    if (fail_over(t, "no answer to a request")) return;
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
  if (t.end_at <= now_) {
    if (t.dialog) call_answered(t, nullptr, 0);  // ended without a final answer relayed
    table_.release(t);
  }
}

// The next hop did not answer in time: 408 to the server side (RFC 3261 16.8).
void Relay::Impl::time_out(Transaction& t) noexcept {
  stats.timeouts.inc();
  give_up(t, 408, "Request Timeout");
}

// Ends the client side without an answer from the next hop, and answers the server side.
void Relay::Impl::give_up(Transaction& t, std::uint16_t status, std::string_view reason) noexcept {
  finish(t);
  call_answered(t, nullptr, status);
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

void Relay::Impl::schedule(Transaction& t) noexcept {
  trim(t);
  TimePoint at =
      std::min({t.end_at, t.response_retransmit_at, t.cancel_retransmit_at, t.cancel_timeout_at});
  if (!t.final_seen)
    at = std::min({at, t.retransmit_at, t.timeout_at, t.timer_c_at, t.failover_at});
  table_.wake(t, at);
}

void Relay::Impl::start_client(Transaction& t) noexcept {
  if (!t.client_reliable) {
    t.retransmit_interval = settings_.t1;
    t.retransmit_at = now_ + settings_.t1;
  }
  t.timeout_at = now_ + 64 * settings_.t1;
}

void Relay::Impl::send_client(const Transaction& t, std::string_view bytes) noexcept {
  if (t.direction == Direction::ToCore) {
    wire_.send_inside(t.core.protocol, t.core.ip_view(), t.core.port, bytes);
  } else {
    (void)wire_.send_outside(t.dest_flow, bytes);
  }
}

// `final_answer`: the first final response of the transaction (sent even past the budget).
void Relay::Impl::send_server(Transaction& t, std::string_view bytes, bool final_answer) noexcept {
  if (t.direction == Direction::ToCore) {
    if (!t.server_reliable && !t.source_proved) {
      // The provisionals within 3x (a 100 and a 180 with our tokens fit for a usual INVITE);
      // a retransmitted request earns its 3x again.
      const std::uint64_t allowed = kAmplificationFactor * t.bytes_received;
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
bool Relay::Impl::build_hop_request(const Transaction& t, std::string_view method,
                                    const Message* response, std::string& out) noexcept {
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

void Relay::Impl::send_cancel(Transaction& t) noexcept {
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

void Relay::Impl::send_ack_for(Transaction& t, const Message& response) noexcept {
  if (build_hop_request(t, "ACK", &response, stateless_)) send_client(t, stateless_);
}

void Relay::Impl::send_probe(std::size_t i) noexcept {
  const CoreTarget& core = cores_.target(i);
  const std::size_t n = cores_.write_probe(i, settings_.inside_ip, settings_.inside_port, *out_);
  if (n != 0) wire_.send_inside(core.protocol, core.ip, core.port, {out_->data(), n});
}

// Only an answer naming the outstanding probe's nonce counts; anything else (forged, late) is
// ignored and counted.
void Relay::Impl::probe_answer(const Message& m) noexcept {
  if (!cores_.probe_answered(m.top_via().branch, m.status_code() == 503, now_))
    stats.probe_mismatches.inc();
}

std::string_view Relay::Impl::build_answer(const Message& m, std::uint16_t status,
                                           std::string_view reason, std::string_view source_ip,
                                           std::uint16_t source_port,
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

void Relay::Impl::answer_outside(const Message& m, const FlowInfo& flow, std::uint16_t status,
                                 std::string_view reason,
                                 std::span<const std::string_view> extra) noexcept {
  const std::string_view bytes =
      build_answer(m, status, reason, flow.remote_ip, flow.remote_port, extra);
  if (!bytes.empty()) (void)wire_.send_outside(flow.flow_token, bytes);
}

void Relay::Impl::answer_inside(const Message& m, const Address& source, std::uint16_t status,
                                std::string_view reason,
                                std::span<const std::string_view> extra) noexcept {
  const std::string_view bytes =
      build_answer(m, status, reason, source.ip_view(), source.port, extra);
  if (!bytes.empty()) wire_.send_inside(source.protocol, source.ip_view(), source.port, bytes);
}

// An answer of our own inside a transaction (100 Trying, 408): kept for retransmissions.
void Relay::Impl::answer_in_transaction(Transaction& t, const Message& request,
                                        std::uint16_t status, std::string_view reason) noexcept {
  const std::string_view bytes =
      build_answer(request, status, reason, t.source.ip_view(), t.source.port, {});
  if (bytes.empty()) return;
  t.last_response.assign(bytes);
  send_server(t, t.last_response, status >= 200);
}

// What t no longer needs goes, large buffers only (small ones stay with the slot). The request
// as it arrived serves a fail-over and our own final answer: not after a final. The request
// as relayed serves retransmissions (INVITE: until a provisional; others: until the final) and
// then only CANCEL and ACK, which its first lines build as well: an ACK of it stays instead.
void Relay::Impl::trim(Transaction& t) noexcept {
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
void Relay::Impl::finish(Transaction& t) noexcept {
  t.final_seen = true;
  // Answered: a rewrite still on its way is of no use (relay_media.cpp).
  t.media_wait_request = t.media_wait_response = false;
  t.retransmit_at = t.timeout_at = t.timer_c_at = t.failover_at = kNever;
  const std::size_t kind = (t.direction == Direction::ToCore ? 0 : 2) + (t.invite() ? 0 : 1);
  stats.transaction_time[kind].observe(now_ - t.started);
}

bool Relay::Impl::write(const sip::MessageEditor& editor, std::string& out) noexcept {
  return editor.write(out, settings_.limits.max_message_bytes);
}

}  // namespace sbc::proxy
