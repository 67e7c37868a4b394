#include "sbc/sip/message.hpp"

#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sbc::sip {
namespace {

constexpr std::string_view kMalformed[kHeaderIdCount] = {
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

struct MethodName {
  std::string_view name;
  Method method;
};
constexpr MethodName kMethods[] = {
    {"INVITE", Method::Invite},   {"ACK", Method::Ack},
    {"BYE", Method::Bye},         {"CANCEL", Method::Cancel},
    {"OPTIONS", Method::Options}, {"REGISTER", Method::Register},
    {"PRACK", Method::Prack},     {"SUBSCRIBE", Method::Subscribe},
    {"NOTIFY", Method::Notify},   {"PUBLISH", Method::Publish},
    {"INFO", Method::Info},       {"REFER", Method::Refer},
    {"MESSAGE", Method::Message}, {"UPDATE", Method::Update},
};

// Bytes that stop the scan of a header value: CR and LF (line ends and folds), and bytes an
// opaque value may not hold: anything but TEXT-UTF8char, UTF8-CONT and LWS (RFC 3261 25.1).
constexpr std::array<std::uint8_t, 256> make_value_stop() {
  std::array<std::uint8_t, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = 1;
  t[0x7F] = t[0xFE] = t[0xFF] = 1;
  t['\t'] = 0;
  return t;
}
constexpr std::array<std::uint8_t, 256> kValueStop = make_value_stop();

// Advances to the first byte that may stop a header value scan. With SSE2 it skips 16 bytes at a
// time over printable ASCII: a signed compare below 0x20 also catches bytes >= 0x80 and HT, and
// the scalar loop then decides about those (UTF-8 and HT do not stop the scan).
inline const char* skip_value_bytes(const char* q, const char* end) noexcept {
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20);
  const __m128i del = _mm_set1_epi8(0x7F);
  while (end - q >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    const int mask =
        _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(v, space), _mm_cmpeq_epi8(v, del)));
    if (mask != 0) {
      q += __builtin_ctz(static_cast<unsigned>(mask));
      if (kValueStop[static_cast<unsigned char>(*q)] != 0) return q;
      ++q;
      continue;
    }
    q += 16;
  }
#endif
  while (q < end && kValueStop[static_cast<unsigned char>(*q)] == 0) ++q;
  return q;
}

#if defined(__SSE2__)
// The parser's fast path for known header names: a perfect hash of the name's length and its first
// and last characters picks the one known name it can be, and one SIMD compare confirms it.
constexpr std::size_t name_hash(std::size_t n, char first, char last) noexcept {
  return (static_cast<std::size_t>(static_cast<unsigned char>(first) | 0x20) * 2 +
          static_cast<std::size_t>(static_cast<unsigned char>(last) | 0x20) + n * 37) &
         127;
}
struct NamePattern {
  alignas(16) std::array<char, 32> lower{};  // the name in lower case, zero padded
  std::size_t size = 0;                      // 0: no name
  HeaderId id = HeaderId::Other;
};
constexpr std::array<NamePattern, kHeaderNames.size() + 1> make_name_patterns() {
  std::array<NamePattern, kHeaderNames.size() + 1> t{};  // [0] stays empty
  for (std::size_t i = 0; i < kHeaderNames.size(); ++i) {
    const std::string_view name = kHeaderNames[i].name;
    for (std::size_t j = 0; j < name.size(); ++j) t[i + 1].lower[j] = chars::lower(name[j]);
    t[i + 1].size = name.size();
    t[i + 1].id = kHeaderNames[i].id;
  }
  return t;
}
constexpr auto kNamePatterns = make_name_patterns();
constexpr std::array<std::uint8_t, 128> make_name_slots() {
  std::array<std::uint8_t, 128> t{};
  for (std::size_t i = 0; i < kHeaderNames.size(); ++i) {
    const std::string_view name = kHeaderNames[i].name;
    t[name_hash(name.size(), name.front(), name.back())] = static_cast<std::uint8_t>(i + 1);
  }
  return t;
}
constexpr auto kNameSlots = make_name_slots();
constexpr bool name_hash_is_perfect() {
  for (std::size_t i = 0; i < kHeaderNames.size(); ++i) {
    const std::string_view name = kHeaderNames[i].name;
    if (kNameSlots[name_hash(name.size(), name.front(), name.back())] != i + 1) return false;
    if (name.size() > 32) return false;
  }
  return true;
}
static_assert(name_hash_is_perfect(), "two known header names share a hash slot");

// When the line at `p` starts with a known header name, then optional SP/HT, then ':', returns the
// offset of that colon and sets `id` and `size` (the name's length). Returns 0 otherwise, and the
// byte-by-byte path decides. A known name holds token characters only, so what this accepts is
// exactly what that path would accept. Reads 32 bytes at `p`.
inline std::size_t known_header_name(const char* p, const char* end, HeaderId& id,
                                     std::size_t& size) noexcept {
  if (end - p < 32) return 0;
  const __m128i colon = _mm_set1_epi8(':');
  const __m128i v0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i v1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16));
  const unsigned colons =
      static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v0, colon))) |
      (static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(v1, colon))) << 16);
  if (colons == 0) return 0;
  const std::size_t at = static_cast<std::size_t>(__builtin_ctz(colons));
  // White space before the colon is rare: the byte-by-byte path handles it.
  const std::size_t n = at;
  if (n == 0 || p[n - 1] == ' ' || p[n - 1] == '\t') return 0;
  const NamePattern& e = kNamePatterns[kNameSlots[name_hash(n, p[0], p[n - 1])]];
  if (e.size != n) return 0;
  // Letters (and only they) are folded to lower case: bytes above '?' get 0x20 OR-ed in.
  const __m128i above = _mm_set1_epi8(0x3F);
  const __m128i bit = _mm_set1_epi8(0x20);
  const auto folded_equal = [&](__m128i v, const char* pattern) {
    const __m128i folded = _mm_or_si128(v, _mm_and_si128(_mm_cmpgt_epi8(v, above), bit));
    return static_cast<unsigned>(_mm_movemask_epi8(
        _mm_cmpeq_epi8(folded, _mm_load_si128(reinterpret_cast<const __m128i*>(pattern)))));
  };
  unsigned equal = folded_equal(v0, e.lower.data());
  if (n > 16) equal |= folded_equal(v1, e.lower.data() + 16) << 16;
  const unsigned need = n == 32 ? ~0u : (1u << n) - 1;
  if ((equal & need) != need) return 0;
  id = e.id;
  size = n;
  return at;
}
#endif

bool is_wsp_or_crlf(char c) noexcept {
  // One test of a bit in a mask of SP, HT, CR and LF.
  constexpr std::uint64_t kMask = (1ull << ' ') | (1ull << '\t') | (1ull << '\r') | (1ull << '\n');
  const auto u = static_cast<unsigned char>(c);
  return u <= ' ' && ((kMask >> u) & 1) != 0;
}

std::string_view trim(std::string_view v) noexcept {
  while (!v.empty() && is_wsp_or_crlf(v.front())) v.remove_prefix(1);
  while (!v.empty() && is_wsp_or_crlf(v.back())) v.remove_suffix(1);
  return v;
}

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT. Returns 0 malformed, 1 SIP/2.0, 2 other version.
int classify_version(std::string_view v) noexcept {
  if (v.size() < 7 || !iequals(v.substr(0, 4), "SIP/")) return 0;
  const std::string_view number = v.substr(4);
  const std::size_t dot = number.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == number.size()) return 0;
  for (std::size_t i = 0; i < number.size(); ++i)
    if (i != dot && !chars::is_digit(number[i])) return 0;
  return number == "2.0" ? 1 : 2;
}

bool is_broadcast(std::string_view host) noexcept {
  return host == "255.255.255.255";
}

NameAddrRules rules_for(HeaderId id) noexcept {
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

bool parse_value(Scanner& in, Via& out, HeaderId) noexcept {
  return parse_via(in, out);
}
bool parse_value(Scanner& in, NameAddr& out, HeaderId id) noexcept {
  return parse_name_addr(in, out, rules_for(id));
}
bool parse_value(Scanner& in, std::string_view& out, HeaderId) noexcept {
  in.skip_sws();
  out = in.token();
  return !out.empty();
}

// A comma-separated list of values, each parsed into `scratch` by parse_value.
template <class Value>
bool valid_list(std::string_view value, HeaderId id, Value& scratch) noexcept {
  Scanner in(value);
  do {
    if (!parse_value(in, scratch, id)) return false;
  } while (in.separator(','));
  return in.at_end();
}

}  // namespace

Method method_from_name(std::string_view name) noexcept {
  for (const MethodName& m : kMethods)
    if (m.name == name) return m.method;
  return Method::Other;
}

template <class Value>
bool Message::ValueCursor<Value>::next(Value& out) noexcept {
  if (field_ != nullptr && !scanner_.at_end()) {
    if (!scanner_.separator(',')) return false;
    return parse_value(scanner_, out, id_);
  }
  const auto all = message_->headers();
  for (; index_ < all.size(); ++index_) {
    if (all[index_].id != id_ || all[index_].value.empty()) continue;  // "Supported:" is legal
    field_ = &all[index_];
    ++index_;
    scanner_ = Scanner(field_->value);
    return parse_value(scanner_, out, id_);
  }
  return false;
}
template class Message::ValueCursor<Via>;
template class Message::ValueCursor<NameAddr>;
template class Message::ValueCursor<std::string_view>;

std::int64_t Message::expires() const noexcept {
  const HeaderField* h = find(HeaderId::Expires);
  std::uint32_t seconds = 0;
  if (h == nullptr || !parse_delta_seconds(h->value, seconds)) return -1;
  return seconds;
}

const HeaderField* Message::find(HeaderId id) const noexcept {
  const std::uint16_t first = first_[static_cast<std::size_t>(id)];
  return first == 0 ? nullptr : &headers_[first - 1];
}

const HeaderField* Message::find(std::string_view name) const noexcept {
  const HeaderId id = lookup_header(name);
  if (id != HeaderId::Other) return find(id);
  for (const HeaderField& h : headers())
    if (h.id == HeaderId::Other && iequals(h.name, name)) return &h;
  return nullptr;
}

Verdict Message::reject(std::uint16_t status, std::string_view reason) const noexcept {
  // An invalid response is never answered (RFC 3261 section 18.1.2, 16.7).
  return is_request_ ? Verdict::respond(status, reason) : Verdict::drop(reason);
}

Verdict Message::parse(std::string_view bytes, Framing framing, const Limits& limits) noexcept {
  bytes_ = bytes;
  start_line_ = method_name_ = request_uri_text_ = reason_phrase_ = headers_end_ = body_ =
      call_id_ = {};
  // from_, to_, top_via_ and request_uri_ are overwritten by every parse that can succeed.
  cseq_ = CSeq{};
  content_length_ = -1;
  max_forwards_ = -1;
  via_count_ = 0;
  status_code_ = 0;
  header_count_ = 0;
  method_ = Method::Other;
  contact_star_ = false;
  counts_.fill(0);
  first_.fill(0);

  // Leading CRLFs are ignored (RFC 3261 7.5); they are also RFC 5626 keep-alives.
  std::size_t pos = 0;
  while (pos + 1 < bytes.size() && bytes[pos] == '\r' && bytes[pos + 1] == '\n') pos += 2;
  const std::string_view rest = bytes.substr(pos);
  is_request_ = !(rest.size() >= 4 && iequals(rest.substr(0, 4), "SIP/"));
  if (rest.empty()) return Verdict::drop("Empty message");
  if (bytes.size() > limits.max_message_bytes) return reject(513, "Message too large");

  const std::size_t scan =
      std::min<std::size_t>(rest.size(), std::size_t{limits.max_line_bytes} + 2);
  const void* nl = std::memchr(rest.data(), '\n', scan);
  if (nl == nullptr) {
    if (rest.size() > limits.max_line_bytes) return reject(513, "Start line too long");
    return reject(400, "Start line not terminated by CRLF");
  }
  const std::size_t eol = static_cast<std::size_t>(static_cast<const char*>(nl) - rest.data());
  if (eol == 0 || rest[eol - 1] != '\r') return reject(400, "Bare LF in start line");
  const std::string_view line = rest.substr(0, eol - 1);
  if (line.find('\r') != std::string_view::npos) return reject(400, "Bare CR in start line");
  start_line_ = line;
  const std::string_view after = rest.substr(eol + 1);
  if (Verdict v = parse_start_line(line); !v.is_valid()) {
    // Still index the header lines: the answer (505, 400 ...) copies Via, From, To, Call-ID
    // and CSeq from them.
    if (is_request_) (void)parse_headers(after, limits);
    return v;
  }

  if (Verdict v = parse_headers(after, limits); !v.is_valid()) return v;
  if (headers_end_.empty()) {
    if (Verdict v = validate_headers(limits); !v.is_valid()) return v;
    return reject(400, "Missing empty line after the headers");
  }
  const std::size_t body_start =
      static_cast<std::size_t>(headers_end_.data() + headers_end_.size() - bytes.data());
  if (Verdict v = frame_body(bytes.substr(body_start), framing, limits); !v.is_valid()) return v;
  bytes_ = bytes.substr(0, body_start + body_.size());
  if (Verdict v = validate_headers(limits); !v.is_valid()) return v;
  return validate_semantics();
}

Verdict Message::parse_start_line(std::string_view line) noexcept {
  if (!is_request_) {
    request_uri_ = Uri{};
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return Verdict::drop("Malformed status line");
    const int version = classify_version(line.substr(0, sp));
    if (version != 1) return Verdict::drop("Bad SIP-Version in status line");
    const std::string_view after = line.substr(sp + 1);
    if (after.size() < 4 || after[3] != ' ') return Verdict::drop("Malformed status code");
    unsigned code = 0;
    for (int i = 0; i < 3; ++i) {
      if (!chars::is_digit(after[i])) return Verdict::drop("Malformed status code");
      code = code * 10 + static_cast<unsigned>(after[i] - '0');
    }
    if (code < 100 || code > 699) return Verdict::drop("Status code out of range");
    status_code_ = static_cast<std::uint16_t>(code);
    reason_phrase_ = after.substr(4);
    for (char c : reason_phrase_) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7F || u > 0xFD)
        return Verdict::drop("Invalid character in reason phrase");
    }
    return Verdict::valid();
  }
  // Request-Line = Method SP Request-URI SP SIP-Version
  // The method is scanned as a token: when the first byte that is not a token character is the
  // first SP, that is what find(' ') and the token check below would conclude.
  std::size_t method_end = 0;
  while (method_end < line.size() && chars::is_token(line[method_end])) ++method_end;
  const std::size_t sp1 = method_end != 0 && method_end < line.size() && line[method_end] == ' '
                              ? method_end
                              : line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return reject(400, "Malformed request line");
  method_name_ = line.substr(0, sp1);
  if (sp1 != method_end) {
    for (char c : method_name_)
      if (!chars::is_token(c)) return reject(400, "Malformed method");
  }
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return reject(400, "Malformed request line");
  request_uri_text_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "SIP/2.0") {  // the common case needs none of these checks
    if (version.find(' ') != std::string_view::npos || version.find('\t') != std::string_view::npos)
      return reject(400, "Malformed request line");
    switch (classify_version(version)) {
      case 0:
        return reject(400, "Malformed SIP-Version");
      case 2:
        return reject(505, "SIP version not supported");
      default:
        break;
    }
  }
  method_ = method_from_name(method_name_);
  switch (parse_uri(request_uri_text_, request_uri_, UriContext::RequestUri)) {
    case UriError::Malformed:
      return reject(400, "Malformed Request-URI");
    case UriError::HeadersNotAllowed:
      return reject(400, "Request-URI must not carry headers");
    case UriError::None:
      break;
  }
  return Verdict::valid();
}

Verdict Message::parse_headers(std::string_view section, const Limits& limits) noexcept {
  const char* p = section.data();
  const char* const end = section.data() + section.size();
  // NUL is refused even where the grammar admits it (a quoted-pair may escape %x00): a core
  // written in C would read the value up to it and see something else than what was checked
  // here. The scan stops at NUL like at any control byte, so this costs nothing on the fast
  // path; the lines are still indexed so that the 400 can be answered.
  bool nul = false;
  const std::size_t max_headers = std::min<std::size_t>(limits.max_headers, kHeaderCapacity);
  while (true) {
    if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
      headers_end_ = std::string_view(p, 2);
      return nul ? reject(400, "NUL byte in header") : Verdict::valid();
    }
    if (p == end) {
      // Report the headers' own defects first: they say more than the missing empty line.
      headers_end_ =
          std::string_view(end, 0);  // NOLINT(bugprone-string-constructor): marks the end
      return nul ? reject(400, "NUL byte in header") : Verdict::valid();
    }
    if (header_count_ >= max_headers) return reject(513, "Too many header fields");

    // header-name HCOLON value; HCOLON = *( SP / HTAB ) ":" SWS
    const char* const line_start = p;
    const char* q = p;
    std::string_view name;
    HeaderId id = HeaderId::Other;
#if defined(__SSE2__)
    std::size_t name_size = 0;
    if (const std::size_t colon = known_header_name(p, end, id, name_size); colon != 0) {
      name = std::string_view(p, name_size);
      q = p + colon + 1;
    } else
#endif
    {
      while (q < end && chars::is_token(*q)) ++q;
      if (q == p) {
        if (*p == '\0') return reject(400, "NUL byte in header");
        return reject(400, (*p == ' ' || *p == '\t') ? "Header line starts with white space"
                                                     : "Malformed header name");
      }
      name = std::string_view(p, static_cast<std::size_t>(q - p));
      while (q < end && (*q == ' ' || *q == '\t')) ++q;
      if (q == end || *q != ':')
        return reject(
            400, q != end && *q == '\0' ? "NUL byte in header" : "Missing colon in header line");
      ++q;
      id = lookup_header(name);
    }
    const bool opaque = id == HeaderId::Other;

    // One pass to the CRLF that ends the field, across folds (CRLF followed by white space).
    // Opaque values are checked byte by byte here; interpreted ones by their own grammar later.
    // The usual single SP after the colon is skipped here (trim() would drop it anyway).
    if (q < end && *q == ' ') ++q;
    const char* const value_start = q;
    while (true) {
      q = skip_value_bytes(q, end);
      if (q == end) {
        if (static_cast<std::size_t>(q - line_start) > limits.max_line_bytes)
          return reject(513, "Header line too long");
        return reject(400, "Header line not terminated by CRLF");
      }
      if (*q == '\r') {
        if (q + 1 == end || q[1] != '\n') return reject(400, "Bare CR in header");
        if (q + 2 < end && (q[2] == ' ' || q[2] == '\t')) {
          q += 3;
          continue;
        }
        break;
      }
      if (*q == '\n') return reject(400, "Bare LF in header");
      if (*q == '\0') {
        nul = true;
        ++q;
        continue;
      }
      if (opaque) return reject(400, "Invalid character in header value");
      ++q;
    }
    p = q + 2;
    if (static_cast<std::size_t>(p - line_start) > limits.max_line_bytes)
      return reject(513, "Header line too long");
    HeaderField& h = headers_[header_count_];
    h.id = id;
    h.name = name;
    h.value = trim(std::string_view(value_start, static_cast<std::size_t>(q - value_start)));
    h.line = std::string_view(line_start, static_cast<std::size_t>(p - line_start));
    const auto idx = static_cast<std::size_t>(id);
    if (counts_[idx]++ == 0) first_[idx] = static_cast<std::uint16_t>(header_count_ + 1);
    ++header_count_;
  }
}

Verdict Message::frame_body(std::string_view rest, Framing framing, const Limits& limits) noexcept {
  const HeaderField* cl = find(HeaderId::ContentLength);
  if (count(HeaderId::ContentLength) > 1) return reject(400, "Multiple Content-Length headers");
  if (cl == nullptr) {
    if (framing == Framing::Stream)
      return reject(400, "Missing Content-Length (required over TCP and TLS)");
    if (rest.size() > limits.max_body_bytes) return reject(513, "Body too large");
    body_ = rest;
    return Verdict::valid();
  }
  std::uint64_t length = 0;
  Scanner in(cl->value);
  if (!in.number(limits.max_body_bytes, length) || !in.at_end())
    return reject(400, kMalformed[static_cast<std::size_t>(HeaderId::ContentLength)]);
  if (length > limits.max_body_bytes) return reject(513, "Body too large");
  if (length > rest.size()) return reject(400, "Content-Length exceeds the body received");
  if (framing == Framing::Stream && length != rest.size())
    return reject(400, "Content-Length does not match the framed body");
  content_length_ = static_cast<long>(length);
  body_ = rest.substr(0, length);  // octets after it in a datagram are discarded (18.3)
  return Verdict::valid();
}

Verdict Message::validate_headers(const Limits& limits) noexcept {
  const auto malformed = [this](HeaderId id) {
    return reject(400, kMalformed[static_cast<std::size_t>(id)]);
  };
  // Scratch values live outside the loop: constructing one zeroes a few hundred bytes.
  Via via;
  NameAddr name_addr;
  for (const HeaderField& h : headers()) {
    switch (h.id) {
      case HeaderId::Other:
      case HeaderId::ContentLength:
        break;
      case HeaderId::Via: {
        Scanner in(h.value);
        do {
          // The first Via value is parsed straight into top_via_ (no copy).
          Via& value = via_count_++ == 0 ? top_via_ : via;
          if (!parse_via(in, value)) return malformed(h.id);
          // A Via naming the limited broadcast address would turn a response into a broadcast.
          if (is_broadcast(value.host) || is_broadcast(value.received) || is_broadcast(value.maddr))
            return reject(400, "Via names a broadcast address");
        } while (in.separator(','));
        if (!in.at_end()) return malformed(h.id);
        if (via_count_ > limits.max_vias) return reject(513, "Too many Via values");
        break;
      }
      case HeaderId::From:
      case HeaderId::To: {
        NameAddr& target = h.id == HeaderId::From ? from_ : to_;
        Scanner in(h.value);
        if (!parse_name_addr(in, target, NameAddrRules::FromTo) || !in.at_end())
          return malformed(h.id);
        break;
      }
      case HeaderId::CallId:
        if (!valid_call_id(h.value)) return malformed(h.id);
        call_id_ = h.value;
        break;
      case HeaderId::CSeq:
        if (!parse_cseq(h.value, cseq_)) return malformed(h.id);
        break;
      case HeaderId::MaxForwards: {
        Scanner in(h.value);
        std::uint64_t hops = 0;
        if (!in.number(255, hops) || !in.at_end()) return malformed(h.id);
        if (hops > 255) return reject(400, "Max-Forwards above 255");
        max_forwards_ = static_cast<int>(hops);
        break;
      }
      case HeaderId::Contact:
        if (h.value == "*") {
          contact_star_ = true;
          break;
        }
        [[fallthrough]];
      case HeaderId::Route:
      case HeaderId::RecordRoute:
      case HeaderId::Path:
      case HeaderId::PAssertedIdentity:
        if (!valid_list(h.value, h.id, name_addr)) return malformed(h.id);
        break;
      case HeaderId::ContentType:
        if (!valid_content_type(h.value)) return malformed(h.id);
        break;
      case HeaderId::Expires: {
        std::uint32_t seconds = 0;
        if (!parse_delta_seconds(h.value, seconds)) return malformed(h.id);
        break;
      }
      case HeaderId::Require:
      case HeaderId::ProxyRequire:
      case HeaderId::Unsupported:
        if (!valid_option_tags(h.value, false)) return malformed(h.id);
        break;
      case HeaderId::Supported:
        if (!valid_option_tags(h.value, true)) return malformed(h.id);
        break;
      case HeaderId::UserAgent:
        if (!valid_user_agent(h.value)) return malformed(h.id);
        break;
      case HeaderId::Authorization:
      case HeaderId::ProxyAuthorization: {
        AuthValue auth;
        if (!parse_credentials(h.value, auth)) return malformed(h.id);
        break;
      }
      case HeaderId::WwwAuthenticate:
      case HeaderId::ProxyAuthenticate: {
        AuthValue auth;
        if (!parse_challenge(h.value, auth)) return malformed(h.id);
        break;
      }
      case HeaderId::Date:
        if (!valid_sip_date(h.value)) return malformed(h.id);
        break;
      case HeaderId::kCount:
        break;
    }
  }
  return Verdict::valid();
}

Verdict Message::validate_semantics() noexcept {
  struct Required {
    HeaderId id;
    std::string_view missing;
    std::string_view multiple;
  };
  static constexpr Required kExactlyOnce[] = {
      {HeaderId::Via, "Missing Via header", {}},
      {HeaderId::From, "Missing From header", "Multiple From headers"},
      {HeaderId::To, "Missing To header", "Multiple To headers"},
      {HeaderId::CallId, "Missing Call-ID header", "Multiple Call-ID headers"},
      {HeaderId::CSeq, "Missing CSeq header", "Multiple CSeq headers"},
      {HeaderId::MaxForwards, "Missing Max-Forwards header", "Multiple Max-Forwards headers"},
      {HeaderId::ContentType, {}, "Multiple Content-Type headers"},
      {HeaderId::Expires, {}, "Multiple Expires headers"},
  };
  // The usual message has each of them once (Via at least once): one test each, no table walk.
  const bool usual = count(HeaderId::Via) != 0 && count(HeaderId::From) == 1 &&
                     count(HeaderId::To) == 1 && count(HeaderId::CallId) == 1 &&
                     count(HeaderId::CSeq) == 1 && count(HeaderId::MaxForwards) == 1 &&
                     count(HeaderId::ContentType) <= 1 && count(HeaderId::Expires) <= 1;
  for (std::size_t i = 0; !usual && i < std::size(kExactlyOnce); ++i) {
    const Required& r = kExactlyOnce[i];
    const std::size_t n = count(r.id);
    const bool optional = r.missing.empty() || (r.id == HeaderId::MaxForwards && !is_request_);
    if (n == 0 && !optional) return reject(400, r.missing);
    if (n > 1 && !r.multiple.empty()) return reject(400, r.multiple);
  }
  if (cseq_.number >= 0x80000000u) return reject(400, "CSeq number must be below 2^31");
  if (!body_.empty() && count(HeaderId::ContentType) == 0)
    return reject(400, "Missing Content-Type for a non-empty body");

  if (!is_request_) return Verdict::valid();

  if (cseq_.method != method_name_)
    return reject(400, "CSeq method does not match the request method");
  if (from_.tag.empty()) return reject(400, "Missing From tag");
  // A missing branch is legal (RFC 2543 peers; RFC 4475 longreq); a bare magic cookie claims
  // RFC 3261 transaction matching without the unique part it needs.
  if (top_via_.branch == "z9hG4bK") return reject(400, "Top Via branch is only the magic cookie");
  if (contact_star_) {
    std::uint32_t expires = 1;
    const HeaderField* e = find(HeaderId::Expires);
    if (e != nullptr) parse_delta_seconds(e->value, expires);
    if (method_ != Method::Register || count(HeaderId::Contact) != 1 || expires != 0)
      return reject(400, "Contact * is only allowed alone in a REGISTER with Expires: 0");
  }
  return Verdict::valid();
}

Verdict Message::check_proxy_rules(const ProxyOptions& options) const noexcept {
  if (!is_request_) return Verdict::valid();
  if (request_uri_.scheme == Scheme::Other) return Verdict::respond(416, "Unsupported URI scheme");
  if (max_forwards_ == 0) return Verdict::respond(483, "Too many hops");
  for (const HeaderField& h : headers()) {
    if (h.id != HeaderId::ProxyRequire) continue;
    Scanner in(h.value);
    do {
      const std::string_view tag = in.token();
      bool supported = false;
      for (std::string_view s : options.supported_proxy_require)
        supported = supported || iequals(s, tag);
      if (!supported) return Verdict::respond(420, "Unsupported Proxy-Require option tag", h.value);
    } while (in.separator(','));
  }
  return Verdict::valid();
}

}  // namespace sbc::sip
