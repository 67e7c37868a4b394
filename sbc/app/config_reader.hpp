#pragma once
// Reading one YAML document into the configuration: the checks every section shares (unknown
// keys, numbers within bounds, booleans, lists), each failure a ConfigError that names the file,
// the line and the full key. Internal to sbc/app: yaml-cpp stays in this folder.

#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/policy_config.hpp"
#include "sbc/app/config.hpp"
#include "sbc/common/address.hpp"
#include "tls/tls_settings.hpp"

namespace sbc::app {

class ConfigReader {
 public:
  // `source` names the text in error messages (a file name, or "<default>").
  explicit ConfigReader(std::string_view source, ConfigKeyLog* keys = nullptr)
      : source_(source), keys_(keys) {}

  [[noreturn]] void fail(const YAML::Node& node, const std::string& key,
                         const std::string& message) const;
  // Fails unless `map` is a mapping whose keys are all `known`; `path` names it ("" = top level).
  void reject_unknown_keys(const YAML::Node& map, const std::string& path,
                           std::initializer_list<std::string_view> known) const {
    reject_unknown_keys(map, path, std::vector<std::string_view>(known));
  }
  void reject_unknown_keys(const YAML::Node& map, const std::string& path,
                           const std::vector<std::string_view>& known) const;

  // A whole number within [low, high]; the error names `key`.
  template <class T>
  T get_uint(const YAML::Node& node, const std::string& key, T low, T high) const {
    return static_cast<T>(whole_number(node, key, low, high));
  }
  // Reads `map[key]` into `target` when the key is present; the error names `prefix.key`.
  template <class T>
  void read_uint(const YAML::Node& map, const std::string& prefix, const char* key, T& target,
                 T low, T high) const {
    if (const YAML::Node node = map[key]) target = get_uint<T>(node, prefix + "." + key, low, high);
  }
  // Reads `map[key]` (a decimal fraction such as 0.9) when present; `low` excluded, `high` in.
  void read_share(const YAML::Node& map, const std::string& prefix, const char* key, double& target,
                  double low, double high) const;
  // Reads `map[key]` (whole milliseconds) into a duration when the key is present.
  void read_ms(const YAML::Node& map, const std::string& prefix, const char* key,
               std::chrono::milliseconds& target, std::uint32_t low, std::uint32_t high) const;
  // Reads `map[key]` (whole seconds) into a duration when the key is present.
  void read_seconds(const YAML::Node& map, const std::string& prefix, const char* key,
                    std::chrono::seconds& target, std::uint32_t low, std::uint32_t high) const;
  // Reads `map[key]` when present; true when it was.
  bool read_bool(const YAML::Node& map, const std::string& prefix, const char* key,
                 bool& target) const;
  // The list of addresses or blocks at `map[last part of key]`, empty when absent.
  std::vector<sbc::Cidr> read_cidrs(const YAML::Node& map, const std::string& key) const;
  std::vector<std::string> read_strings(const YAML::Node& list, const std::string& key) const;
  // A list of SIP tokens (method names, option tags, header names); `what` names one in errors.
  std::vector<std::string> read_tokens(const YAML::Node& list, const std::string& key,
                                       const std::string& what) const;
  // A certificate and its key, `{chain, key}` (PEM files), at `path`.
  tls::CertificateFiles read_certificate_files(const YAML::Node& node,
                                               const std::string& path) const;
  // An IP address literal at `node` (the error names `key`).
  std::string read_ip_address(const YAML::Node& node, const std::string& key) const;

 private:
  void log_keys(const std::string& path, const std::vector<std::string_view>& known) const;
  std::uint64_t whole_number(const YAML::Node& node, const std::string& key, std::uint64_t low,
                             std::uint64_t high) const;

  std::string_view source_;
  ConfigKeyLog* keys_;
};

bool is_ip_address(const std::string& text);
// A dns.servers entry, IP, IP:PORT or [IPv6]:PORT, split into its IP and port ("" = none); the
// IP is empty when the entry has none of these shapes.
std::pair<std::string, std::string> split_server_address(const std::string& text);
// The port of such an entry: 1-65535 in decimal digits, else none.
std::optional<std::uint16_t> port_number(const std::string& text);

// Replaces ${NAME} in every value of the document by the environment variable NAME (config_
// environment.cpp); an unset variable fails naming it and the key.
void expand_environment(const ConfigReader& r, YAML::Node& root);

// The sections of the document, each read into its part of `config` (config_sections.cpp,
// config_policy.cpp). Sections that refer to others (capture to listeners) run after them.
void read_listeners(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_metrics(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_log(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_transport(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_sip(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_core(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_relay(const ConfigReader& r, const YAML::Node& node, Config& config);
// policy.calls: read into the relay's settings (the relay counts the calls).
void read_calls(const ConfigReader& r, const YAML::Node& node, proxy::CallLimitSettings& limits);
void read_dns(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_capture(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_admin(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_cluster(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_media(const ConfigReader& r, const YAML::Node& node, Config& config);
void read_policy(const ConfigReader& r, const YAML::Node& node, policy::PolicyConfig& config);
// The stages whose options `policy` reads (each a section named after its stage).
std::vector<std::string_view> policy_stage_sections();

}  // namespace sbc::app
