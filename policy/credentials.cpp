#include "policy/credentials.hpp"

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "sbc/common/hex.hpp"

namespace sbc::policy {
namespace {

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

}  // namespace

Credentials Credentials::parse(std::string_view text, std::string_view realm) {
  Credentials out;
  std::size_t number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    const std::string_view raw = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    ++number;
    const std::string_view line = trim(raw);
    if (line.empty() || line.front() == '#') continue;
    const auto fail = [number](const std::string& why) {
      throw std::invalid_argument("credentials line " + std::to_string(number) + ": " + why);
    };
    // The user and realm cannot hold ':' here; the HA1 is last and is hex.
    const std::size_t a = line.find(':');
    const std::size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
    const std::size_t c = b == std::string_view::npos ? b : line.find(':', b + 1);
    if (c == std::string_view::npos) fail("expected user:realm:algorithm:HA1");
    const std::string_view user = line.substr(0, a);
    const std::string_view entry_realm = line.substr(a + 1, b - a - 1);
    const auto algorithm = sbc::crypto::digest_algorithm(line.substr(b + 1, c - b - 1));
    const std::string_view ha1 = line.substr(c + 1);
    if (user.empty()) fail("empty user");
    if (!algorithm) fail("algorithm must be MD5 or SHA-256");
    if (ha1.size() != sbc::crypto::digest_hex_size(*algorithm) ||
        !common::is_hex(ha1, common::HexCase::Lower))
      fail("HA1 must be " + std::to_string(sbc::crypto::digest_hex_size(*algorithm)) +
           " lowercase hex digits for " +
           std::string(sbc::crypto::digest_algorithm_name(*algorithm)));
    if (entry_realm != realm) continue;
    std::string& slot = out.users_[std::string(user)].ha1[static_cast<std::size_t>(*algorithm)];
    if (!slot.empty())
      fail("user '" + std::string(user) + "' has a second " +
           std::string(sbc::crypto::digest_algorithm_name(*algorithm)) + " entry");
    slot.assign(ha1);
  }
  return out;
}

Credentials Credentials::load(const std::string& path, std::string_view realm) {
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read the credentials file " + path);
  std::ostringstream text;
  text << in.rdbuf();
  try {
    return parse(text.str(), realm);
  } catch (const std::invalid_argument& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::optional<std::string_view> Credentials::ha1(
    std::string_view user, sbc::crypto::DigestAlgorithm algorithm) const noexcept {
  const auto it = users_.find(user);
  if (it == users_.end()) return std::nullopt;
  const std::string& value = it->second.ha1[static_cast<std::size_t>(algorithm)];
  if (value.empty()) return std::nullopt;
  return std::string_view(value);
}

std::string Credentials::line(std::string_view user, std::string_view realm,
                              sbc::crypto::DigestAlgorithm algorithm, std::string_view password) {
  std::array<char, 64> hex{};
  const std::string_view parts[] = {user, realm, password};
  return std::string(user) + ":" + std::string(realm) + ":" +
         std::string(sbc::crypto::digest_algorithm_name(algorithm)) + ":" +
         std::string(sbc::crypto::digest_hex(algorithm, parts, hex));
}

}  // namespace sbc::policy
