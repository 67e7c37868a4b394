// Topology hiding (relay.topology_hiding): what the outside sees of the inside. The core's
// Vias stay in the transaction, its Record-Route entries travel sealed in our one outside entry,
// its Contacts are rewritten to tokens of ours; what comes back is restored.

#include "sbc/proxy/relay_impl.hpp"

namespace sbc::proxy {

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
                              << ";transport=" << transport_param(address->protocol);
    if (!w.ok() || !editor.rewrite_uri(contact, w.view().substr(start))) return false;
  }
  return true;
}

}  // namespace sbc::proxy
