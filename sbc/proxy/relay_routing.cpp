// The relay's routing: our own Route entries and the core they name, dialog protection (the
// bound tokens of RFC 3261 26.1.4's concern), loop detection (16.3 step 4), the Route rewrite,
// the ACK routed without a transaction, and the trust boundary (untrusted headers, SDP bodies).

#include "sbc/proxy/relay_impl.hpp"
#include "sbc/sip/response.hpp"

#include <algorithm>
#include <charconv>

namespace sbc::proxy {

// Dialog protection (RFC 3261 26.1.4, tearing down sessions): a request inside a dialog
// (To tag) from the outside must come through the Record-Route entry we issued for that dialog,
// and from the address of the party we issued it to. A third party has no such token, and
// cannot use someone else's from its own address: 481.
// The token must also be bound to this very dialog (its Call-ID and the caller's tag, which
// comes back as From or To tag) and not expired: a token from one real call opens no invented
// dialog. A REGISTER is never in a dialog: a To tag on it exempts it from nothing.
bool Relay::Impl::in_dialog_allowed(const Message& m, const OwnRoutes& own,
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
std::optional<std::size_t> Relay::Impl::named_core(const Message& m,
                                                   const OwnRoutes& own) const noexcept {
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
    return cores_.find(strip_brackets(route.uri.host), route.uri.port == 0 ? 5060 : route.uri.port);
  }
  return std::nullopt;
}

bool Relay::Impl::is_own_address(std::string_view host, std::uint16_t port,
                                 const FlowInfo* flow) const noexcept {
  host = strip_brackets(host);
  if (host == settings_.inside_ip && port == settings_.inside_port) return true;
  if (flow != nullptr && host == flow->local_ip && port == flow->local_port) return true;
  return std::any_of(settings_.outside_addresses.begin(), settings_.outside_addresses.end(),
                     [&](const OwnAddress& a) { return a.ip == host && a.port == port; });
}

Relay::Impl::Routes Relay::Impl::routes_of(const Message& m) const noexcept {
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

// Our entries at the top of the Route set (at most two: the inside and the outside one).
OwnRoutes Relay::Impl::own_routes(const Message& m, const FlowInfo* flow) noexcept {
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
Binding Relay::Impl::dialog_binding(std::string_view outside_call_id, std::string_view from_tag,
                                    const Transaction* t) noexcept {
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
std::uint32_t Relay::Impl::wall_seconds() const noexcept {
  const auto since = std::chrono::duration_cast<std::chrono::seconds>(now_ - clock_start_);
  return static_cast<std::uint32_t>(wall_start_ + since.count());
}

// Whether m carries an SDP body that breaks RFC 8866 or a bound (reason_: the 400's phrase).
bool Relay::Impl::bad_sdp(const Message& m) noexcept {
  if (!is_sdp(m)) return false;
  const auto error = media::parse_sdp(m.body(), *sdp_);
  if (!error) return false;
  reason_.assign("Bad Request (SDP: ").append(error->phrase()).append(")");
  return true;
}

// Removes every relay.untrusted_headers header; false when some could not be removed.
bool Relay::Impl::strip_untrusted(sip::MessageEditor& editor) const noexcept {
  // By id when the name has one (what strip_headers(name) looks up every time).
  for (std::size_t i = 0; i < untrusted_.size(); ++i) {
    const bool stripped = untrusted_ids_[i] != HeaderId::Other
                              ? editor.strip_headers(untrusted_ids_[i])
                              : editor.strip_headers(untrusted_[i]);
    if (!stripped) return false;
  }
  return true;
}

// The cores a request may not go to as a bit mask (bit i = core i): for a sips: Request-URI
// (relay.sips_end_to_end), those not reached over TLS.
std::uint64_t Relay::Impl::cores_without_tls(const Message& m) const noexcept {
  return settings_.sips_end_to_end && m.request_uri().scheme == sip::Scheme::Sips ? non_tls_cores_
                                                                                  : 0;
}

// Whether a message from the core going down a flow gets a masked Call-ID: a request outside a
// dialog starts a leg of its own (even when the core relays an outside caller's Call-ID: that
// caller's leg keeps it), one inside a dialog follows what its leg got when it was created.
bool Relay::Impl::masks_call_id(const Message& m, const OwnRoutes& own) const noexcept {
  return settings_.mask_call_id && (m.to().tag.empty() || own.masked_leg);
}

// Removes our entries from the top of the Route set; the inside routes a hidden entry
// carries take their place.
// From the outside, the entries after ours are kept only as the route set of a dialog of ours
// whose token does not carry it itself (topology hiding off); any other Route entry was
// preloaded by the sender to steer the request (to a backup core, a core marked down, or
// through the core elsewhere) and is removed: only our own routing chooses the core.
bool Relay::Impl::rewrite_routes(const Message& m, sip::MessageEditor& editor, const OwnRoutes& own,
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
bool Relay::Impl::detect_loop(const Message& m, std::uint32_t hash) const noexcept {
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
std::uint32_t Relay::Impl::loop_hash(const Message& m, std::string_view call_id,
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
std::string_view Relay::Impl::write_our_via(Protocol protocol, std::string_view host,
                                            std::uint16_t port, std::string_view branch) noexcept {
  Writer w(via_buffer_);
  write_via(w, protocol, host, port, branch);
  return w.ok() ? w.view() : std::string_view{};
}

std::string_view Relay::Impl::stateless_branch(std::string_view incoming) noexcept {
  return write_stateless_branch(stateless_branch_.data(), incoming);
}

// ACK: for a non-2xx final it belongs to our INVITE server transaction and ends there; for a
// 2xx it is a request of its own, routed by its Route set without a transaction.
void Relay::Impl::ack(const Message& m, const FlowInfo* flow) noexcept {
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
    Address to;
    to.set(core.ip, core.port, core.protocol);
    // The answer to a late offer waits for its rewrite (relay_media.cpp).
    if (!anchor_ack(m, stateless_, &to, 0, flow->remote_ip))
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
    if (!anchor_ack(m, stateless_, nullptr, own.flow_token))
      wire_.send_outside(own.flow_token, stateless_);
  }
  stats.stateless_forwarded.inc();
}

}  // namespace sbc::proxy
