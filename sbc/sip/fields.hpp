#pragma once
// Typed views of the header fields the edge interprets (RFC 3261 section 25, RFC 3581, RFC 3325,
// RFC 3327, RFC 7616/8760 for Digest). Each parse function consumes one value at a Scanner and
// fully validates it; all results are views into the message.

#include <cstdint>
#include <string_view>

#include "sbc/sip/scanner.hpp"
#include "sbc/sip/uri.hpp"

namespace sbc::sip {

// Looks a parameter up in a raw header parameter list (";"-separated, white space allowed, values
// may be quoted strings). Names compare case-insensitively; values are returned as written.
ParamValue find_header_param(std::string_view params, std::string_view name) noexcept;

struct Via {
  std::string_view text;  // the whole via-parm
  std::string_view protocol_name;
  std::string_view protocol_version;
  std::string_view transport;
  std::string_view host;  // sent-by host as written
  HostKind host_kind = HostKind::None;
  std::uint16_t port = 0;   // 0: none given
  std::string_view params;  // raw, after the first ';'
  std::string_view branch;
  std::string_view received;
  std::string_view maddr;
  bool rport = false;
  std::uint16_t rport_value = 0;
  int ttl = -1;

  ParamValue param(std::string_view name) const noexcept { return find_header_param(params, name); }
};
bool parse_via(Scanner& in, Via& out) noexcept;

// name-addr / addr-spec with header parameters: From, To, Contact, Route, Record-Route, Path,
// P-Asserted-Identity.
struct NameAddr {
  std::string_view text;
  std::string_view display_name;  // as written, with its quotes if quoted; empty if none
  Uri uri;
  bool bracketed = false;   // name-addr form (<...>)
  std::string_view params;  // raw, after the first ';'
  std::string_view tag;     // From/To tag parameter

  ParamValue param(std::string_view name) const noexcept { return find_header_param(params, name); }
};

enum class NameAddrRules : std::uint8_t {
  FromTo,     // name-addr or addr-spec, generic params, tag=token
  Contact,    // as FromTo, plus q and expires checked
  RouteLike,  // name-addr only (Route, Record-Route, Path), rr-params
  Identity,   // name-addr or addr-spec, no params (P-Asserted-Identity)
};
bool parse_name_addr(Scanner& in, NameAddr& out, NameAddrRules rules) noexcept;

struct CSeq {
  std::uint32_t number = 0;
  std::string_view method;
};
bool parse_cseq(std::string_view value, CSeq& out) noexcept;

// Call-ID = word [ "@" word ]
bool valid_call_id(std::string_view value) noexcept;

// Credentials (Authorization, Proxy-Authorization) and challenges (WWW-/Proxy-Authenticate).
struct AuthValue {
  std::string_view scheme;  // "Digest" or another auth-scheme
  std::string_view params;  // raw auth-param list (comma separated)
  bool is_digest() const noexcept { return iequals(scheme, "Digest"); }
  // A parameter's value as written (quoted strings keep their quotes).
  ParamValue param(std::string_view name) const noexcept;
};
bool parse_credentials(std::string_view value, AuthValue& out) noexcept;
bool parse_challenge(std::string_view value, AuthValue& out) noexcept;

// The content of a quoted-string without its quotes (quoted-pairs are left escaped).
std::string_view unquote(std::string_view quoted) noexcept;

// Comma-separated lists of option tags (Require, Proxy-Require, Supported, Unsupported).
bool valid_option_tags(std::string_view value, bool allow_empty) noexcept;
bool valid_content_type(std::string_view value) noexcept;
bool valid_user_agent(std::string_view value) noexcept;
// rfc1123-date with "GMT" only (RFC 3261 20.17)
bool valid_sip_date(std::string_view value) noexcept;
// delta-seconds = 1*DIGIT; overlarge values saturate to 2^32-1 (RFC 3261 says treat as default).
bool parse_delta_seconds(std::string_view value, std::uint32_t& out) noexcept;

}  // namespace sbc::sip
