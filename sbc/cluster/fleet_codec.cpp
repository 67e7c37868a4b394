#include "sbc/cluster/fleet_codec.hpp"

#include <charconv>
#include <vector>

#include "sbc/common/hex.hpp"

namespace sbc::cluster {
namespace {

constexpr std::size_t kKeyDigits = 32;
constexpr std::size_t kMaxLabel = 32;

std::string key_hex(const sbc::SourceKey& key) {
  std::string out(kKeyDigits, '0');
  common::encode_hex(key.bytes.data(), key.bytes.size(), out.data());
  return out;
}

bool label(std::string_view text) {
  if (text.empty() || text.size() > kMaxLabel) return false;
  for (char c : text)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  return true;
}

template <class T>
bool number(std::string_view text, T& out) {
  if (text.empty() || text.size() > 20) return false;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size();
}

// `text` split at single spaces into exactly `n` non-empty words.
bool words(std::string_view text, std::size_t n, std::vector<std::string_view>& out) {
  out.clear();
  while (out.size() + 1 < n) {
    const auto space = text.find(' ');
    if (space == std::string_view::npos || space == 0) return false;
    out.push_back(text.substr(0, space));
    text.remove_prefix(space + 1);
  }
  if (text.empty() || text.find(' ') != std::string_view::npos) return false;
  out.push_back(text);
  return true;
}

}  // namespace

std::string ban_field(const sbc::SourceKey& key, bool all) {
  return key_hex(key).append(all ? "/all" : "/udp");
}

std::string ban_value(const FleetBan& ban) {
  std::string out = "1 ";
  out.append(std::to_string(ban.until_ms)).append(" ");
  out.append(std::to_string(ban.since_ms)).append(" ");
  out.append(std::to_string(ban.offences)).append(" ");
  out.append(ban.stage).append(" ").append(ban.reason).append(" ");
  out.append(std::to_string(ban.origin));
  return out;
}

std::optional<FleetBan> parse_ban(std::string_view field, std::string_view value) {
  FleetBan ban;
  if (field.size() != kKeyDigits + 4 || field[kKeyDigits] != '/') return std::nullopt;
  const std::string_view scope = field.substr(kKeyDigits + 1);
  if (scope != "all" && scope != "udp") return std::nullopt;
  ban.all = scope == "all";
  if (!common::decode_hex(field.substr(0, kKeyDigits), ban.key.bytes.data())) return std::nullopt;
  std::vector<std::string_view> w;
  if (!words(value, 7, w) || w[0] != "1") return std::nullopt;
  if (!number(w[1], ban.until_ms) || !number(w[2], ban.since_ms) || !number(w[3], ban.offences) ||
      !label(w[4]) || !label(w[5]) || !number(w[6], ban.origin) || ban.until_ms <= 0 ||
      ban.since_ms < 0)
    return std::nullopt;
  ban.stage = w[4];
  ban.reason = w[5];
  return ban;
}

std::string ban_message(const FleetBan& ban) {
  return std::string("ban ").append(ban_field(ban.key, ban.all)).append(" ").append(ban_value(ban));
}

std::string unban_message(std::string_view block, std::uint64_t origin) {
  return std::string("unban ").append(block).append(" ").append(std::to_string(origin));
}

std::optional<FleetMessage> parse_message(std::string_view text) {
  FleetMessage message;
  if (text.starts_with("ban ")) {
    text.remove_prefix(4);
    const auto space = text.find(' ');
    if (space == std::string_view::npos) return std::nullopt;
    auto ban = parse_ban(text.substr(0, space), text.substr(space + 1));
    if (!ban) return std::nullopt;
    message.ban = std::move(*ban);
    message.origin = message.ban.origin;
    return message;
  }
  if (text.starts_with("unban ")) {
    std::vector<std::string_view> w;
    if (!words(text.substr(6), 2, w)) return std::nullopt;
    const auto cidr = sbc::parse_cidr(w[0]);
    if (!cidr || !number(w[1], message.origin)) return std::nullopt;
    message.kind = FleetMessage::Kind::Unban;
    message.block = w[0];
    message.cidr = *cidr;
    return message;
  }
  return std::nullopt;
}

std::string strike_key(std::string_view prefix, std::string_view stage, const sbc::SourceKey& key,
                       bool all) {
  return std::string(prefix)
      .append("strikes:")
      .append(stage)
      .append(":")
      .append(ban_field(key, all));
}

std::string heavy_key(std::string_view prefix, std::string_view stage, unsigned bucket,
                      const sbc::SourceKey& key, bool all) {
  return std::string(prefix)
      .append("heavy:")
      .append(stage)
      .append(":")
      .append(std::to_string(bucket))
      .append(":")
      .append(ban_field(key, all));
}

std::optional<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return std::nullopt;
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos || text.find(':') != colon) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 ||
      value > 65535)
    return std::nullopt;
  return std::pair{std::string(host), static_cast<std::uint16_t>(value)};
}

}  // namespace sbc::cluster
