#pragma once
// What the pieces of sip::Message share. Message is one class split over several files along the
// stages of a parse: message.cpp (framing, the parse as a whole, typed access, proxy rules),
// message_start_line.cpp (request and status line), message_headers.cpp (the header lines and
// the fast path for known names), message_validate.cpp (each header's grammar and the rules
// across headers). Internal to sbc/sip: no other folder includes this header.

#include <cstddef>
#include <string_view>

#include "sbc/sip/fields.hpp"
#include "sbc/sip/header_id.hpp"
#include "sbc/sip/scanner.hpp"

namespace sbc::sip::detail {

// The reason of the 400 for a header that does not match its grammar, by HeaderId.
inline constexpr std::string_view kMalformed[kHeaderIdCount] = {
    "Malformed header line",
    "Malformed Via header",
    "Malformed From header",
    "Malformed To header",
    "Malformed Call-ID header",
    "Malformed CSeq header",
    "Malformed Max-Forwards header",
    "Malformed Contact header",
    "Malformed Route header",
    "Malformed Record-Route header",
    "Malformed Path header",
    "Malformed Content-Length header",
    "Malformed Content-Type header",
    "Malformed Expires header",
    "Malformed Require header",
    "Malformed Proxy-Require header",
    "Malformed Supported header",
    "Malformed Unsupported header",
    "Malformed User-Agent header",
    "Malformed Authorization header",
    "Malformed Proxy-Authorization header",
    "Malformed WWW-Authenticate header",
    "Malformed Proxy-Authenticate header",
    "Malformed P-Asserted-Identity header",
    "Malformed Date header",
};

// The name-addr grammar of each header holding name-addrs (Contact, Route-like, identity).
inline NameAddrRules rules_for(HeaderId id) noexcept {
  switch (id) {
    case HeaderId::Contact:
      return NameAddrRules::Contact;
    case HeaderId::Route:
    case HeaderId::RecordRoute:
    case HeaderId::Path:
      return NameAddrRules::RouteLike;
    case HeaderId::PAssertedIdentity:
      return NameAddrRules::Identity;
    default:
      return NameAddrRules::FromTo;
  }
}

// One value of a comma-separated header, by its type: used by Message::ValueCursor and by the
// validation of lists (message_validate.cpp).
inline bool parse_value(Scanner& in, Via& out, HeaderId) noexcept {
  return parse_via(in, out);
}
inline bool parse_value(Scanner& in, NameAddr& out, HeaderId id) noexcept {
  return parse_name_addr(in, out, rules_for(id));
}
inline bool parse_value(Scanner& in, std::string_view& out, HeaderId) noexcept {
  in.skip_sws();
  out = in.token();
  return !out.empty();
}

}  // namespace sbc::sip::detail
