#include "sbc/app/config_reader.hpp"

#include <arpa/inet.h>

#include <sstream>

#include "sbc/sip/chars.hpp"

namespace sbc::app {

void ConfigReader::fail(const YAML::Node& node, const std::string& key,
                        const std::string& message) const {
  std::ostringstream out;
  out << source_;
  if (node.IsDefined() && node.Mark().line >= 0) out << ':' << node.Mark().line + 1;
  out << ": " << key << ": " << message;
  throw ConfigError(out.str());
}

void ConfigReader::reject_unknown_keys(const YAML::Node& map, const std::string& path,
                                       const std::vector<std::string_view>& known) const {
  if (!map.IsMap()) fail(map, path.empty() ? "(top level)" : path, "must be a mapping");
  if (keys_ != nullptr) log_keys(path, known);
  for (const auto& item : map) {
    const std::string name = item.first.as<std::string>();
    bool ok = false;
    for (std::string_view k : known) ok = ok || k == name;
    if (ok) continue;
    std::string key = path;
    if (!key.empty()) key += '.';
    key += name;
    fail(item.first, key, "unknown key");
  }
}

void ConfigReader::log_keys(const std::string& path,
                            const std::vector<std::string_view>& known) const {
  // "listeners[2].tls" -> "listeners[].tls": the schema describes every item alike.
  std::string general;
  for (std::size_t i = 0; i < path.size(); ++i) {
    general += path[i];
    if (path[i] == '[') i = path.find(']', i) - 1;
  }
  keys_->mappings.emplace_back(std::move(general),
                               std::vector<std::string>(known.begin(), known.end()));
}

std::uint64_t ConfigReader::whole_number(const YAML::Node& node, const std::string& key,
                                         std::uint64_t low, std::uint64_t high) const {
  std::uint64_t value = 0;
  try {
    const std::string text = node.as<std::string>();
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
      throw YAML::Exception(node.Mark(), "not a number");
    value = std::stoull(text);
  } catch (const std::exception&) {
    fail(node, key, "must be a whole number");
  }
  if (value < low || value > high) {
    fail(node, key,
         "must be between " + std::to_string(low) + " and " + std::to_string(high) + " (got " +
             std::to_string(value) + ")");
  }
  return value;
}

void ConfigReader::read_share(const YAML::Node& map, const std::string& prefix, const char* key,
                              double& target, double low, double high) const {
  const YAML::Node node = map[key];
  if (!node) return;
  const std::string path = prefix + "." + key;
  double value = 0;
  try {
    const std::string text = node.as<std::string>();
    if (text.empty() || text.find_first_not_of("0123456789.") != std::string::npos)
      throw YAML::Exception(node.Mark(), "not a number");
    std::size_t used = 0;
    value = std::stod(text, &used);
    if (used != text.size()) throw YAML::Exception(node.Mark(), "not a number");
  } catch (const std::exception&) {
    fail(node, path, "must be a decimal number such as 0.9");
  }
  if (!(value > low && value <= high)) {
    std::ostringstream range;
    range << "must be above " << low << " and at most " << high << " (got " << value << ")";
    fail(node, path, range.str());
  }
  target = value;
}

void ConfigReader::read_ms(const YAML::Node& map, const std::string& prefix, const char* key,
                           std::chrono::milliseconds& target, std::uint32_t low,
                           std::uint32_t high) const {
  auto value = static_cast<std::uint32_t>(target.count());
  read_uint(map, prefix, key, value, low, high);
  target = std::chrono::milliseconds(value);
}

void ConfigReader::read_seconds(const YAML::Node& map, const std::string& prefix, const char* key,
                                std::chrono::seconds& target, std::uint32_t low,
                                std::uint32_t high) const {
  auto value = static_cast<std::uint32_t>(target.count());
  read_uint(map, prefix, key, value, low, high);
  target = std::chrono::seconds(value);
}

bool ConfigReader::read_bool(const YAML::Node& map, const std::string& prefix, const char* key,
                             bool& target) const {
  const YAML::Node node = map[key];
  if (!node) return false;
  try {
    target = node.as<bool>();
  } catch (const YAML::Exception&) {
    fail(node, prefix + "." + key, "must be true or false");
  }
  return true;
}

std::vector<sbc::Cidr> ConfigReader::read_cidrs(const YAML::Node& map,
                                                const std::string& key) const {
  std::vector<sbc::Cidr> out;
  const YAML::Node list = map[key.substr(key.rfind('.') + 1)];
  if (!list) return out;
  if (!list.IsSequence()) fail(list, key, "must be a list");
  for (const auto& item : list) {
    const std::string text = item.as<std::string>();
    const auto cidr = sbc::parse_cidr(text);
    if (!cidr)
      fail(item, key, "\"" + text + "\" is not an address or block (192.0.2.0/24, 2001:db8::/32)");
    out.push_back(*cidr);
  }
  return out;
}

std::vector<std::string> ConfigReader::read_strings(const YAML::Node& list,
                                                    const std::string& key) const {
  std::vector<std::string> out;
  if (!list.IsSequence()) fail(list, key, "must be a list");
  for (const auto& item : list) out.push_back(item.as<std::string>());
  return out;
}

std::vector<std::string> ConfigReader::read_tokens(const YAML::Node& list, const std::string& key,
                                                   const std::string& what) const {
  std::vector<std::string> out;
  if (!list.IsSequence()) fail(list, key, "must be a list");
  for (const auto& item : list) {
    std::string text = item.as<std::string>();
    if (!sip::chars::is_token(text)) {
      std::string problem = "\"" + text;
      problem += "\" is not ";
      problem += what;
      fail(item, key, problem);
    }
    out.push_back(std::move(text));
  }
  return out;
}

tls::CertificateFiles ConfigReader::read_certificate_files(const YAML::Node& node,
                                                           const std::string& path) const {
  reject_unknown_keys(node, path, {"chain", "key"});
  if (!node["chain"]) fail(node, path + ".chain", "is required");
  if (!node["key"]) fail(node, path + ".key", "is required");
  return {node["chain"].as<std::string>(), node["key"].as<std::string>()};
}

std::string ConfigReader::read_ip_address(const YAML::Node& node, const std::string& key) const {
  std::string text = node.as<std::string>();
  if (!is_ip_address(text))
    fail(node, key, "must be an IPv4 or IPv6 address literal (got \"" + text + "\")");
  return text;
}

bool is_ip_address(const std::string& text) {
  unsigned char buf[16];
  return inet_pton(AF_INET, text.c_str(), buf) == 1 || inet_pton(AF_INET6, text.c_str(), buf) == 1;
}

}  // namespace sbc::app
