#include "sbc/media/sdp.hpp"

#include <algorithm>
#include <cstddef>

#include "sbc/common/address.hpp"

namespace sbc::media {

namespace {

constexpr std::string_view kSessionOrder = "vosiuepcbtrzkam";
constexpr std::string_view kMediaOrder = "micbka";
// Lines a section may hold once (RFC 8866 5; z= is one line for all the time zone offsets).
constexpr std::string_view kSessionOnce = "vosiuczk";
constexpr std::string_view kMediaOnce = "ick";

SdpError error(std::string_view what, char type, unsigned line, std::size_t limit = 0) {
  return SdpError{what, type, line, limit};
}

bool digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
bool alnum(char c) noexcept {
  return digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), digit);
}
// token-char of RFC 8866 9: printable ASCII but space " ( ) , / : ; < = > ? @ [ \ ] (and ').
// A table: every byte of every token goes through it.
constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (unsigned c = 0x21; c < 0x7F; ++c) table[c] = true;
  for (const char c : std::string_view("\"(),/:;<=>?@[\\]"))
    table[static_cast<unsigned char>(c)] = false;
  return table;
}();
bool token_char(char c) noexcept {
  return kTokenChars[static_cast<unsigned char>(c)];
}
bool token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), token_char);
}

// A decimal number of at most `max_digits` digits, up to `max`.
std::optional<std::uint32_t> number(std::string_view s, std::size_t max_digits,
                                    std::uint32_t max) noexcept {
  if (!all_digits(s) || s.size() > max_digits) return std::nullopt;
  std::uint64_t n = 0;
  for (const char c : s) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  if (n > max) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

// Fields separated by single spaces into `out`: their count, 0 when a field is empty (a leading,
// trailing or double space), out.size() + 1 when there are more fields than `out` holds.
std::size_t split(std::string_view s, std::span<std::string_view> out) noexcept {
  std::size_t n = 0;
  while (true) {
    const std::size_t space = s.find(' ');
    const std::string_view field = s.substr(0, space);
    if (field.empty()) return 0;
    if (n == out.size()) return out.size() + 1;
    out[n++] = field;
    if (space == std::string_view::npos) return n;
    s.remove_prefix(space + 1);
  }
}

// IP4-address of RFC 8866: four decimal-uchar without leading zeros.
bool ipv4(std::string_view s) noexcept {
  for (int part = 0; part < 4; ++part) {
    const std::size_t dot = s.find('.');
    if ((dot == std::string_view::npos) != (part == 3)) return false;
    const std::string_view octet = s.substr(0, dot);
    if ((octet.size() > 1 && octet.front() == '0') || !number(octet, 3, 255)) return false;
    if (part < 3) s.remove_prefix(dot + 1);
  }
  return true;
}
bool ipv6(std::string_view s) noexcept {
  return s.find(':') != std::string_view::npos && s.find('[') == std::string_view::npos &&
         sbc::parse_address(s).has_value();
}
// FQDN: labels of letters, digits and '-' (not at either end), 1 to 63 each, 253 in all; the last
// label not all digits, so that a malformed IPv4 literal is not taken for a name.
bool fqdn(std::string_view s) noexcept {
  if (s.empty() || s.size() > 253) return false;
  std::string_view last;
  while (!s.empty()) {
    const std::size_t dot = s.find('.');
    const std::string_view label = s.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return alnum(c) || c == '-'; }))
      return false;
    last = label;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
    if (s.empty()) return false;
  }
  return !all_digits(last);
}
bool address_of(AddrType type, std::string_view s) noexcept {
  return type == AddrType::IP4 ? ipv4(s) || fqdn(s) : ipv6(s) || fqdn(s);
}
std::optional<AddrType> addrtype(std::string_view s) noexcept {
  if (s == "IP4") return AddrType::IP4;
  if (s == "IP6") return AddrType::IP6;
  return std::nullopt;
}
bool ipv4_multicast(std::string_view s) noexcept {
  const auto first = number(s.substr(0, s.find('.')), 3, 255);
  return first && *first >= 224 && *first <= 239;
}
bool ipv6_multicast(std::string_view s) noexcept {
  return s.size() >= 2 && (s[0] == 'f' || s[0] == 'F') && (s[1] == 'f' || s[1] == 'F');
}

// Bytes of a line's value: no control character (the line ends are already cut off), and UTF-8
// without overlong forms, surrogates or code points above U+10FFFF.
const char* text_defect(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return "control character";
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The second byte's range excludes overlong forms (E0, F0), surrogates (ED) and code
    // points above U+10FFFF (F4).
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return "invalid UTF-8";
    }
    if (i + length > s.size()) return "invalid UTF-8";
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
      if (next < lo || next > hi) return "invalid UTF-8";
    }
    i += length;
  }
  return nullptr;
}

// "IN <addrtype> <address>" fields of o=, c= and a=rtcp; the address checked by the caller.
const char* nettype_defect(std::string_view nettype, std::string_view type) noexcept {
  if (nettype != "IN") return "network type not IN";
  if (!addrtype(type)) return "address type not IP4 or IP6";
  return nullptr;
}

// typed-time of RFC 8866: digits with an optional unit d, h, m or s.
bool typed_time(std::string_view s) noexcept {
  if (!s.empty() && std::string_view("dhms").find(s.back()) != std::string_view::npos)
    s.remove_suffix(1);
  return all_digits(s) && s.size() <= 20;
}

}  // namespace

std::string SdpError::phrase() const {
  std::string out;
  if (type != 0) {
    out += type;
    out += "= ";
  }
  if (line != 0) out += "line " + std::to_string(line) + ": ";
  out += what;
  if (limit != 0) out += " (limit " + std::to_string(limit) + ")";
  return out;
}

bool SdpMedia::rtp() const noexcept {
  return proto.starts_with("RTP/") || proto.find("/RTP/") != std::string_view::npos;
}

std::optional<Rtpmap> parse_rtpmap(std::string_view value) noexcept {
  const std::size_t space = value.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto pt = number(value.substr(0, space), 3, 127);
  const std::string_view rest = value.substr(space + 1);
  const std::size_t slash = rest.find('/');
  if (!pt || slash == std::string_view::npos) return std::nullopt;
  Rtpmap map;
  map.payload_type = static_cast<std::uint8_t>(*pt);
  map.encoding = rest.substr(0, slash);
  const std::string_view clock_and_params = rest.substr(slash + 1);
  const std::size_t second = clock_and_params.find('/');
  const auto clock = number(clock_and_params.substr(0, second), 10, 0xFFFFFFFFu);
  if (!token(map.encoding) || !clock || *clock == 0) return std::nullopt;
  map.clock_rate = *clock;
  if (second != std::string_view::npos) {
    map.parameters = clock_and_params.substr(second + 1);
    if (!token(map.parameters)) return std::nullopt;
  }
  return map;
}

std::optional<Crypto> parse_crypto(std::string_view value) noexcept {
  std::array<std::string_view, 3> head;
  const std::size_t first = value.find(' ');
  const std::size_t second = first == std::string_view::npos ? first : value.find(' ', first + 1);
  const std::size_t third = second == std::string_view::npos ? second : value.find(' ', second + 1);
  if (split(value.substr(0, third), head) != 3) return std::nullopt;
  Crypto crypto;
  const auto tag = number(head[0], 9, 999999999);
  if (!tag) return std::nullopt;
  crypto.tag = *tag;
  crypto.suite = head[1];
  if (!std::all_of(crypto.suite.begin(), crypto.suite.end(),
                   [](char c) { return alnum(c) || c == '_'; }))
    return std::nullopt;
  crypto.key_params = head[2];
  for (std::string_view rest = head[2]; !rest.empty();) {
    const std::size_t semicolon = rest.find(';');
    const std::string_view param = rest.substr(0, semicolon);
    constexpr std::string_view kInline = "inline:";
    if (!param.starts_with(kInline) || param.size() == kInline.size()) return std::nullopt;
    const std::string_view info = param.substr(kInline.size());
    if (!std::all_of(info.begin(), info.end(), [](char c) {
          return alnum(c) || std::string_view("+/=|:^").find(c) != std::string_view::npos;
        }))
      return std::nullopt;
    if (semicolon == std::string_view::npos) break;
    rest.remove_prefix(semicolon + 1);
    if (rest.empty()) return std::nullopt;
  }
  if (third != std::string_view::npos) {
    crypto.session_params = value.substr(third + 1);
    std::array<std::string_view, 16> params;
    const std::size_t n = split(crypto.session_params, params);
    if (n == 0 || n > params.size()) return std::nullopt;
  }
  return crypto;
}

std::optional<Rtcp> parse_rtcp(std::string_view value) noexcept {
  std::array<std::string_view, 4> fields;
  const std::size_t n = split(value, fields);
  if (n != 1 && n != 4) return std::nullopt;
  const auto port = number(fields[0], 5, 65535);
  if (!port) return std::nullopt;
  Rtcp rtcp;
  rtcp.port = static_cast<std::uint16_t>(*port);
  if (n == 4) {
    if (nettype_defect(fields[1], fields[2])) return std::nullopt;
    rtcp.addrtype = addrtype(fields[2]);
    if (!address_of(*rtcp.addrtype, fields[3])) return std::nullopt;
    rtcp.address = fields[3];
  }
  return rtcp;
}

// candidate-attribute of RFC 8839 5.1: foundation component transport priority address port
// "typ" type [raddr address] [rport port] *(extension-name extension-value).
std::optional<CandidateAddresses> parse_candidate(std::string_view value) noexcept {
  std::array<std::string_view, 32> f;
  const std::size_t n = split(value, f);
  if (n < 8 || n > f.size() || (n - 8) % 2 != 0) return std::nullopt;
  const bool foundation = f[0].size() <= 32 && std::all_of(f[0].begin(), f[0].end(), [](char c) {
                            return alnum(c) || c == '+' || c == '/';
                          });
  const auto any_address = [](std::string_view a) { return ipv4(a) || ipv6(a) || fqdn(a); };
  if (!foundation || !number(f[1], 3, 256) || !token(f[2]) || !number(f[3], 10, 0xFFFFFFFFu) ||
      !any_address(f[4]) || !number(f[5], 5, 65535) || f[6] != "typ" || !token(f[7]))
    return std::nullopt;
  CandidateAddresses out{f[4], {}};
  for (std::size_t i = 8; i < n; i += 2) {
    if (!token(f[i]) || !token(f[i + 1])) return std::nullopt;
    if (f[i] == "raddr") {
      if (!any_address(f[i + 1])) return std::nullopt;
      out.related = f[i + 1];
    } else if (f[i] == "rport" && !number(f[i + 1], 5, 65535)) {
      return std::nullopt;
    }
  }
  return out;
}

namespace {

bool direction_name(std::string_view name) noexcept {
  return name == "sendrecv" || name == "sendonly" || name == "recvonly" || name == "inactive";
}

// One SDP, line by line: the order of the lines, then each line's own grammar.
class Reader {
 public:
  explicit Reader(Sdp& out) noexcept : out_(out) {}
  std::optional<SdpError> line(char type, std::string_view value, unsigned no) noexcept;
  std::optional<SdpError> finish() const noexcept;

 private:
  std::optional<SdpError> order(char type, unsigned no) noexcept;
  std::optional<SdpError> fields(char type, std::string_view value, unsigned no) noexcept;
  const char* origin(std::string_view value, unsigned no) noexcept;
  const char* connection(std::string_view value, unsigned no) noexcept;
  std::optional<SdpError> media(std::string_view value, unsigned no) noexcept;
  std::optional<SdpError> attribute(std::string_view value, unsigned no) noexcept;

  Sdp& out_;
  SdpMedia* section_ = nullptr;     // the current m= section; null at session level
  std::uint32_t seen_ = 0;          // letters of the current section, a bit each
  std::uint32_t session_seen_ = 0;  // letters of the session level
  char last_ = 0;                   // type of the previous line of the current section
  bool direction_ = false;          // the current section has a direction attribute
};

std::uint32_t bit(char type) {
  return 1u << static_cast<unsigned>(type - 'a');
}

// The first of the required session lines (v o s t) that ranks before `rank` and is not `seen`.
std::optional<std::string_view> missing(std::uint32_t seen, std::size_t rank) {
  constexpr std::string_view kRequired = "vost";
  constexpr std::array<std::string_view, 4> kMissing{"v= missing", "o= missing", "s= missing",
                                                     "t= missing"};
  for (std::size_t i = 0; i < kRequired.size(); ++i)
    if (kSessionOrder.find(kRequired[i]) < rank && !(seen & bit(kRequired[i]))) return kMissing[i];
  return std::nullopt;
}

std::optional<SdpError> Reader::order(char type, unsigned no) noexcept {
  if (type == 'm') {
    if (const auto what = missing(session_seen_, kSessionOrder.size()))
      return error(*what, type, no);
    return std::nullopt;
  }
  const std::string_view ranks = section_ ? kMediaOrder : kSessionOrder;
  const std::size_t rank = ranks.find(type);
  if (rank == std::string_view::npos) {
    if (kSessionOrder.find(type) != std::string_view::npos)
      return error("not allowed in a media section", type, no);
    return error("unknown line type", type, no);
  }
  if (const auto what = section_ ? std::nullopt : missing(seen_, rank))
    return error(*what, type, no);
  const std::size_t last_rank = last_ == 0 ? 0 : ranks.find(last_);
  if (rank < last_rank && !(type == 't' && last_ == 'r')) return error("out of order", type, no);
  const std::string_view once = section_ ? kMediaOnce : kSessionOnce;
  if ((seen_ & bit(type)) && once.find(type) != std::string_view::npos)
    return error("repeated", type, no);
  return std::nullopt;
}

std::optional<SdpError> Reader::line(char type, std::string_view value, unsigned no) noexcept {
  if (auto e = order(type, no)) return e;
  if (type == 'm') {
    seen_ = 0;
    direction_ = false;
  }
  seen_ |= bit(type);
  last_ = type;
  if (!section_ && type != 'm') session_seen_ = seen_;
  return fields(type, value, no);
}

std::optional<SdpError> Reader::fields(char type, std::string_view value, unsigned no) noexcept {
  const char* defect = nullptr;
  switch (type) {
    case 'v':
      if (value != "0") defect = "version not 0";
      break;
    case 'o':
      defect = origin(value, no);
      break;
    case 's':
      out_.session_name = value;
      break;
    case 'c':
      defect = connection(value, no);
      break;
    case 'b': {
      const std::size_t colon = value.find(':');
      if (colon == std::string_view::npos || !token(value.substr(0, colon)) ||
          !number(value.substr(colon + 1), 10, 0xFFFFFFFFu))
        defect = "malformed bandwidth";
      break;
    }
    case 't': {
      std::array<std::string_view, 2> f;
      if (split(value, f) != 2 || !all_digits(f[0]) || !all_digits(f[1]) || f[0].size() > 20 ||
          f[1].size() > 20)
        defect = "malformed time";
      break;
    }
    case 'r': {
      std::array<std::string_view, 64> f;
      const std::size_t n = split(value, f);
      if (n < 3 || n > f.size() ||
          !std::all_of(f.begin(), f.begin() + static_cast<std::ptrdiff_t>(n), typed_time))
        defect = "malformed repeat time";
      break;
    }
    case 'z': {
      std::array<std::string_view, 64> f;
      const std::size_t n = split(value, f);
      bool good = n >= 2 && n <= f.size() && n % 2 == 0;
      for (std::size_t i = 0; good && i < n; i += 2) {
        const std::string_view offset = f[i + 1].starts_with('-') ? f[i + 1].substr(1) : f[i + 1];
        good = all_digits(f[i]) && f[i].size() <= 20 && typed_time(offset);
      }
      if (!good) defect = "malformed time zone adjustment";
      break;
    }
    case 'k':
      if (!token(value.substr(0, value.find(':')))) defect = "malformed key";
      break;
    case 'm':
      return media(value, no);
    case 'a':
      return attribute(value, no);
    default:  // i= u= e= p=: text, checked for its bytes already
      break;
  }
  if (defect) return error(defect, type, no);
  return std::nullopt;
}

const char* Reader::origin(std::string_view value, unsigned no) noexcept {
  std::array<std::string_view, 6> f;
  if (split(value, f) != 6) return "malformed origin (6 fields)";
  if (!all_digits(f[1])) return "session id not numeric";
  if (!all_digits(f[2])) return "session version not numeric";
  if (const char* defect = nettype_defect(f[3], f[4])) return defect;
  const AddrType type = *addrtype(f[4]);
  if (!address_of(type, f[5])) return "bad address";
  out_.origin = SdpOrigin{f[0], f[1], f[2], type, f[5], no};
  return nullptr;
}

// c=IN IP4 <address>[/<ttl>[/<count>]] (a TTL for IPv4 multicast only, and required there);
// c=IN IP6 <address>[/<count>] (multicast only); names have no suffix.
const char* Reader::connection(std::string_view value, unsigned no) noexcept {
  std::array<std::string_view, 3> f;
  if (split(value, f) != 3) return "malformed connection (3 fields)";
  if (const char* defect = nettype_defect(f[0], f[1])) return defect;
  SdpConnection c;
  c.addrtype = *addrtype(f[1]);
  c.line = no;
  const std::size_t slash = f[2].find('/');
  const bool suffix = slash != std::string_view::npos;
  c.address = f[2].substr(0, slash);
  if (!address_of(c.addrtype, c.address)) return "bad address";
  const bool v4 = c.addrtype == AddrType::IP4;
  const bool multicast = v4 ? ipv4(c.address) && ipv4_multicast(c.address)
                            : ipv6(c.address) && ipv6_multicast(c.address);
  if (!multicast && suffix) return "TTL or count on a unicast address";
  std::string_view count = suffix ? f[2].substr(slash + 1) : std::string_view{};
  bool has_count = suffix;
  if (multicast && v4) {
    if (!suffix) return "multicast address without a TTL";
    const std::size_t next = count.find('/');
    const auto ttl = number(count.substr(0, next), 3, 255);
    if (!ttl) return "bad TTL";
    c.ttl = static_cast<std::uint8_t>(*ttl);
    has_count = next != std::string_view::npos;
    count = has_count ? count.substr(next + 1) : std::string_view{};
  }
  if (has_count) {
    const auto n = number(count, 5, 65535);
    if (!n || *n == 0) return "bad address count";
    c.count = *n;
  }
  (section_ ? section_->connection : out_.connection) = c;
  return nullptr;
}

std::optional<SdpError> Reader::media(std::string_view value, unsigned no) noexcept {
  if (out_.media_count == kMaxMedia) return error("too many m= sections", 'm', no, kMaxMedia);
  std::array<std::string_view, 3 + kMaxFormats> f;
  const std::size_t n = split(value, f);
  if (n > f.size()) return error("too many formats", 'm', no, kMaxFormats);
  if (n < 4) return error("malformed media (media port proto format...)", 'm', no);
  SdpMedia& m = out_.media[out_.media_count++];
  section_ = &m;
  m = SdpMedia{};
  m.line = no;
  if (!token(f[0])) return error("malformed media type", 'm', no);
  m.media = f[0];
  const std::size_t slash = f[1].find('/');
  const auto port = number(f[1].substr(0, slash), 5, 65535);
  if (!port) return error("port out of range", 'm', no);
  m.port = static_cast<std::uint16_t>(*port);
  if (slash != std::string_view::npos) {
    const auto count = number(f[1].substr(slash + 1), 5, 65535);
    if (!count || *count == 0) return error("bad port count", 'm', no);
    m.port_count = *count;
  }
  m.proto = f[2];
  for (std::string_view rest = f[2];;) {
    const std::size_t next = rest.find('/');
    if (!token(rest.substr(0, next))) return error("malformed proto", 'm', no);
    if (next == std::string_view::npos) break;
    rest.remove_prefix(next + 1);
  }
  for (std::size_t i = 3; i < n; ++i) {
    if (!token(f[i])) return error("malformed format", 'm', no);
    if (m.rtp() && !number(f[i], 3, 127)) return error("payload type out of range", 'm', no);
    m.formats[m.format_count++] = f[i];
  }
  return std::nullopt;
}

std::optional<SdpError> Reader::attribute(std::string_view value, unsigned no) noexcept {
  AttributeRange& range = section_ ? section_->attributes : out_.session_attributes;
  if (range.count == kMaxSectionAttributes)
    return error("too many a= lines in a section", 'a', no, kMaxSectionAttributes);
  if (out_.attribute_count == kMaxAttributes)
    return error("too many a= lines", 'a', no, kMaxAttributes);
  const std::size_t colon = value.find(':');
  SdpAttribute a{value.substr(0, colon), {}, colon != std::string_view::npos, no};
  if (!token(a.name)) return error("malformed attribute name", 'a', no);
  if (a.has_value) {
    a.value = value.substr(colon + 1);
    if (a.value.empty()) return error("empty attribute value", 'a', no);
  }
  if (direction_name(a.name)) {
    if (a.has_value) return error("direction attribute with a value", 'a', no);
    if (direction_) return error("more than one direction attribute", 'a', no);
    direction_ = true;
  } else if (a.name == "rtpmap" && !parse_rtpmap(a.value)) {
    return error("malformed rtpmap", 'a', no);
  } else if (a.name == "crypto" && !parse_crypto(a.value)) {
    return error("malformed crypto", 'a', no);
  } else if (a.name == "rtcp" && !parse_rtcp(a.value)) {
    return error("malformed rtcp", 'a', no);
  } else if (a.name == "candidate" && !parse_candidate(a.value)) {
    return error("malformed candidate", 'a', no);
  }
  if (range.count == 0) range.first = static_cast<std::uint16_t>(out_.attribute_count);
  out_.attribute_pool[out_.attribute_count++] = a;
  ++range.count;
  return std::nullopt;
}

std::optional<SdpError> Reader::finish() const noexcept {
  if (const auto what = missing(session_seen_, kSessionOrder.size())) return error(*what, 0, 0);
  for (const SdpMedia& m : out_.media_list())
    if (m.port != 0 && !out_.connection_of(m))
      return error("no connection address (c=)", 'm', m.line);
  return std::nullopt;
}

}  // namespace

std::optional<SdpError> parse_sdp(std::string_view body, Sdp& out,
                                  const SdpLimits& limits) noexcept {
  out.origin = {};
  out.session_name = {};
  out.connection.reset();
  out.session_attributes = {};
  out.media_count = 0;
  out.attribute_count = 0;
  if (body.empty()) return error("empty body", 0, 0);
  if (body.size() > limits.max_body) return error("body too large", 0, 0, limits.max_body);
  Reader reader(out);
  unsigned no = 0;
  for (std::size_t pos = 0; pos < body.size();) {
    ++no;
    const std::size_t end = body.find('\n', pos);
    std::string_view line = body.substr(pos, end == std::string_view::npos ? end : end - pos);
    pos = end == std::string_view::npos ? body.size() : end + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty()) return error("empty line", 0, no);
    if (const char* defect = text_defect(line)) return error(defect, 0, no);
    if (line.size() < 2 || line[0] < 'a' || line[0] > 'z' || line[1] != '=')
      return error("not a <type>=<value> line", 0, no);
    const std::string_view value = line.substr(2);
    // s=<space> is how RFC 8866 5.3 names a session without a name.
    if (value.empty()) return error("empty value", line[0], no);
    if (value.front() == ' ' && !(line[0] == 's' && value == " "))
      return error("space after '='", line[0], no);
    if (auto e = reader.line(line[0], value, no)) return e;
  }
  return reader.finish();
}

std::optional<Rtpmap> rtpmap(const Sdp& sdp, const SdpMedia& m, std::string_view format) noexcept {
  for (const SdpAttribute& a : sdp.attributes(m))
    if (a.name == "rtpmap" && a.value.starts_with(format) && a.value.size() > format.size() &&
        a.value[format.size()] == ' ')
      return parse_rtpmap(a.value);
  return std::nullopt;
}

Direction direction(const Sdp& sdp, const SdpMedia& m) noexcept {
  const auto find = [](std::span<const SdpAttribute> attributes) -> std::optional<Direction> {
    for (const SdpAttribute& a : attributes) {
      if (a.name == "sendrecv") return Direction::SendRecv;
      if (a.name == "sendonly") return Direction::SendOnly;
      if (a.name == "recvonly") return Direction::RecvOnly;
      if (a.name == "inactive") return Direction::Inactive;
    }
    return std::nullopt;
  };
  return find(sdp.attributes(m)).value_or(find(sdp.attributes()).value_or(Direction::SendRecv));
}

std::string_view to_string(Direction direction) noexcept {
  switch (direction) {
    case Direction::SendOnly:
      return "sendonly";
    case Direction::RecvOnly:
      return "recvonly";
    case Direction::Inactive:
      return "inactive";
    case Direction::SendRecv:
      break;
  }
  return "sendrecv";
}

std::optional<Rtcp> rtcp(const Sdp& sdp, const SdpMedia& m) noexcept {
  for (const SdpAttribute& a : sdp.attributes(m))
    if (a.name == "rtcp") return parse_rtcp(a.value);
  return std::nullopt;
}

}  // namespace sbc::media
