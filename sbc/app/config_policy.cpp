#include <yaml-cpp/yaml.h>

#include <algorithm>

#include "sbc/app/config_reader.hpp"
#include "sbc/crypto/digest.hpp"

// The `policy` section: the chain, the settings every stage shares, and each stage's options
// (its section has the stage's name; kStageOptions pairs each with its reader).

namespace sbc::app {
namespace {

void read_auth(const ConfigReader& r, const YAML::Node& a, policy::PolicyConfig& config) {
  policy::AuthSettings& auth = config.auth;
  r.reject_unknown_keys(
      a, "policy.auth",
      {"mode", "realm", "identity_domain", "credentials_file", "algorithms",
       "nonce_lifetime_seconds", "nonce_key", "bind_from", "domains", "ban_after_failures",
       "failure_window_seconds", "max_nonces", "max_sources", "user_rate", "user_burst"});
  if (const YAML::Node mode = a["mode"]) {
    const std::string m = mode.as<std::string>();
    if (m == "edge") {
      auth.mode = policy::AuthSettings::Mode::Edge;
    } else if (m == "core") {
      auth.mode = policy::AuthSettings::Mode::Core;
    } else {
      r.fail(mode, "policy.auth.mode", "must be edge or core");
    }
  }
  if (a["realm"]) auth.realm = a["realm"].as<std::string>();
  for (char c : auth.realm)
    if (c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20)
      r.fail(a["realm"], "policy.auth.realm", "must not contain quotes or control characters");
  if (auth.realm.empty()) r.fail(a["realm"], "policy.auth.realm", "must not be empty");
  if (a["identity_domain"]) auth.identity_domain = a["identity_domain"].as<std::string>();
  if (a["credentials_file"]) auth.credentials_file = a["credentials_file"].as<std::string>();
  if (const YAML::Node algorithms = a["algorithms"]) {
    auth.algorithms.clear();
    for (const std::string& name : r.read_strings(algorithms, "policy.auth.algorithms")) {
      const auto algorithm = sbc::crypto::digest_algorithm(name);
      if (!algorithm)
        r.fail(algorithms, "policy.auth.algorithms",
               "\"" + name + "\" is not a Digest algorithm (SHA-256, MD5)");
      if (std::find(auth.algorithms.begin(), auth.algorithms.end(), *algorithm) !=
          auth.algorithms.end())
        r.fail(algorithms, "policy.auth.algorithms", name + " twice");
      auth.algorithms.push_back(*algorithm);
    }
    if (auth.algorithms.empty())
      r.fail(algorithms, "policy.auth.algorithms", "must offer at least one algorithm");
  }
  auto lifetime = static_cast<std::uint32_t>(auth.nonce_lifetime.count());
  r.read_uint<std::uint32_t>(a, "policy.auth", "nonce_lifetime_seconds", lifetime, 10, 86400);
  auth.nonce_lifetime = std::chrono::seconds(lifetime);
  if (const YAML::Node key = a["nonce_key"]) {
    const auto parsed = sbc::crypto::NonceMint::parse_key(key.as<std::string>());
    if (!parsed) r.fail(key, "policy.auth.nonce_key", "must be 64 hex digits (256 bits)");
    auth.nonce_key = *parsed;
    auth.nonce_key_configured = true;
  }
  r.read_bool(a, "policy.auth", "bind_from", auth.bind_from);
  if (const YAML::Node domains = a["domains"]) {
    auth.domains = r.read_strings(domains, "policy.auth.domains");
    for (const std::string& d : auth.domains)
      if (d.empty() || d.find_first_of(" \t;:@<>\"") != std::string::npos)
        r.fail(domains, "policy.auth.domains", "\"" + d + "\" is not a host name");
  }
  r.read_uint<unsigned>(a, "policy.auth", "ban_after_failures", auth.ban_after_failures, 0,
                        1000000);
  auto window = static_cast<std::uint32_t>(auth.failure_window.count());
  r.read_uint<std::uint32_t>(a, "policy.auth", "failure_window_seconds", window, 1, 86400 * 7);
  auth.failure_window = std::chrono::seconds(window);
  r.read_uint<std::size_t>(a, "policy.auth", "max_nonces", auth.max_nonces, 64, 1u << 24);
  auto user_rate = static_cast<unsigned>(auth.user_rate);
  auto user_burst = static_cast<unsigned>(auth.user_burst);
  r.read_uint<unsigned>(a, "policy.auth", "user_rate", user_rate, 0, 1000000);
  r.read_uint<unsigned>(a, "policy.auth", "user_burst", user_burst, 0, 1000000);
  auth.user_rate = user_rate;
  auth.user_burst = user_burst;
  r.read_uint<std::size_t>(a, "policy.auth", "max_sources", auth.max_sources, 64, 1u << 24);
}

void read_acl(const ConfigReader& r, const YAML::Node& acl, policy::PolicyConfig& config) {
  r.reject_unknown_keys(acl, "policy.acl", {"allow", "deny", "trusted", "listeners"});
  config.acl.allow = r.read_cidrs(acl, "policy.acl.allow");
  config.acl.deny = r.read_cidrs(acl, "policy.acl.deny");
  config.acl.trusted = r.read_cidrs(acl, "policy.acl.trusted");
  if (const YAML::Node listeners = acl["listeners"]) {
    if (!listeners.IsSequence()) r.fail(listeners, "policy.acl.listeners", "must be a list");
    for (std::size_t i = 0; i < listeners.size(); ++i) {
      const YAML::Node l = listeners[i];
      const std::string path = "policy.acl.listeners[" + std::to_string(i) + "]";
      r.reject_unknown_keys(l, path, {"port", "allow", "deny"});
      if (!l["port"]) r.fail(l, path + ".port", "is required");
      policy::ListenerAcl entry;
      entry.port = r.get_uint<std::uint16_t>(l["port"], path + ".port", 1, 65535);
      entry.allow = r.read_cidrs(l, path + ".allow");
      entry.deny = r.read_cidrs(l, path + ".deny");
      config.acl.listeners.push_back(std::move(entry));
    }
  }
}

void read_scanner(const ConfigReader& r, const YAML::Node& scanner, policy::PolicyConfig& config) {
  r.reject_unknown_keys(scanner, "policy.scanner",
                        {"user_agents", "max_users_per_window", "min_answers", "max_refusal_share",
                         "max_odd_requests", "max_tag_length", "window_seconds", "max_sources"});
  r.read_uint<unsigned>(scanner, "policy.scanner", "max_users_per_window",
                        config.scanner.max_users_per_window, 0, 128);
  r.read_uint<unsigned>(scanner, "policy.scanner", "min_answers", config.scanner.min_answers, 0,
                        1000000);
  // At most half refusals is what an authenticating client gets (401, then 200): a share
  // that low would ban every phone.
  r.read_share(scanner, "policy.scanner", "max_refusal_share", config.scanner.max_refusal_share,
               0.5, 1.0);
  r.read_uint<unsigned>(scanner, "policy.scanner", "max_odd_requests",
                        config.scanner.max_odd_requests, 0, 1000000);
  r.read_uint<std::size_t>(scanner, "policy.scanner", "max_tag_length",
                           config.scanner.max_tag_length, 32, 4096);
  auto window = static_cast<std::uint32_t>(config.scanner.window.count());
  r.read_uint<std::uint32_t>(scanner, "policy.scanner", "window_seconds", window, 1, 3600);
  config.scanner.window = std::chrono::seconds(window);
  r.read_uint<std::size_t>(scanner, "policy.scanner", "max_sources", config.scanner.max_sources, 64,
                           1u << 24);
  if (scanner["user_agents"])
    config.scanner.user_agents =
        r.read_strings(scanner["user_agents"], "policy.scanner.user_agents");
}

void read_rate_limit(const ConfigReader& r, const YAML::Node& rl, policy::PolicyConfig& config) {
  r.reject_unknown_keys(rl, "policy.rate_limit",
                        {"register", "invite", "other", "ban_after", "max_sources",
                         "authenticated_factor", "global", "strike_batch"});
  r.read_uint<unsigned>(rl, "policy.rate_limit", "authenticated_factor",
                        config.rate_limit.authenticated_factor, 1, 1000);
  // {rate, burst} of `parent[key]`, each at most `max`.
  auto bucket = [&](const YAML::Node& parent, const std::string& prefix, const char* key,
                    policy::Bucket& b, unsigned max) {
    const YAML::Node n = parent[key];
    if (!n) return;
    const std::string path = prefix + key;
    r.reject_unknown_keys(n, path, {"rate", "burst"});
    unsigned rate = static_cast<unsigned>(b.rate), burst = static_cast<unsigned>(b.burst);
    r.read_uint<unsigned>(n, path, "rate", rate, 0, max);
    r.read_uint<unsigned>(n, path, "burst", burst, 1, max);
    b.rate = rate;
    b.burst = burst;
  };
  const std::string prefix = "policy.rate_limit.";
  bucket(rl, prefix, "register", config.rate_limit.register_requests, 1000000);
  bucket(rl, prefix, "invite", config.rate_limit.invites, 1000000);
  bucket(rl, prefix, "other", config.rate_limit.others, 1000000);
  if (const YAML::Node global = rl["global"]) {
    r.reject_unknown_keys(global, "policy.rate_limit.global", {"register", "invite", "other"});
    const std::string global_prefix = prefix + "global.";
    bucket(global, global_prefix, "register", config.rate_limit.global_register, 10000000);
    bucket(global, global_prefix, "invite", config.rate_limit.global_invite, 10000000);
    bucket(global, global_prefix, "other", config.rate_limit.global_other, 10000000);
  }
  r.read_uint<unsigned>(rl, "policy.rate_limit", "ban_after", config.rate_limit.ban_after, 0,
                        1000000);
  r.read_uint<unsigned>(rl, "policy.rate_limit", "strike_batch", config.rate_limit.strike_batch, 0,
                        1000000);
  r.read_uint<std::size_t>(rl, "policy.rate_limit", "max_sources", config.rate_limit.max_sources,
                           64, 1u << 24);
}

void read_sips(const ConfigReader& r, const YAML::Node& sips, policy::PolicyConfig& config) {
  r.reject_unknown_keys(sips, "policy.sips", {"require_tls", "domains", "client_certificate_from"});
  r.read_bool(sips, "policy.sips", "require_tls", config.sips.require_tls);
  if (sips["domains"]) config.sips.domains = r.read_strings(sips["domains"], "policy.sips.domains");
  config.sips.client_certificate_from = r.read_cidrs(sips, "policy.sips.client_certificate_from");
}

void read_methods(const ConfigReader& r, const YAML::Node& methods, policy::PolicyConfig& config) {
  r.reject_unknown_keys(methods, "policy.methods", {"allowed"});
  if (const YAML::Node allowed = methods["allowed"])
    config.methods.allowed = r.read_tokens(allowed, "policy.methods.allowed", "a method");
}

void read_amplification(const ConfigReader& r, const YAML::Node& amp,
                        policy::PolicyConfig& config) {
  r.reject_unknown_keys(
      amp, "policy.amplification",
      {"enabled", "excess_bytes_per_second", "excess_burst_bytes", "max_sources"});
  policy::AmplificationSettings& a = config.settings.amplification;
  r.read_bool(amp, "policy.amplification", "enabled", a.enabled);
  auto rate = static_cast<unsigned>(a.excess_bytes_per_second);
  auto burst = static_cast<unsigned>(a.excess_burst_bytes);
  r.read_uint<unsigned>(amp, "policy.amplification", "excess_bytes_per_second", rate, 0, 1u << 24);
  r.read_uint<unsigned>(amp, "policy.amplification", "excess_burst_bytes", burst, 0, 1u << 24);
  a.excess_bytes_per_second = rate;
  a.excess_burst_bytes = burst;
  r.read_uint<std::size_t>(amp, "policy.amplification", "max_sources", a.max_sources, 64, 1u << 24);
}

void read_bans(const ConfigReader& r, const YAML::Node& bans, policy::PolicyConfig& config) {
  r.reject_unknown_keys(bans, "policy.bans", {"base_seconds", "max_seconds", "max_entries"});
  auto base = static_cast<std::uint32_t>(config.settings.bans.base.count());
  auto max = static_cast<std::uint32_t>(config.settings.bans.max.count());
  r.read_uint<std::uint32_t>(bans, "policy.bans", "base_seconds", base, 1, 86400 * 30);
  r.read_uint<std::uint32_t>(bans, "policy.bans", "max_seconds", max, 1, 86400 * 365);
  if (max < base) r.fail(bans, "policy.bans.max_seconds", "must not be below base_seconds");
  config.settings.bans.base = std::chrono::seconds(base);
  config.settings.bans.max = std::chrono::seconds(max);
  r.read_uint<std::size_t>(bans, "policy.bans", "max_entries", config.settings.bans.max_entries, 64,
                           1u << 24);
}

// What the auth stage needs whether or not its section is there: a nonce key, and when it
// challenges at the edge, the credentials.
void finish_auth(const ConfigReader& r, const YAML::Node& p, policy::PolicyConfig& config) {
  policy::AuthSettings& auth = config.auth;
  const YAML::Node a = p["auth"];
  const bool in_chain =
      std::find(config.chain.begin(), config.chain.end(), "auth") != config.chain.end();
  if (!auth.nonce_key_configured) auth.nonce_key = sbc::crypto::NonceMint::random_key();
  if (!in_chain || auth.mode == policy::AuthSettings::Mode::Core) return;
  if (auth.credentials_file.empty())
    r.fail(a ? a : p, "policy.auth.credentials_file",
           "is required when policy.chain has the auth stage");
  try {
    auth.credentials = std::make_shared<const policy::Credentials>(
        policy::Credentials::load(auth.credentials_file, auth.realm));
  } catch (const std::runtime_error& e) {
    r.fail(a["credentials_file"], "policy.auth.credentials_file", e.what());
  }
}

using SectionReader = void (*)(const ConfigReader&, const YAML::Node&, policy::PolicyConfig&);
struct StageOptions {
  std::string_view stage;  // a name in policy::stage_factories()
  SectionReader read;
};
constexpr StageOptions kStageOptions[] = {
    {"acl", read_acl},   {"scanner", read_scanner}, {"rate_limit", read_rate_limit},
    {"sips", read_sips}, {"methods", read_methods}, {"auth", read_auth},
};
// The sections of `policy` that belong to no one stage.
constexpr StageOptions kSharedOptions[] = {
    {"amplification", read_amplification},
    {"bans", read_bans},
};

void read_chain(const ConfigReader& r, const YAML::Node& chain, policy::PolicyConfig& config) {
  config.chain = r.read_strings(chain, "policy.chain");
  for (std::size_t i = 0; i < config.chain.size(); ++i) {
    if (!policy::find_stage(config.chain[i])) {
      std::string known;
      for (const auto& stage : policy::stage_factories())
        known += (known.empty() ? "" : ", ") + std::string(stage.name);
      r.fail(chain[i], "policy.chain", "unknown stage \"" + config.chain[i] + "\" (" + known + ")");
    }
    for (std::size_t k = 0; k < i; ++k)
      if (config.chain[k] == config.chain[i])
        r.fail(chain[i], "policy.chain", "stage \"" + config.chain[i] + "\" twice");
  }
}

}  // namespace

std::vector<std::string_view> policy_stage_sections() {
  std::vector<std::string_view> names;
  for (const StageOptions& s : kStageOptions) names.push_back(s.stage);
  return names;
}

void read_policy(const ConfigReader& r, const YAML::Node& p, policy::PolicyConfig& config) {
  // `calls` is the relay's (read_calls).
  std::vector<std::string_view> known{"enabled", "chain", "ipv6_prefix", "calls"};
  for (const StageOptions& s : kSharedOptions) known.push_back(s.stage);
  for (const StageOptions& s : kStageOptions) known.push_back(s.stage);
  r.reject_unknown_keys(p, "policy", known);
  r.read_bool(p, "policy", "enabled", config.enabled);
  if (const YAML::Node chain = p["chain"]) read_chain(r, chain, config);
  r.read_uint<unsigned>(p, "policy", "ipv6_prefix", config.settings.ipv6_prefix, 16, 128);
  for (const StageOptions& s : kSharedOptions)
    if (const YAML::Node section = p[std::string(s.stage)]) s.read(r, section, config);
  for (const StageOptions& s : kStageOptions)
    if (const YAML::Node section = p[std::string(s.stage)]) s.read(r, section, config);
  finish_auth(r, p, config);
}

}  // namespace sbc::app
