#include "sbc/sip/message.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

// Message::parse_headers: the header lines cut at their CRLFs (across folds), each name found by
// a perfect hash of known names or byte by byte, opaque values checked on the way.

namespace sbc::sip {
namespace {

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

}  // namespace

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

}  // namespace sbc::sip
