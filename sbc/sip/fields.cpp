#include "sbc/sip/fields.hpp"

#include "sbc/common/hex.hpp"

namespace sbc::sip {
namespace {

// gen-value = token / host / quoted-string. Via's received parameter alone may also hold a bare
// IPv6address (RFC 3261 via-received), whose colons are not token characters.
std::string_view gen_value(Scanner& in, bool bare_ipv6 = false) noexcept {
  if (in.peek() == '"') return in.quoted_string();
  if (bare_ipv6 && in.peek() != '[') {
    const char* start = in.position();
    while (!in.at_end() && (chars::is_hex(in.peek()) || in.peek() == ':' || in.peek() == '.'))
      in.advance();
    if (in.at_end() || in.peek() == ';' || in.peek() == ',' || chars::is_wsp(in.peek()) ||
        in.peek() == '\r')
      return in.since(start);
    in.reset(start);
  }
  if (in.peek() == '[') {
    const char* start = in.position();
    in.advance();
    while (!in.at_end() && (chars::is_hex(in.peek()) || in.peek() == ':' || in.peek() == '.'))
      in.advance();
    if (!in.consume(']')) {
      in.reset(start);
      return {};
    }
    return in.since(start);
  }
  return in.token();
}

// *( SEMI generic-param ), each checked by `check(name, has_value, value)`.
template <class Check>
bool parse_params(Scanner& in, std::string_view& raw, Check&& check) noexcept {
  const char* first = nullptr;
  const char* last_end = nullptr;
  while (true) {
    const char* save = in.position();
    if (!in.separator(';')) {
      in.reset(save);
      break;
    }
    if (first == nullptr) first = in.position();
    const std::string_view name = in.token();
    if (name.empty()) return false;
    std::string_view value;
    bool has_value = false;
    const char* before_equal = in.position();
    if (in.separator('=')) {
      has_value = true;
      value = gen_value(in, iequals(name, "received"));
      if (value.empty()) return false;
    } else {
      in.reset(before_equal);
    }
    if (!check(name, has_value, value)) return false;
    last_end = in.position();
  }
  raw = first ? std::string_view(first, static_cast<std::size_t>(last_end - first))
              : std::string_view{};
  return true;
}

bool all_digits(std::string_view s, std::size_t max_len = 10) noexcept {
  if (s.empty() || s.size() > max_len) return false;
  for (char c : s)
    if (!chars::is_digit(c)) return false;
  return true;
}

bool is_quoted(std::string_view v) noexcept {
  return v.size() >= 2 && v.front() == '"';
}

bool valid_qvalue(std::string_view v) noexcept {
  // qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
  if (v.empty() || (v[0] != '0' && v[0] != '1')) return false;
  if (v.size() == 1) return true;
  if (v[1] != '.' || v.size() > 5) return false;
  for (std::size_t i = 2; i < v.size(); ++i) {
    if (!chars::is_digit(v[i])) return false;
    if (v[0] == '1' && v[i] != '0') return false;
  }
  return true;
}

bool valid_received(std::string_view v) noexcept {
  // via-received = "received" EQUAL (IPv4address / IPv6address); RFC 5118 4.5: tolerate brackets.
  if (is_ipv4(v) || is_ipv6(v)) return true;
  return v.size() > 2 && v.front() == '[' && v.back() == ']' && is_ipv6(v.substr(1, v.size() - 2));
}

// *(COMMA auth-param) for credentials and challenges. `check` sees each name/value.
template <class Check>
bool parse_auth_params(Scanner& in, Check&& check) noexcept {
  bool first = true;
  while (true) {
    if (!first) {
      if (in.at_end()) return true;
      if (!in.separator(',')) return false;
    }
    first = false;
    const std::string_view name = in.token();
    if (name.empty() || !in.separator('=')) return false;
    std::string_view value = in.peek() == '"' ? in.quoted_string() : in.token();
    if (value.empty()) return false;
    if (!check(name, value)) return false;
    in.skip_sws();
  }
}

bool parse_auth(std::string_view value, AuthValue& out, bool challenge) noexcept {
  Scanner in(value);
  out = AuthValue{};
  out.scheme = in.token();
  if (out.scheme.empty() || !in.skip_lws()) return false;
  out.params = in.rest();
  if (!out.is_digest()) {
    return parse_auth_params(in, [](std::string_view, std::string_view) { return true; });
  }
  enum : unsigned {
    kUsername = 1u << 0,
    kRealm = 1u << 1,
    kNonce = 1u << 2,
    kUri = 1u << 3,
    kResponse = 1u << 4,
    kAlgorithm = 1u << 5,
    kCnonce = 1u << 6,
    kOpaque = 1u << 7,
    kQop = 1u << 8,
    kNc = 1u << 9,
    kDomain = 1u << 10,
    kStale = 1u << 11,
  };
  unsigned seen = 0;
  auto once = [&seen](unsigned bit) {
    if (seen & bit) return false;
    seen |= bit;
    return true;
  };
  const bool ok = parse_auth_params(in, [&](std::string_view name, std::string_view v) {
    if (iequals(name, "realm")) return once(kRealm) && is_quoted(v);
    if (iequals(name, "nonce")) return once(kNonce) && is_quoted(v);
    if (iequals(name, "opaque")) return once(kOpaque) && is_quoted(v);
    if (iequals(name, "algorithm")) return once(kAlgorithm) && !is_quoted(v);
    if (challenge) {
      if (iequals(name, "domain")) return once(kDomain) && is_quoted(v);
      if (iequals(name, "stale"))
        return once(kStale) && (iequals(v, "true") || iequals(v, "false"));
      if (iequals(name, "qop")) {
        if (!once(kQop) || !is_quoted(v)) return false;
        // qop-options = "qop" EQUAL LDQUOT qop-value *("," qop-value) RDQUOT
        Scanner list(unquote(v));
        do {
          list.skip_sws();
          if (list.token().empty()) return false;
        } while (list.separator(','));
        list.skip_sws();
        return list.at_end();
      }
      return true;
    }
    if (iequals(name, "username")) return once(kUsername) && is_quoted(v);
    if (iequals(name, "uri")) return once(kUri) && is_quoted(v) && v.size() > 2;
    if (iequals(name, "cnonce")) return once(kCnonce) && is_quoted(v);
    if (iequals(name, "response")) {
      // request-digest = LDQUOT 32LHEX RDQUOT (MD5); 64 for SHA-256 and SHA-512-256 (RFC 8760)
      const std::string_view hex = unquote(v);
      return once(kResponse) && is_quoted(v) && (hex.size() == 32 || hex.size() == 64) &&
             common::is_hex(hex, common::HexCase::Lower);
    }
    if (iequals(name, "qop")) {
      // message-qop is a bare token; many deployed clients quote it, which is harmless.
      return once(kQop) && chars::is_token(is_quoted(v) ? unquote(v) : v);
    }
    if (iequals(name, "nc"))
      return once(kNc) && v.size() == 8 && common::is_hex(v, common::HexCase::Lower);
    return true;
  });
  if (!ok) return false;
  if (challenge) return (seen & (kRealm | kNonce)) == (kRealm | kNonce);
  const unsigned required = kUsername | kRealm | kNonce | kUri | kResponse;
  if ((seen & required) != required) return false;
  if ((seen & kQop) && (seen & (kCnonce | kNc)) != (kCnonce | kNc)) return false;
  return true;
}

bool parse_comment(Scanner& in) noexcept {
  // comment = LPAREN *(ctext / quoted-pair / comment) RPAREN; nesting is bounded.
  int depth = 0;
  do {
    const char c = in.peek();
    if (in.at_end()) return false;
    in.advance();
    if (c == '(') {
      if (++depth > 16) return false;
    } else if (c == ')') {
      --depth;
    } else if (c == '\\') {
      if (in.at_end() || in.peek() == '\r' || in.peek() == '\n') return false;
      in.advance();
    } else if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\r' && c != '\n') {
      return false;
    } else if (c == 0x7F) {
      return false;
    }
  } while (depth > 0);
  return true;
}

}  // namespace

std::string_view unquote(std::string_view quoted) noexcept {
  if (quoted.size() >= 2 && quoted.front() == '"' && quoted.back() == '"')
    return quoted.substr(1, quoted.size() - 2);
  return quoted;
}

ParamValue find_header_param(std::string_view params, std::string_view name) noexcept {
  Scanner in(params);
  while (!in.at_end()) {
    in.skip_sws();
    const std::string_view n = in.token();
    if (n.empty()) return {};
    std::string_view value;
    const char* before_equal = in.position();
    if (in.separator('=')) {
      value = gen_value(in, iequals(n, "received"));
    } else {
      in.reset(before_equal);
    }
    if (iequals(n, name)) return {true, value};
    if (!in.separator(';')) return {};
  }
  return {};
}

bool parse_via(Scanner& in, Via& out) noexcept {
  // Field by field: `out = Via{}` compiles to a `rep stos` that costs more than the parse.
  out.text = out.host = out.params = out.branch = out.received = out.maddr = {};
  out.host_kind = HostKind::None;
  out.port = 0;
  out.rport = false;
  out.rport_value = 0;
  out.ttl = -1;
  in.skip_sws();
  const char* start = in.position();
  // sent-protocol = protocol-name SLASH protocol-version SLASH transport
  out.protocol_name = in.token();
  if (out.protocol_name.empty() || !in.separator('/')) return false;
  out.protocol_version = in.token();
  if (out.protocol_version.empty() || !in.separator('/')) return false;
  out.transport = in.token();
  if (out.transport.empty() || !in.skip_lws()) return false;
  if (!iequals(out.protocol_name, "SIP") || out.protocol_version != "2.0") return false;
  // sent-by = host [ COLON port ]
  std::size_t host_length = 0;
  out.host_kind = scan_host(in.rest(), host_length, in.begin());
  out.host = in.rest().substr(0, host_length);
  in.advance(host_length);
  if (out.host_kind == HostKind::None) return false;
  const char* before_colon = in.position();
  if (in.separator(':')) {
    if (!parse_port(in.take_while(chars::kDigit), out.port)) return false;
  } else {
    in.reset(before_colon);
  }
  const bool ok = parse_params(
      in, out.params, [&out](std::string_view name, bool has_value, std::string_view value) {
        if (iequals(name, "branch")) {
          if (!has_value || !out.branch.empty() || is_quoted(value)) return false;
          out.branch = value;
          return true;
        }
        if (iequals(name, "received")) {
          if (!has_value || !out.received.empty() || !valid_received(value)) return false;
          out.received = value;
          return true;
        }
        if (iequals(name, "maddr")) {
          if (!has_value || !out.maddr.empty() || classify_host(value) == HostKind::None)
            return false;
          out.maddr = value;
          return true;
        }
        if (iequals(name, "ttl")) {
          if (!has_value || out.ttl >= 0 || !all_digits(value, 3)) return false;
          int ttl = 0;
          for (char c : value) ttl = ttl * 10 + (c - '0');
          if (ttl > 255) return false;
          out.ttl = ttl;
          return true;
        }
        if (iequals(name, "rport")) {
          // RFC 3581: response-port = "rport" [EQUAL 1*DIGIT]
          if (out.rport) return false;
          out.rport = true;
          return !has_value || parse_port(value, out.rport_value);
        }
        return true;
      });
  if (!ok) return false;
  out.text = in.since(start);
  return true;
}

bool parse_name_addr(Scanner& in, NameAddr& out, NameAddrRules rules) noexcept {
  out.text = out.display_name = out.params = out.tag = {};  // out.uri is reset by parse_uri
  out.bracketed = false;
  in.skip_sws();
  const char* start = in.position();
  // display-name = *(token LWS) / quoted-string. A token run glued to "<" is accepted (RFC 4475
  // 3.1.1.6 lwsdisp: a known grammar bug that receivers should tolerate).
  if (in.peek() == '"') {
    out.display_name = in.quoted_string();
    if (out.display_name.empty()) return false;
    in.skip_sws();
    if (in.peek() != '<') return false;
  } else if (in.peek() != '<') {
    const char* tokens_end = nullptr;
    while (true) {
      const std::string_view t = in.token();
      if (t.empty()) break;
      tokens_end = in.position();
      in.skip_sws();
    }
    if (tokens_end != nullptr && in.peek() == '<') {
      out.display_name = std::string_view(start, static_cast<std::size_t>(tokens_end - start));
    } else {
      in.reset(start);
    }
  }
  std::string_view uri_text;
  if (in.consume('<')) {
    out.bracketed = true;
    const std::string_view rest = in.rest();
    const std::size_t close = rest.find('>');
    if (close == std::string_view::npos) return false;
    uri_text = rest.substr(0, close);
    in.advance(close + 1);
  } else {
    if (rules == NameAddrRules::RouteLike) return false;
    // addr-spec: the URI cannot contain ';', ',' or '?' here (RFC 3261 20.10), nor white space.
    const char* uri_start = in.position();
    while (!in.at_end()) {
      const char c = in.peek();
      if (c == ';' || c == ',' || c == '?' || c == ' ' || c == '\t' || c == '\r' || c == '\n')
        break;
      in.advance();
    }
    uri_text = in.since(uri_start);
  }
  if (parse_uri(uri_text, out.uri, UriContext::HeaderUri) != UriError::None) return false;
  if (!out.bracketed && !out.uri.headers.empty()) return false;
  if (rules == NameAddrRules::Identity) {
    out.text = in.since(start);
    return true;
  }
  const bool ok = parse_params(
      in, out.params, [&out, rules](std::string_view name, bool has_value, std::string_view value) {
        if (rules == NameAddrRules::FromTo || rules == NameAddrRules::Contact) {
          if (iequals(name, "tag") && rules == NameAddrRules::FromTo) {
            // A gen-value is a token unless it is a quoted string or an IPv6 reference: its
            // first byte tells which, no need to walk it again.
            if (!has_value || !out.tag.empty() || !chars::is_token(value.front())) return false;
            out.tag = value;
            return true;
          }
          if (rules == NameAddrRules::Contact) {
            if (iequals(name, "q")) return has_value && valid_qvalue(value);
            if (iequals(name, "expires")) return has_value && all_digits(value, 32);
          }
        }
        return true;
      });
  if (!ok) return false;
  out.text = in.since(start);
  return true;
}

bool parse_cseq(std::string_view value, CSeq& out) noexcept {
  // CSeq = "CSeq" HCOLON 1*DIGIT LWS Method
  Scanner in(value);
  std::uint64_t number = 0;
  std::size_t digits = 0;
  if (!in.number(0xFFFFFFFFull, number, &digits) || number > 0xFFFFFFFFull) return false;
  if (!in.skip_lws()) return false;
  out.number = static_cast<std::uint32_t>(number);
  out.method = in.token();
  return !out.method.empty() && in.at_end();
}

bool valid_call_id(std::string_view value) noexcept {
  // callid = word [ "@" word ], in one pass: every byte a word character but one '@', which
  // neither starts nor ends the value.
  if (value.empty()) return false;
  std::size_t at = std::string_view::npos;
  std::size_t i = 0;
  while (true) {
    // Four word characters per bounds check while they last.
    while (value.size() - i >= 4 && chars::is(value[i], chars::kWord) &&
           chars::is(value[i + 1], chars::kWord) && chars::is(value[i + 2], chars::kWord) &&
           chars::is(value[i + 3], chars::kWord))
      i += 4;
    while (i < value.size() && chars::is(value[i], chars::kWord)) ++i;
    if (i == value.size()) break;
    if (value[i] != '@' || at != std::string_view::npos) return false;
    at = i++;
  }
  return at == std::string_view::npos || (at != 0 && at + 1 != value.size());
}

ParamValue AuthValue::param(std::string_view name) const noexcept {
  Scanner in(params);
  while (!in.at_end()) {
    in.skip_sws();
    const std::string_view n = in.token();
    if (n.empty() || !in.separator('=')) return {};
    const std::string_view v = in.peek() == '"' ? in.quoted_string() : in.token();
    if (iequals(n, name)) return {true, v};
    if (!in.separator(',')) return {};
  }
  return {};
}

bool parse_credentials(std::string_view value, AuthValue& out) noexcept {
  return parse_auth(value, out, false);
}

bool parse_challenge(std::string_view value, AuthValue& out) noexcept {
  return parse_auth(value, out, true);
}

bool valid_option_tags(std::string_view value, bool allow_empty) noexcept {
  if (value.empty()) return allow_empty;
  Scanner in(value);
  do {
    if (in.token().empty()) return false;
  } while (in.separator(','));
  return in.at_end();
}

bool valid_content_type(std::string_view value) noexcept {
  // media-type = m-type SLASH m-subtype *(SEMI m-parameter)
  Scanner in(value);
  if (in.token().empty() || !in.separator('/') || in.token().empty()) return false;
  while (in.separator(';')) {
    if (in.token().empty() || !in.separator('=')) return false;
    const std::string_view v = in.peek() == '"' ? in.quoted_string() : in.token();
    if (v.empty()) return false;
  }
  return in.at_end();
}

bool valid_user_agent(std::string_view value) noexcept {
  // User-Agent = server-val *(LWS server-val); server-val = product / comment
  Scanner in(value);
  bool first = true;
  while (!in.at_end()) {
    if (!first && !in.skip_lws()) return false;
    first = false;
    if (in.peek() == '(') {
      if (!parse_comment(in)) return false;
    } else {
      if (in.token().empty()) return false;
      const char* before_slash = in.position();
      if (in.separator('/')) {
        if (in.token().empty()) return false;
      } else {
        in.reset(before_slash);
      }
    }
  }
  return !first;
}

bool valid_sip_date(std::string_view v) noexcept {
  // wkday "," SP 2DIGIT SP month SP 4DIGIT SP 2DIGIT ":" 2DIGIT ":" 2DIGIT SP "GMT"
  constexpr std::string_view kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  if (v.size() != 29) return false;
  bool day_ok = false;
  for (auto d : kDays) day_ok = day_ok || v.substr(0, 3) == d;
  bool month_ok = false;
  for (auto m : kMonths) month_ok = month_ok || v.substr(8, 3) == m;
  auto digits = [&v](std::size_t pos, std::size_t n) {
    for (std::size_t i = pos; i < pos + n; ++i)
      if (!chars::is_digit(v[i])) return false;
    return true;
  };
  return day_ok && month_ok && v.substr(3, 2) == ", " && digits(5, 2) && v[7] == ' ' &&
         v[11] == ' ' && digits(12, 4) && v[16] == ' ' && digits(17, 2) && v[19] == ':' &&
         digits(20, 2) && v[22] == ':' && digits(23, 2) && v.substr(25) == " GMT";
}

bool parse_delta_seconds(std::string_view value, std::uint32_t& out) noexcept {
  Scanner in(value);
  std::uint64_t v = 0;
  if (!in.number(0xFFFFFFFFull, v) || !in.at_end()) return false;
  out = v > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<std::uint32_t>(v);
  return true;
}

}  // namespace sbc::sip
