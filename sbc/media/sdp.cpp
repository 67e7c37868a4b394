#include "sbc/media/sdp.hpp"

#include <algorithm>
#include <cstddef>

#include "sbc/media/sdp_lexical.hpp"

namespace sbc::media {

using namespace detail;  // NOLINT(google-build-using-namespace): sbc/media's own rules

namespace {

constexpr std::string_view kSessionOrder = "vosiuepcbtrzkam";
constexpr std::string_view kMediaOrder = "micbka";
// Lines a section may hold once (RFC 8866 5; z= is one line for all the time zone offsets).
constexpr std::string_view kSessionOnce = "vosiuczk";
constexpr std::string_view kMediaOnce = "ick";

SdpError error(std::string_view what, char type, unsigned line, std::size_t limit = 0) {
  return SdpError{what, type, line, limit};
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

}  // namespace sbc::media
