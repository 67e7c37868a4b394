#include "sbc/sip/uri.hpp"

#include <array>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "sbc/sip/chars.hpp"
#include "sbc/sip/scanner.hpp"

namespace sbc::sip {
namespace {

using chars::is;

// Checks that every character of `s` is in `allowed` or is a valid %HH escape.
constexpr bool all_escaped_or(std::string_view s, std::uint16_t allowed) noexcept {
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size() || !chars::is_hex(s[i + 1]) || !chars::is_hex(s[i + 2])) return false;
      i += 2;
      continue;
    }
    if (!is(c, allowed)) return false;
  }
  return true;
}

constexpr std::uint16_t kUnreserved = chars::kAlnum | chars::kMark;
constexpr std::uint16_t kUserChars = kUnreserved | chars::kUserUnreserved;
constexpr std::uint16_t kPasswordChars = kUnreserved | chars::kPasswordExtra;
constexpr std::uint16_t kParamChars = kUnreserved | chars::kParamUnreserved;
constexpr std::uint16_t kHeaderChars = kUnreserved | chars::kHnvUnreserved;
constexpr std::uint16_t kUricChars = kUnreserved | chars::kReserved;

bool valid_transport(std::string_view v) noexcept {
  // transport-param = "transport=" ("udp" / "tcp" / "sctp" / "tls" / other-transport); other is a
  // token
  return chars::is_token(v);
}

// The end of a run of `allowed` characters and valid %HH escapes from `i` in `s`: the index of the
// first byte that is neither. A '%' without two hex digits after it ends the run there.
constexpr std::size_t escaped_run(std::string_view s, std::size_t i,
                                  std::uint16_t allowed) noexcept {
  while (i < s.size()) {
    const char c = s[i];
    if (is(c, allowed)) {
      ++i;
    } else if (c == '%' && i + 2 < s.size() && chars::is_hex(s[i + 1]) && chars::is_hex(s[i + 2])) {
      i += 3;
    } else {
      break;
    }
  }
  return i;
}

// uri-parameters: *( ";" uri-parameter ), with the known ones checked against their own rules.
// One pass: neither '=' nor ';' is a paramchar, so a name ends at '=', ';' or the end, and a value
// at ';' or the end; any other byte there makes the list invalid.
bool valid_sip_params(std::string_view params) noexcept {
  std::size_t pos = 0;
  while (true) {
    const std::size_t name_end = escaped_run(params, pos, kParamChars);
    const std::string_view name = params.substr(pos, name_end - pos);
    if (name.empty()) return false;
    std::size_t next = name_end;
    if (next < params.size() && params[next] == '=') {
      const std::size_t value_end = escaped_run(params, next + 1, kParamChars);
      const std::string_view value = params.substr(next + 1, value_end - next - 1);
      if (value.empty()) return false;
      next = value_end;
      if (next < params.size() && params[next] != ';') return false;
      if (iequals(name, "transport") && !valid_transport(value)) return false;
      if (iequals(name, "ttl")) {
        std::uint64_t ttl = 0;
        Scanner s(value);
        if (!s.number(255, ttl) || !s.at_end() || ttl > 255 || value.size() > 3) return false;
      }
      if (iequals(name, "maddr") && classify_host(value) == HostKind::None) return false;
      if (iequals(name, "method") && !chars::is_token(value)) return false;
    } else {
      if (next < params.size() && params[next] != ';') return false;
      if (iequals(name, "transport") || iequals(name, "ttl") || iequals(name, "maddr") ||
          iequals(name, "method") || iequals(name, "user"))
        return false;  // these parameters require a value
    }
    if (next == params.size()) return true;
    pos = next + 1;
  }
}

// headers = "?" header *( "&" header ); header = hname "=" hvalue
bool valid_uri_headers(std::string_view headers) noexcept {
  std::size_t pos = 0;
  while (true) {
    const std::size_t amp = headers.find('&', pos);
    const std::string_view h =
        headers.substr(pos, amp == std::string_view::npos ? std::string_view::npos : amp - pos);
    const std::size_t eq = h.find('=');
    if (eq == std::string_view::npos || eq == 0) return false;
    if (!all_escaped_or(h.substr(0, eq), kHeaderChars)) return false;
    if (!all_escaped_or(h.substr(eq + 1), kHeaderChars)) return false;
    if (amp == std::string_view::npos) return true;
    pos = amp + 1;
  }
}

UriError parse_sip_uri(std::string_view rest, Uri& out, UriContext context) noexcept {
  // rest = [ userinfo "@" ] hostport uri-parameters [ headers ]
  // No '@' can occur after the userinfo: it is not in paramchar, hname or hvalue.
  // Fast path: a user part of user characters and escapes that ends at '@' (then no '@' comes
  // before it, and no ':' either, as neither is a user character).
  std::size_t i = 0;
  while (i < rest.size()) {
    const char c = rest[i];
    if (is(c, kUserChars)) {
      ++i;
    } else if (c == '%' && i + 2 < rest.size() && chars::is_hex(rest[i + 1]) &&
               chars::is_hex(rest[i + 2])) {
      i += 3;
    } else {
      break;
    }
  }
  const bool plain_user = i != 0 && i < rest.size() && rest[i] == '@';
  const std::size_t at = plain_user ? i : rest.find('@');
  if (plain_user) {
    out.user = rest.substr(0, at);
    rest.remove_prefix(at + 1);
  } else if (at != std::string_view::npos) {
    const std::string_view userinfo = rest.substr(0, at);
    const std::size_t colon = userinfo.find(':');
    out.user = userinfo.substr(0, colon);
    if (out.user.empty() || !all_escaped_or(out.user, kUserChars)) return UriError::Malformed;
    if (colon != std::string_view::npos) {
      out.password = userinfo.substr(colon + 1);
      if (!all_escaped_or(out.password, kPasswordChars)) return UriError::Malformed;
    }
    rest.remove_prefix(at + 1);
  }
  // hostport
  std::size_t host_end = 0;
  out.host_kind = scan_host(rest, host_end, out.text.data());
  out.host = rest.substr(0, host_end);
  if (out.host_kind == HostKind::None) return UriError::Malformed;
  rest.remove_prefix(host_end);
  if (!rest.empty() && rest.front() == ':') {
    std::size_t port_end = 1;
    while (port_end < rest.size() && chars::is_digit(rest[port_end])) ++port_end;
    if (!parse_port(rest.substr(1, port_end - 1), out.port)) return UriError::Malformed;
    rest.remove_prefix(port_end);
  }
  const std::size_t question = rest.find('?');
  std::string_view params = rest.substr(0, question);
  if (!params.empty()) {
    if (params.front() != ';') return UriError::Malformed;
    params.remove_prefix(1);
    if (!valid_sip_params(params)) return UriError::Malformed;
    out.params = params;
  }
  if (question != std::string_view::npos) {
    if (context == UriContext::RequestUri) return UriError::HeadersNotAllowed;
    out.headers = rest.substr(question + 1);
    if (!valid_uri_headers(out.headers)) return UriError::Malformed;
  }
  return UriError::None;
}

// RFC 3966: telephone-subscriber = global-number / local-number, each with ;parameters.
UriError parse_tel_uri(std::string_view rest, Uri& out) noexcept {
  const std::size_t semi = rest.find(';');
  const std::string_view number = rest.substr(0, semi);
  out.user = number;
  if (number.empty()) return UriError::Malformed;
  const bool global = number.front() == '+';
  bool any_digit = false;
  for (std::size_t i = global ? 1 : 0; i < number.size(); ++i) {
    const char c = number[i];
    const bool visual = c == '-' || c == '.' || c == '(' || c == ')';
    const bool digit = global ? chars::is_digit(c) : (chars::is_hex(c) || c == '*' || c == '#');
    if (!digit && !visual) return UriError::Malformed;
    any_digit = any_digit || digit;
  }
  if (!any_digit) return UriError::Malformed;
  if (semi != std::string_view::npos) {
    out.params = rest.substr(semi + 1);
    if (!valid_sip_params(out.params)) return UriError::Malformed;
  }
  // A local number is only meaningful with its context.
  if (!global && !find_uri_param(out.params, "phone-context")) return UriError::Malformed;
  return UriError::None;
}

}  // namespace

bool is_ipv4(std::string_view s) noexcept {
  int parts = 0;
  std::size_t i = 0;
  while (true) {
    std::size_t digits = 0;
    unsigned value = 0;
    while (i < s.size() && chars::is_digit(s[i]) && digits < 4) {
      value = value * 10 + static_cast<unsigned>(s[i] - '0');
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 3 || value > 255) return false;
    ++parts;
    if (parts == 4) return i == s.size();
    if (i >= s.size() || s[i] != '.') return false;
    ++i;
  }
}

bool is_ipv6(std::string_view s) noexcept {
  if (s.size() < 2 || s.size() > 45) return false;
  std::string_view head = s;
  int groups_needed = 8;
  const std::size_t last_colon = s.rfind(':');
  if (last_colon == std::string_view::npos) return false;
  if (s.find('.', last_colon) != std::string_view::npos) {
    if (!is_ipv4(s.substr(last_colon + 1))) return false;
    groups_needed = 6;
    head = s.substr(0, last_colon + 1);  // keeps the separating colon
    // RFC 3261's ABNF derives "x::" ":" IPv4 (three colons); RFC 5118 asks to tolerate it.
    if (head.size() >= 3 && head.substr(head.size() - 3) == ":::") head.remove_suffix(1);
    if (!(head.size() >= 2 && head.substr(head.size() - 2) == "::")) head.remove_suffix(1);
  }
  int groups = 0;
  bool compressed = false;
  std::size_t i = 0;
  if (head.substr(0, 2) == "::") {
    compressed = true;
    i = 2;
  } else if (!head.empty() && head.front() == ':') {
    return false;
  }
  while (i < head.size()) {
    std::size_t digits = 0;
    while (i < head.size() && chars::is_hex(head[i])) {
      ++i;
      ++digits;
    }
    if (digits == 0 || digits > 4) return false;
    ++groups;
    if (i == head.size()) break;
    if (head[i] != ':') return false;
    ++i;
    if (i < head.size() && head[i] == ':') {
      if (compressed) return false;
      compressed = true;
      ++i;
    } else if (i == head.size()) {
      return false;  // a trailing single colon
    }
  }
  return compressed ? groups < groups_needed : groups == groups_needed;
}

namespace {

// One pass over a run of host characters (alnum, '-', '.'), checking the hostname rule on the way:
// hostname = *( domainlabel "." ) toplabel [ "." ]; labels are alphanum with inner '-', at most 63
// characters; the top label starts with a letter; the whole run at most 254 characters.
struct HostRun {
  const char* end;  // the first byte that is not a host character
  bool hostname;    // whether the run is a valid hostname
};

constexpr std::uint8_t kLabelChar = 1;  // alnum or '-'
constexpr std::array<std::uint8_t, 256> make_label_chars() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 256; ++c)
    if (chars::is_alnum(static_cast<char>(c)) || c == '-') t[c] = kLabelChar;
  return t;
}
constexpr std::array<std::uint8_t, 256> kLabelChars = make_label_chars();

HostRun scan_host_run_bytes(const char* p, const char* const end) noexcept {
  const char* const start = p;
  const char* top = nullptr;  // the last label seen
  bool ok = true;
  while (true) {
    const char* const label = p;
    while (p < end && kLabelChars[static_cast<unsigned char>(*p)] != 0) ++p;
    if (p == label) {
      // An empty label: a leading or doubled '.' (then the run goes on), or the end of the run
      // (after a trailing '.', or an empty run).
      if (p < end && *p == '.') {
        ok = false;
        ++p;
        continue;
      }
      break;
    }
    if (*label == '-' || p[-1] == '-' || p - label > 63) ok = false;
    top = label;
    if (p < end && *p == '.') {
      ++p;
      continue;
    }
    break;
  }
  ok = ok && top != nullptr && p - start <= 254 && chars::is_alpha(*top);
  return {p, ok};
}

#if defined(__SSE2__)
// Masks of the bytes of `v` that are host characters (alnum, '-', '.'), dots and dashes.
struct HostMasks {
  unsigned in_run;
  unsigned dots;
  unsigned dashes;
};
inline HostMasks host_masks(__m128i v) noexcept {
  const __m128i letters = _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(v, _mm_set1_epi8(0x20)),
                                                      _mm_set1_epi8(static_cast<char>(0x80 - 'a'))),
                                         _mm_set1_epi8(static_cast<char>(0x80 + 26)));
  const __m128i digits =
      _mm_cmplt_epi8(_mm_add_epi8(v, _mm_set1_epi8(static_cast<char>(0x80 - '0'))),
                     _mm_set1_epi8(static_cast<char>(0x80 + 10)));
  const __m128i dots = _mm_cmpeq_epi8(v, _mm_set1_epi8('.'));
  const __m128i dashes = _mm_cmpeq_epi8(v, _mm_set1_epi8('-'));
  return {static_cast<unsigned>(_mm_movemask_epi8(
              _mm_or_si128(_mm_or_si128(letters, digits), _mm_or_si128(dots, dashes)))),
          static_cast<unsigned>(_mm_movemask_epi8(dots)),
          static_cast<unsigned>(_mm_movemask_epi8(dashes))};
}
#endif

// The same for runs shorter than 32 bytes, 16 bytes at a time (SSE2): masks of the run's dots and
// dashes give the empty-label, leading/trailing '-' and top-label checks without a branch per
// byte. `lo` <= p is where reading may start: a tail shorter than 16 bytes is read as the last 16
// bytes before `end`. Longer runs, and texts too short for one 16-byte read, take the byte loop.
HostRun scan_host_run(const char* lo, const char* const p, const char* const end) noexcept {
#if defined(__SSE2__)
  if (end - lo < 16) return scan_host_run_bytes(p, end);
  const auto avail = static_cast<std::size_t>(end - p);
  // Bytes [p, p + 32) as far as they exist: bit i of each mask is byte p + i.
  HostMasks m;
  if (avail >= 16) {
    m = host_masks(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  } else {
    m = host_masks(_mm_loadu_si128(reinterpret_cast<const __m128i*>(end - 16)));
    const auto shift = static_cast<unsigned>(16 - avail);
    m = {m.in_run >> shift, m.dots >> shift, m.dashes >> shift};
  }
  if (avail > 16) {
    HostMasks m1;
    if (avail >= 32) {
      m1 = host_masks(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
    } else {
      m1 = host_masks(_mm_loadu_si128(reinterpret_cast<const __m128i*>(end - 16)));
      const auto shift = static_cast<unsigned>(32 - avail);
      m1 = {m1.in_run >> shift, m1.dots >> shift, m1.dashes >> shift};
    }
    m = {m.in_run | (m1.in_run << 16), m.dots | (m1.dots << 16), m.dashes | (m1.dashes << 16)};
  }
  const unsigned valid = avail >= 32 ? ~0u : (1u << avail) - 1;
  const unsigned stops = ~m.in_run & valid;
  if (stops == 0 && avail >= 32) return scan_host_run_bytes(p, end);
  const auto length =
      stops != 0 ? static_cast<unsigned>(__builtin_ctz(stops)) : static_cast<unsigned>(avail);
  if (length == 0) return {p, false};
  const unsigned keep = length == 32 ? ~0u : (1u << length) - 1;
  const unsigned dots = m.dots & keep;
  const unsigned dashes = m.dashes & keep;
  const unsigned last = 1u << (length - 1);
  // Empty labels: a leading dot or two dots in a row (one trailing dot is allowed).
  bool ok = (dots & 1) == 0 && (dots & (dots >> 1)) == 0;
  // A label neither starts nor ends with '-'.
  ok = ok && (dashes & ((dots << 1) | 1)) == 0 && (dashes & ((dots >> 1) | last)) == 0;
  // The top label (before a trailing dot) starts with a letter.
  const unsigned inner = dots & ~last;
  const std::size_t top = inner == 0 ? 0 : static_cast<std::size_t>(32 - __builtin_clz(inner));
  ok = ok && chars::is_alpha(p[top]);
  return {p + length, ok};
#else
  (void)lo;
  return scan_host_run_bytes(p, end);
#endif
}

HostKind classify_run(std::string_view run, bool hostname) noexcept {
  if (run.empty()) return HostKind::None;
  if (chars::is_digit(run.back()) && is_ipv4(run)) return HostKind::IPv4;
  return hostname ? HostKind::Name : HostKind::None;
}

}  // namespace

bool is_hostname(std::string_view s) noexcept {
  const HostRun run = scan_host_run(s.data(), s.data(), s.data() + s.size());
  return run.end == s.data() + s.size() && run.hostname;
}

HostKind classify_host(std::string_view host) noexcept {
  if (host.empty()) return HostKind::None;
  if (host.front() == '[') {
    if (host.size() < 4 || host.back() != ']') return HostKind::None;
    return is_ipv6(host.substr(1, host.size() - 2)) ? HostKind::IPv6 : HostKind::None;
  }
  const HostRun run = scan_host_run(host.data(), host.data(), host.data() + host.size());
  if (run.end != host.data() + host.size()) return HostKind::None;
  return classify_run(host, run.hostname);
}

HostKind scan_host(std::string_view text, std::size_t& length, const char* lo) noexcept {
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos) {
      length = 0;
      return HostKind::None;
    }
    length = close + 1;
    return classify_host(text.substr(0, length));
  }
  const HostRun run =
      scan_host_run(lo != nullptr ? lo : text.data(), text.data(), text.data() + text.size());
  length = static_cast<std::size_t>(run.end - text.data());
  return classify_run(text.substr(0, length), run.hostname);
}

bool parse_port(std::string_view text, std::uint16_t& port) noexcept {
  if (text.empty() || text.size() > 5) return false;
  unsigned value = 0;
  for (char c : text) {
    if (!chars::is_digit(c)) return false;
    value = value * 10 + static_cast<unsigned>(c - '0');
  }
  if (value == 0 || value > 65535) return false;
  port = static_cast<std::uint16_t>(value);
  return true;
}

ParamValue find_uri_param(std::string_view params, std::string_view name) noexcept {
  std::size_t pos = 0;
  while (pos < params.size()) {
    std::size_t semi = params.find(';', pos);
    if (semi == std::string_view::npos) semi = params.size();
    const std::string_view param = params.substr(pos, semi - pos);
    const std::size_t eq = param.find('=');
    if (iequals(param.substr(0, eq), name))
      return {true, eq == std::string_view::npos ? std::string_view{} : param.substr(eq + 1)};
    pos = semi + 1;
  }
  return {};
}

ParamValue Uri::param(std::string_view name) const noexcept {
  return find_uri_param(params, name);
}

UriError parse_uri(std::string_view text, Uri& out, UriContext context) noexcept {
  // Field by field: `out = Uri{}` compiles to a `rep stos` that costs more than the parse.
  out.scheme = Scheme::Other;
  out.host_kind = HostKind::None;
  out.port = 0;
  out.scheme_name = out.user = out.password = out.host = out.params = out.headers = out.opaque = {};
  out.text = text;
  // The common case first: "sip:" in any case (OR-ing 0x20 lower-cases letters and turns no other
  // byte into 's', 'i' or 'p').
  if (text.size() >= 4 && (text[0] | 0x20) == 's' && (text[1] | 0x20) == 'i' &&
      (text[2] | 0x20) == 'p' && text[3] == ':') {
    out.scheme_name = text.substr(0, 3);
    out.scheme = Scheme::Sip;
    return parse_sip_uri(text.substr(4), out, context);
  }
  // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
  std::size_t i = 0;
  if (text.empty() || !chars::is_alpha(text[0])) return UriError::Malformed;
  while (i < text.size() &&
         (chars::is_alnum(text[i]) || text[i] == '+' || text[i] == '-' || text[i] == '.'))
    ++i;
  if (i == text.size() || text[i] != ':') return UriError::Malformed;
  out.scheme_name = text.substr(0, i);
  const std::string_view rest = text.substr(i + 1);
  if (iequals(out.scheme_name, "sip")) {
    out.scheme = Scheme::Sip;
    return parse_sip_uri(rest, out, context);
  }
  if (iequals(out.scheme_name, "sips")) {
    out.scheme = Scheme::Sips;
    return parse_sip_uri(rest, out, context);
  }
  if (iequals(out.scheme_name, "tel")) {
    out.scheme = Scheme::Tel;
    return parse_tel_uri(rest, out);
  }
  out.scheme = Scheme::Other;
  out.opaque = rest;
  // absoluteURI = scheme ":" ( hier-part / opaque-part ), all uric characters
  if (rest.empty() || !all_escaped_or(rest, kUricChars)) return UriError::Malformed;
  return UriError::None;
}

}  // namespace sbc::sip
