// The attributes of an SDP the relay reads (rtpmap, crypto, rtcp, candidate, the direction),
// each parsed from an a= line's value: the reader (sdp.cpp) checks them as it meets them, and
// the accessors here read them back.
#include <algorithm>
#include <array>

#include "sbc/media/sdp.hpp"
#include "sbc/media/sdp_lexical.hpp"

namespace sbc::media {

using namespace detail;  // NOLINT(google-build-using-namespace): sbc/media's own rules

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
