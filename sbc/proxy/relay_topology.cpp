// Topology hiding (relay.topology_hiding): what the outside sees of the inside. The core's
// Vias stay in the transaction, its Record-Route entries travel sealed in our one outside entry,
// its Contacts are rewritten to tokens of ours; what comes back is restored.

#include "sbc/proxy/relay_impl.hpp"
#include "sbc/sip/response.hpp"

namespace sbc::proxy {

// The Vias of a request from the core going to the outside, ours to be put on top: with
// topology hiding the core's Via stack stays in t (the response gets it back) and goes; else the
// core's top Via gets received/rport (RFC 3581).
bool Relay::Impl::vias_to_outside(Transaction& t, const Message& m, const Address& source,
                                  sip::MessageEditor& editor) noexcept {
  if (settings_.topology_hiding) {
    t.hidden_vias.clear();
    auto vias = m.vias();
    sip::Via v;
    bool first = true;
    while (vias.next(v)) {
      if (!first) t.hidden_vias += ", ";
      if (first) {
        const std::size_t n =
            sip::write_via_with_source(v, source.ip_view(), source.port, client_via_buffer_);
        t.hidden_vias.append(client_via_buffer_.data(), n);
      } else {
        t.hidden_vias += v.text;
      }
      first = false;
    }
    return editor.remove_headers(HeaderId::Via);
  }
  const std::size_t n =
      sip::write_via_with_source(m.top_via(), source.ip_view(), source.port, client_via_buffer_);
  return n > 0 && editor.replace(m.top_via().text, {client_via_buffer_.data(), n});
}

// The Record-Route of a dialog-creating request from the core going to the outside: our outside
// and inside entries, their tokens bound to the dialog (`binding`) and marked when its Call-ID is
// masked; with topology hiding, the outside sees one entry of ours that carries the core's
// entries sealed, and t keeps the list the core would have seen, for the answers.
bool Relay::Impl::record_route_to_outside(Transaction& t, const Message& m, const OwnRoutes& own,
                                          const transport::FlowAddress& address,
                                          Protocol inside_protocol, bool mask,
                                          const Binding& binding,
                                          sip::MessageEditor& editor) noexcept {
  Writer record(record_buffer_);
  const Ip participant = ip_bytes(address.remote_ip);
  t.hidden_record_route.clear();
  // What the core would see without hiding: our outside and inside entries on top of its own.
  tokens_.entry(record, TokenKind::Flow, own.flow_token, participant, {}, address.local_ip,
                address.local_port, address.protocol, mask, &binding)
      << ", ";
  tokens_.entry(record, TokenKind::Flow, own.flow_token, participant, {}, settings_.inside_ip,
                settings_.inside_port, inside_protocol, mask);
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
    t.hidden_record_route.assign(record.view());
    if (!first) t.hidden_record_route.append(", ").append(inside.view());
    Writer hidden(record_buffer_);
    tokens_.entry(hidden, TokenKind::Dialog, own.flow_token, participant, inside.view(),
                  address.local_ip, address.local_port, address.protocol, false, &binding);
    return inside.ok() && hidden.ok() && record.ok() &&
           (m.count(HeaderId::RecordRoute) == 0 || editor.remove_headers(HeaderId::RecordRoute)) &&
           editor.add_record_route(hidden.view());
  }
  return record.ok() && editor.add_record_route(record.view());
}

// An answer from the core going outside: the Record-Route entries of the inside (the core's
// and our inside one) go sealed into our one outside entry; entries beyond it (the outside
// side's) stay. The user agent's in-dialog requests bring the sealed routes back to us.
bool Relay::Impl::hide_record_route(const Transaction& t, const Message& m,
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
  tokens_.entry(list, TokenKind::Dialog, t.source_flow, ip_bytes(t.source.ip_view()), inside.view(),
                address->local_ip, address->local_port, address->protocol, false, &binding);
  for (std::size_t i = ours + 1; i < n; ++i) list << ", " << values[i];
  return list.ok() && editor.remove_headers(HeaderId::RecordRoute) &&
         editor.add_record_route(list.view());
}

// An answer from the outside going to the core: our hidden entry becomes again the list the
// core would have seen (kept in the transaction).
bool Relay::Impl::restore_record_route(const Message& m, sip::MessageEditor& editor,
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

bool Relay::Impl::is_inside_address(const sip::Uri& uri) const noexcept {
  return strip_brackets(uri.host) == settings_.inside_ip && port_of(uri) == settings_.inside_port;
}

// A Request-URI that is a Contact we rewrote (ours, with a Contact token) gets its original
// back.
bool Relay::Impl::restore_request_uri(const Message& m, sip::MessageEditor& editor) noexcept {
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
bool Relay::Impl::hide_contacts(const Message& m, sip::MessageEditor& editor,
                                std::uint64_t flow) noexcept {
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
                              << ";transport=" << sbc::transport_name(address->protocol);
    if (!w.ok() || !editor.rewrite_uri(contact, w.view().substr(start))) return false;
  }
  return true;
}

}  // namespace sbc::proxy
