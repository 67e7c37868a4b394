#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <tuple>

#include "sbc/app/config_reader.hpp"
#include "sbc/cluster/fleet_codec.hpp"
#include "sbc/crypto/token_sealer.hpp"
#include "sbc/proxy/core_set.hpp"
#include "sbc/sip/uri.hpp"

// The sections of the configuration other than `policy` (config_policy.cpp), one reader each.

namespace sbc::app {

namespace {

// A listener's TLS settings (certificates, client authentication) at `path`.
void read_listener_tls(const ConfigReader& r, const YAML::Node& tls, const std::string& path,
                       tls::TlsSettings& out) {
  r.reject_unknown_keys(tls, path, {"certificates", "client_ca", "require_client_certificate"});
  if (const YAML::Node certs = tls["certificates"]) {
    if (!certs.IsSequence()) r.fail(certs, path + ".certificates", "must be a list");
    for (std::size_t k = 0; k < certs.size(); ++k) {
      out.certificates.push_back(
          r.read_certificate_files(certs[k], path + ".certificates[" + std::to_string(k) + "]"));
    }
  }
  if (tls["client_ca"]) out.client_ca = tls["client_ca"].as<std::string>();
  if (r.read_bool(tls, path, "require_client_certificate", out.require_client_certificate) &&
      out.require_client_certificate && out.client_ca.empty())
    r.fail(tls["require_client_certificate"], path + ".require_client_certificate",
           "needs client_ca");
}

// listeners[].advertise: IP, IP:PORT or [IPv6]:PORT (a NodePort, a load balancer's port).
void read_advertise(const ConfigReader& r, const YAML::Node& node, const std::string& path,
                    Listener& listener) {
  const std::string text = node.as<std::string>();
  const auto [ip, port] = split_server_address(text);
  if (!is_ip_address(ip))
    r.fail(node, path + ".advertise",
           "must be IP, IP:PORT or [IPv6]:PORT with an address literal (got \"" + text + "\")");
  listener.advertise = ip;
  if (port.empty()) return;
  const auto number = port_number(port);
  if (!number)
    r.fail(node, path + ".advertise", "port must be between 1 and 65535 (got \"" + port + "\")");
  listener.advertise_port = *number;
}

Listener read_listener(const ConfigReader& r, const YAML::Node& l, const std::string& path) {
  r.reject_unknown_keys(l, path, {"transport", "address", "port", "advertise", "tls"});
  Listener listener;
  if (!l["transport"]) r.fail(l, path + ".transport", "is required");
  const std::string transport = l["transport"].as<std::string>();
  if (transport == "udp") {
    listener.transport = Transport::Udp;
  } else if (transport == "tcp") {
    listener.transport = Transport::Tcp;
  } else if (transport == "tls") {
    listener.transport = Transport::Tls;
  } else {
    r.fail(l["transport"], path + ".transport",
           "must be udp, tcp or tls (got \"" + transport + "\")");
  }
  listener.address = l["address"] ? r.read_ip_address(l["address"], path + ".address") : "::";
  if (const YAML::Node advertise = l["advertise"]) read_advertise(r, advertise, path, listener);
  listener.port = listener.transport == Transport::Tls ? 5061 : 5060;
  if (l["port"]) listener.port = r.get_uint<std::uint16_t>(l["port"], path + ".port", 1, 65535);
  if (const YAML::Node tls = l["tls"]) {
    if (listener.transport != Transport::Tls)
      r.fail(tls, path + ".tls", "only a tls listener takes TLS settings");
    read_listener_tls(r, tls, path + ".tls", listener.tls);
  }
  return listener;
}

}  // namespace

void read_listeners(const ConfigReader& r, const YAML::Node& listeners, Config& config) {
  if (!listeners.IsSequence()) r.fail(listeners, "listeners", "must be a list");
  std::set<std::tuple<std::string, std::uint16_t, bool>> seen;
  for (std::size_t i = 0; i < listeners.size(); ++i) {
    const std::string path = "listeners[" + std::to_string(i) + "]";
    Listener listener = read_listener(r, listeners[i], path);
    const bool datagram = listener.transport == Transport::Udp;
    if (!seen.emplace(listener.address, listener.port, datagram).second) {
      r.fail(listeners[i], path,
             "another listener already uses " + listener.address + " port " +
                 std::to_string(listener.port) + (datagram ? "/udp" : "/tcp"));
    }
    config.listeners.push_back(std::move(listener));
  }
}

void read_metrics(const ConfigReader& r, const YAML::Node& m, Config& config) {
  r.reject_unknown_keys(m, "metrics", {"enabled", "address", "port"});
  r.read_bool(m, "metrics", "enabled", config.metrics.enabled);
  if (m["address"]) config.metrics.address = r.read_ip_address(m["address"], "metrics.address");
  if (m["port"])
    config.metrics.port = r.get_uint<std::uint16_t>(m["port"], "metrics.port", 1, 65535);
}

void read_log(const ConfigReader& r, const YAML::Node& log, Config& config) {
  r.reject_unknown_keys(log, "log", {"level", "rejections_per_second"});
  if (log["level"]) {
    const std::string level = log["level"].as<std::string>();
    const auto parsed = logging::parse_log_level(level);
    if (!parsed)
      r.fail(log["level"], "log.level",
             "must be debug, info, warn or error (got \"" + level + "\")");
    config.log_level = *parsed;
  }
  if (log["rejections_per_second"])
    config.log_rejections_per_second = r.get_uint<std::uint32_t>(
        log["rejections_per_second"], "log.rejections_per_second", 0, 10000);
}

void read_transport(const ConfigReader& r, const YAML::Node& t, Config& config) {
  r.reject_unknown_keys(
      t, "transport",
      {"first_byte_timeout_ms", "message_timeout_ms", "idle_timeout_ms", "tls_handshake_timeout_ms",
       "max_connections", "max_connections_per_source", "max_queued_bytes", "max_udp_flows",
       "shutdown_grace_ms", "certificate_poll_ms", "write_timeout_ms",
       "max_connections_per_ipv6_48", "max_connections_per_ipv4_24",
       "reserved_connections_percent"});
  auto& l = config.stream_limits;
  auto ms = [&](const char* key, std::chrono::milliseconds& target, std::uint32_t low,
                std::uint32_t high) { r.read_ms(t, "transport", key, target, low, high); };
  ms("first_byte_timeout_ms", l.first_byte_timeout, 100, 600000);
  ms("message_timeout_ms", l.message_timeout, 100, 600000);
  ms("idle_timeout_ms", l.idle_timeout, 1000, 86400000);
  ms("tls_handshake_timeout_ms", l.handshake_timeout, 100, 600000);
  ms("write_timeout_ms", l.write_timeout, 100, 600000);
  ms("shutdown_grace_ms", config.shutdown_grace, 0, 600000);
  ms("certificate_poll_ms", config.certificate_poll, 0, 3600000);
  r.read_uint<std::size_t>(t, "transport", "max_connections", l.max_connections, 1, 1000000);
  r.read_uint<std::size_t>(t, "transport", "max_connections_per_source",
                           l.max_connections_per_source, 1, 1000000);
  // A network's cap follows the source's unless set: four sources' worth.
  l.max_connections_per_ipv6_48 = l.max_connections_per_ipv4_24 = 4 * l.max_connections_per_source;
  r.read_uint<std::size_t>(t, "transport", "max_connections_per_ipv6_48",
                           l.max_connections_per_ipv6_48, 0, 4000000);
  r.read_uint<std::size_t>(t, "transport", "max_connections_per_ipv4_24",
                           l.max_connections_per_ipv4_24, 0, 4000000);
  r.read_uint<unsigned>(t, "transport", "reserved_connections_percent",
                        l.reserved_connections_percent, 0, 90);
  r.read_uint<std::size_t>(t, "transport", "max_udp_flows", l.max_udp_flows, 16, 1000000);
  r.read_uint<std::size_t>(t, "transport", "max_queued_bytes", l.max_queued_bytes, 4096,
                           std::size_t{1} << 30);
}

void read_sip(const ConfigReader& r, const YAML::Node& sip, Config& config) {
  r.reject_unknown_keys(sip, "sip", {"limits", "proxy_require_supported"});
  if (const YAML::Node limits = sip["limits"]) {
    r.reject_unknown_keys(
        limits, "sip.limits",
        {"max_message_bytes", "max_headers", "max_vias", "max_line_bytes", "max_body_bytes"});
    auto& l = config.limits;
    const std::string prefix = "sip.limits";
    r.read_uint<std::uint32_t>(limits, prefix, "max_message_bytes", l.max_message_bytes, 512,
                               1u << 20);
    r.read_uint<std::uint32_t>(limits, prefix, "max_headers", l.max_headers, 8,
                               static_cast<std::uint32_t>(sip::kHeaderCapacity));
    r.read_uint<std::uint32_t>(limits, prefix, "max_vias", l.max_vias, 1, 255);
    r.read_uint<std::uint32_t>(limits, prefix, "max_line_bytes", l.max_line_bytes, 128, 1u << 20);
    r.read_uint<std::uint32_t>(limits, prefix, "max_body_bytes", l.max_body_bytes, 0, 1u << 20);
    if (l.max_line_bytes > l.max_message_bytes)
      r.fail(limits, "sip.limits.max_line_bytes", "must not exceed max_message_bytes");
  }
  if (const YAML::Node tags = sip["proxy_require_supported"])
    config.proxy_require_supported =
        r.read_tokens(tags, "sip.proxy_require_supported", "an option tag");
}

void read_core(const ConfigReader& r, const YAML::Node& core, Config& config) {
  r.reject_unknown_keys(core, "core",
                        {"targets", "local_address", "local_port", "probe", "probe_interval_ms",
                         "failover_timeout_ms", "connect_timeout_ms", "strict_source_port", "tls"});
  auto ms = [&](const char* key, std::chrono::milliseconds& target, std::uint32_t low,
                std::uint32_t high) { r.read_ms(core, "core", key, target, low, high); };
  ms("probe_interval_ms", config.relay.probe_interval, 0, 3600000);
  ms("failover_timeout_ms", config.relay.failover_timeout, 100, 600000);
  ms("connect_timeout_ms", config.stream_limits.inside_connect_timeout, 100, 600000);
  if (const YAML::Node tls = core["tls"]) {
    r.reject_unknown_keys(tls, "core.tls", {"verify", "ca_file", "server_name", "certificate"});
    tls::TlsClientSettings& t = config.core.tls;
    r.read_bool(tls, "core.tls", "verify", t.verify);
    if (tls["ca_file"]) t.ca_file = tls["ca_file"].as<std::string>();
    if (tls["server_name"]) t.server_name = tls["server_name"].as<std::string>();
    if (const YAML::Node cert = tls["certificate"])
      t.certificate = r.read_certificate_files(cert, "core.tls.certificate");
  }
  if (config.relay.probe_interval.count() != 0 && config.relay.probe_interval.count() < 100)
    r.fail(core["probe_interval_ms"], "core.probe_interval_ms",
           "must be 0 (no probes) or at least 100");
  using Health = proxy::RelaySettings::CoreHealth;
  // Without `probe`, an interval of 0 means passive health (as before `probe` existed).
  if (config.relay.probe_interval.count() == 0) config.relay.core_health = Health::Passive;
  if (const YAML::Node probe = core["probe"]) {
    const std::string mode = probe.as<std::string>();
    if (mode == "options") {
      config.relay.core_health = Health::Options;
      if (config.relay.probe_interval.count() == 0)
        r.fail(probe, "core.probe", "options needs core.probe_interval_ms above 0");
    } else if (mode == "passive") {
      config.relay.core_health = Health::Passive;
    } else if (mode == "off") {
      config.relay.core_health = Health::Off;
    } else {
      r.fail(probe, "core.probe", "must be options, passive or off (got \"" + mode + "\")");
    }
  }
  if (const YAML::Node targets = core["targets"]) {
    if (!targets.IsSequence()) r.fail(targets, "core.targets", "must be a list");
    if (targets.size() > proxy::CoreSet::kMaxCores)
      r.fail(targets, "core.targets", "at most 64 cores");
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const std::string path = "core.targets[" + std::to_string(i) + "]";
      const YAML::Node t = targets[i];
      r.reject_unknown_keys(t, path, {"uri", "priority", "weight"});
      if (!t["uri"]) r.fail(t, path + ".uri", "is required");
      proxy::CoreTarget target;
      try {
        target = parse_core_uri(t["uri"].as<std::string>(), "");
      } catch (const ConfigError& e) {
        r.fail(t["uri"], path + ".uri", e.what());
      }
      r.read_uint<unsigned>(t, path, "priority", target.priority, 0, 65535);
      r.read_uint<unsigned>(t, path, "weight", target.weight, 0, 65535);
      config.core.targets.push_back(target);
    }
  }
  if (core["local_address"]) {
    config.core.local_address = core["local_address"].as<std::string>();
    if (!config.core.local_address.empty() && !is_ip_address(config.core.local_address))
      r.fail(core["local_address"], "core.local_address",
             "must be an IPv4 or IPv6 address literal (got \"" + config.core.local_address + "\")");
  }
  r.read_uint<std::uint16_t>(core, "core", "local_port", config.core.local_port, 0, 65535);
  r.read_bool(core, "core", "strict_source_port", config.core.strict_source_port);
}

std::optional<std::uint16_t> port_number(const std::string& text) {
  if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const unsigned long value = std::stoul(text);
  if (value < 1 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::pair<std::string, std::string> split_server_address(const std::string& text) {
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos) return {};
    if (close + 1 == text.size()) return {text.substr(1, close - 1), ""};
    if (text[close + 1] != ':') return {};
    return {text.substr(1, close - 1), text.substr(close + 2)};
  }
  if (std::count(text.begin(), text.end(), ':') == 1)
    return {text.substr(0, text.find(':')), text.substr(text.find(':') + 1)};
  return {text, ""};
}

// dns: the resolver of core targets named by DNS name (sbc/dns).
void read_dns(const ConfigReader& r, const YAML::Node& dns, Config& config) {
  r.reject_unknown_keys(dns, "dns",
                        {"servers", "min_ttl_seconds", "max_ttl_seconds", "timeout_ms"});
  if (const YAML::Node servers = dns["servers"]) {
    config.dns.servers = r.read_strings(servers, "dns.servers");
    for (std::size_t i = 0; i < config.dns.servers.size(); ++i) {
      const std::string& text = config.dns.servers[i];
      // IP, IP:PORT or [IPv6]:PORT, as c-ares takes them.
      const auto [ip, port] = split_server_address(text);
      if (!is_ip_address(ip) || (!port.empty() && !port_number(port)))
        r.fail(servers[i], "dns.servers[" + std::to_string(i) + "]",
               "must be IP, IP:PORT or [IPv6]:PORT (got \"" + text + "\")");
    }
  }
  r.read_seconds(dns, "dns", "min_ttl_seconds", config.dns.min_ttl, 1, 86400);
  r.read_seconds(dns, "dns", "max_ttl_seconds", config.dns.max_ttl, 1, 86400);
  r.read_ms(dns, "dns", "timeout_ms", config.dns.timeout, 100, 60000);
  if (config.dns.min_ttl > config.dns.max_ttl)
    r.fail(dns, "dns.min_ttl_seconds", "must not be above dns.max_ttl_seconds");
}

namespace {

// Keys sealing the tokens in our URIs: "ID:32 hex digits", the first seals, all open.
void read_token_keys(const ConfigReader& r, const YAML::Node& relay,
                     proxy::RelaySettings& settings) {
  auto add_key = [&](const std::string& text, const YAML::Node& node, const std::string& key) {
    const auto parsed = sbc::crypto::TokenSealer::parse_key(text);
    if (!parsed) r.fail(node, key, "a token key is \"ID:HEX\" with ID 0-255 and 32 hex digits");
    for (const auto& k : settings.token_keys)
      if (k.id == parsed->id)
        r.fail(node, key, "token key id " + std::to_string(parsed->id) + " appears twice");
    settings.token_keys.push_back(*parsed);
  };
  if (const YAML::Node keys = relay["token_keys"]) {
    if (!keys.IsSequence()) r.fail(keys, "relay.token_keys", "must be a list");
    for (const auto& k : keys) add_key(k.as<std::string>(), k, "relay.token_keys");
  }
  if (const YAML::Node file = relay["token_key_file"]) {
    const std::string path = file.as<std::string>();
    std::ifstream in(path);
    if (!in) r.fail(file, "relay.token_key_file", "cannot read " + path);
    std::string line;
    while (std::getline(in, line)) {
      while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
      if (line.empty() || line[0] == '#') continue;
      add_key(line, file, "relay.token_key_file");
    }
  }
}

}  // namespace

void read_relay(const ConfigReader& r, const YAML::Node& relay, Config& config) {
  r.reject_unknown_keys(
      relay, "relay",
      {"topology_hiding", "dialog_protection", "mask_call_id", "sips_end_to_end",
       "untrusted_headers", "max_transactions", "max_transaction_bytes", "max_forwards", "timers",
       "token_keys", "token_key_file", "dialog_token_lifetime_seconds", "max_dialogs",
       "session_timeout_seconds"});
  proxy::RelaySettings& settings = config.relay;
  r.read_bool(relay, "relay", "dialog_protection", settings.dialog_protection);
  r.read_bool(relay, "relay", "topology_hiding", settings.topology_hiding);
  r.read_bool(relay, "relay", "mask_call_id", settings.mask_call_id);
  r.read_bool(relay, "relay", "sips_end_to_end", settings.sips_end_to_end);
  if (const YAML::Node names = relay["untrusted_headers"])
    settings.untrusted_headers = r.read_tokens(names, "relay.untrusted_headers", "a header name");
  r.read_uint<unsigned>(relay, "relay", "max_forwards", settings.max_forwards, 1, 255);
  r.read_seconds(relay, "relay", "dialog_token_lifetime_seconds", settings.dialog_token_lifetime,
                 60, 30u * 86400u);
  r.read_uint<std::uint32_t>(relay, "relay", "max_transactions", settings.max_transactions, 16,
                             1u << 22);
  r.read_uint<std::size_t>(relay, "relay", "max_transaction_bytes", settings.max_transaction_bytes,
                           std::size_t{1} << 20, std::size_t{1} << 40);
  r.read_uint<std::uint32_t>(relay, "relay", "max_dialogs", settings.max_dialogs, 16, 1u << 22);
  r.read_seconds(relay, "relay", "session_timeout_seconds", settings.session_timeout, 60,
                 7u * 86400u);
  read_token_keys(r, relay, settings);
  if (const YAML::Node timers = relay["timers"]) {
    r.reject_unknown_keys(timers, "relay.timers",
                          {"t1_ms", "t2_ms", "t4_ms", "timer_c_ms", "linger_ms"});
    auto ms = [&](const char* key, std::chrono::milliseconds& target, std::uint32_t low,
                  std::uint32_t high) {
      r.read_ms(timers, "relay.timers", key, target, low, high);
    };
    ms("t1_ms", settings.t1, 10, 60000);
    ms("t2_ms", settings.t2, 10, 600000);
    ms("t4_ms", settings.t4, 10, 600000);
    ms("timer_c_ms", settings.timer_c, 1000, 3600000);
    ms("linger_ms", settings.linger, 0, 600000);
    if (settings.t2 < settings.t1) r.fail(timers, "relay.timers.t2_ms", "must not be below t1_ms");
  }
}

void read_calls(const ConfigReader& r, const YAML::Node& calls, proxy::CallLimitSettings& limits) {
  r.reject_unknown_keys(calls, "policy.calls",
                        {"max_per_user", "max_per_source", "max_total", "source_prefix_v4",
                         "source_prefix_v6", "reject_status"});
  r.read_uint<std::uint32_t>(calls, "policy.calls", "max_per_user", limits.max_per_user, 0, 65535);
  r.read_uint<std::uint32_t>(calls, "policy.calls", "max_per_source", limits.max_per_source, 0,
                             65535);
  r.read_uint<std::uint32_t>(calls, "policy.calls", "max_total", limits.max_total, 0, 100000000);
  r.read_uint<std::uint8_t>(calls, "policy.calls", "source_prefix_v4", limits.source_prefix_v4, 8,
                            32);
  r.read_uint<std::uint8_t>(calls, "policy.calls", "source_prefix_v6", limits.source_prefix_v6, 16,
                            128);
  r.read_uint<std::uint16_t>(calls, "policy.calls", "reject_status", limits.reject_status, 403,
                             503);
  if (limits.reject_status != 403 && limits.reject_status != 486 && limits.reject_status != 503)
    r.fail(calls["reject_status"], "policy.calls.reject_status", "must be 403, 486 or 503");
}

void read_capture(const ConfigReader& r, const YAML::Node& c, Config& config) {
  capture::CaptureSettings& out = config.capture;
  r.reject_unknown_keys(c, "capture",
                        {"enabled", "directory", "what", "listeners", "max_file_bytes", "max_files",
                         "queue_messages", "redact_credentials"});
  r.read_bool(c, "capture", "enabled", out.enabled);
  r.read_bool(c, "capture", "redact_credentials", out.redact_credentials);
  if (c["directory"]) {
    out.directory = c["directory"].as<std::string>();
    if (out.directory.empty()) r.fail(c["directory"], "capture.directory", "must not be empty");
  }
  if (const YAML::Node what = c["what"]) {
    const std::string text = what.as<std::string>();
    if (text == "rejected")
      out.what = capture::CaptureSettings::What::Rejected;
    else if (text == "all")
      out.what = capture::CaptureSettings::What::All;
    else
      r.fail(what, "capture.what", "must be rejected or all (got \"" + text + "\")");
  }
  if (const YAML::Node ports = c["listeners"]) {
    if (!ports.IsSequence()) r.fail(ports, "capture.listeners", "must be a list of listener ports");
    for (const auto& p : ports)
      out.ports.push_back(r.get_uint<std::uint16_t>(p, "capture.listeners", 1, 65535));
    if (!out.ports.empty() && out.what != capture::CaptureSettings::What::All)
      r.fail(ports, "capture.listeners",
             "only applies with what: all (rejected messages are captured on every listener)");
  }
  r.read_uint<std::uint64_t>(c, "capture", "max_file_bytes", out.max_file_bytes, 4096,
                             std::uint64_t{1} << 40);
  r.read_uint<unsigned>(c, "capture", "max_files", out.max_files, 1, 100000);
  r.read_uint<unsigned>(c, "capture", "queue_messages", out.queue_messages, 16, 1u << 20);
  for (std::size_t i = 0; i < config.capture.ports.size(); ++i) {
    const std::uint16_t port = config.capture.ports[i];
    if (std::none_of(config.listeners.begin(), config.listeners.end(),
                     [port](const Listener& l) { return l.port == port; }))
      r.fail(c["listeners"][i], "capture.listeners",
             "port " + std::to_string(port) + " is not the port of a configured listener");
  }
}

namespace {

// The first line of the secret file `path` named at `node` (`key` in errors), trailing spaces
// cut: admin.http.token_file, cluster.redis.password_file. Errors name the file, never its
// content.
std::string first_line_of(const ConfigReader& r, const YAML::Node& node, const std::string& key,
                          const std::string& path) {
  std::ifstream in(path);
  if (!in) r.fail(node, key, "cannot read " + path);
  std::string line;
  std::getline(in, line);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

// admin.http: no token, no HTTP admin. The token is the file's first line (16 characters at
// least); the error names the file, never its content.
void read_admin_http(const ConfigReader& r, const YAML::Node& h, AdminSettings::Http& http) {
  r.reject_unknown_keys(h, "admin.http", {"address", "port", "token_file"});
  if (!h["address"]) r.fail(h, "admin.http", "needs an address (an IP address to listen on)");
  http.address = r.read_ip_address(h["address"], "admin.http.address");
  if (!h["port"]) r.fail(h, "admin.http", "needs a port");
  http.port = r.get_uint<std::uint16_t>(h["port"], "admin.http.port", 1, 65535);
  const YAML::Node file = h["token_file"];
  if (!file || file.as<std::string>().empty())
    r.fail(h, "admin.http", "needs a token_file (no token, no HTTP admin)");
  http.token_file = file.as<std::string>();
  http.token = first_line_of(r, file, "admin.http.token_file", http.token_file);
  if (http.token.size() < 16 || http.token.find_first_of(" \t") != std::string::npos)
    r.fail(file, "admin.http.token_file",
           "its first line must be the token: 16 characters at least, no space (" +
               http.token_file + ")");
}

}  // namespace

// admin: the socket of `sbc ctl` (admin_server.hpp), and HTTP with a bearer token.
void read_admin(const ConfigReader& r, const YAML::Node& a, Config& config) {
  r.reject_unknown_keys(a, "admin", {"socket", "mode", "http"});
  if (const YAML::Node http = a["http"]) read_admin_http(r, http, config.admin.http);
  if (a["socket"]) {
    config.admin.socket = a["socket"].as<std::string>();
    if (!config.admin.socket.empty() && config.admin.socket.front() != '/')
      r.fail(a["socket"], "admin.socket", "must be an absolute path, or \"\" for no admin socket");
    if (config.admin.socket.size() > 100)
      r.fail(a["socket"], "admin.socket", "must be at most 100 characters (a Unix socket path)");
  }
  if (const YAML::Node mode = a["mode"]) {
    const std::string text = mode.as<std::string>();
    // Octal, as chmod takes it; nobody but the owner and its group may ever write to it.
    if (text.empty() || text.size() > 4 || text.find_first_not_of("01234567") != std::string::npos)
      r.fail(mode, "admin.mode", "must be an octal mode such as \"0600\" (got \"" + text + "\")");
    config.admin.mode = static_cast<unsigned>(std::stoul(text, nullptr, 8));
    if ((config.admin.mode & 0007) != 0)
      r.fail(mode, "admin.mode", "must give others no access (0600 or 0660)");
  }
}

// cluster: {redis: {address, password_file, database, key_prefix, timeout_ms, max_queued}}.
// The password is the file's first line; the error names the file, never its content.
void read_cluster(const ConfigReader& r, const YAML::Node& c, Config& config) {
  r.reject_unknown_keys(c, "cluster", {"redis"});
  const YAML::Node redis = c["redis"];
  if (!redis) return;
  r.reject_unknown_keys(redis, "cluster.redis",
                        {"address", "username", "password_file", "database", "key_prefix",
                         "timeout_ms", "max_queued"});
  cluster::FleetSettings& s = config.cluster;
  const YAML::Node address = redis["address"];
  if (!address)
    r.fail(redis, "cluster.redis", "needs an address (IP:PORT or NAME:PORT of the Redis server)");
  const std::string text = address.as<std::string>();
  const auto host_port = cluster::split_host_port(text);
  // A name is resolved at start and followed (dns.servers, or the system's resolver).
  if (!host_port || (!sbc::parse_address(host_port->first) &&
                     (!sip::is_hostname(host_port->first) || host_port->first.size() > 253)))
    r.fail(address, "cluster.redis.address",
           "must be IP:PORT or NAME:PORT (\"10.0.0.5:6379\", \"[2001:db8::5]:6379\", "
           "\"redis.sbc.svc:6379\"), got \"" +
               text + "\"");
  s.host = host_port->first;
  s.port = host_port->second;
  r.read_uint(redis, "cluster.redis", "database", s.database, 0U, 15U);
  r.read_ms(redis, "cluster.redis", "timeout_ms", s.timeout, 10, 60000);
  r.read_uint(redis, "cluster.redis", "max_queued", s.max_queued, std::size_t{16},
              std::size_t{1} << 20);
  if (const YAML::Node prefix = redis["key_prefix"]) {
    s.key_prefix = prefix.as<std::string>();
    const bool printable = std::all_of(s.key_prefix.begin(), s.key_prefix.end(),
                                       [](char ch) { return ch > ' ' && ch < 0x7f; });
    if (s.key_prefix.empty() || s.key_prefix.size() > 64 || !printable)
      r.fail(prefix, "cluster.redis.key_prefix",
             "must be 1 to 64 printable characters without spaces (\"sbc:\")");
  }
  if (const YAML::Node file = redis["password_file"]) {
    const std::string path = file.as<std::string>();
    s.password = first_line_of(r, file, "cluster.redis.password_file", path);
    if (s.password.empty())
      r.fail(file, "cluster.redis.password_file",
             "its first line must be the password (" + path + ")");
  }
  if (const YAML::Node user = redis["username"]) {
    s.username = user.as<std::string>();
    const bool printable = std::all_of(s.username.begin(), s.username.end(),
                                       [](char ch) { return ch > ' ' && ch < 0x7f; });
    if (s.username.empty() || s.username.size() > 64 || !printable)
      r.fail(user, "cluster.redis.username", "must be 1 to 64 printable characters without spaces");
    if (s.password.empty())
      r.fail(user, "cluster.redis.username", "needs password_file (AUTH username password)");
  }
}

}  // namespace sbc::app
