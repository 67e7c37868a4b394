#pragma once
// The SBC's configuration: YAML in, an immutable validated Config out. Errors name the key and
// the line, and start-up stops on the first one (control plane: exceptions are fine here).

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/policy_config.hpp"
#include "sbc/app/ng_media_port.hpp"
#include "sbc/capture/capture_settings.hpp"
#include "sbc/cluster/fleet_settings.hpp"
#include "sbc/common/flow.hpp"
#include "sbc/common/log.hpp"
#include "sbc/dns/resolver.hpp"
#include "sbc/proxy/relay_settings.hpp"
#include "sbc/sip/message.hpp"
#include "sbc/transport/limits.hpp"
#include "tls/tls_settings.hpp"

namespace sbc::app {

// A listener's transport: the protocol of the flows it accepts.
using Transport = sbc::Protocol;
constexpr std::string_view to_string(Transport t) noexcept {
  return sbc::transport_name(t);
}

struct Listener {
  Transport transport = Transport::Udp;
  std::string address;
  std::uint16_t port = 0;
  // The address our Via and Record-Route show for this listener; empty: `address`, or for a
  // wildcard address the address of the inside socket. The port they show: advertise_port, or
  // `port` when 0 (listeners[].advertise is IP, IP:PORT or [IPv6]:PORT).
  std::string advertise;
  std::uint16_t advertise_port = 0;
  tls::TlsSettings tls;  // TLS listeners only
};

// The inside: where the core is, and the socket we reach it from.
struct CoreSettings {
  // Empty: no relay, requests get 503. A target with a `name` (and no ip) is resolved by DNS.
  std::vector<proxy::CoreTarget> targets;
  std::string local_address;     // empty: the address the host uses toward the core
  std::uint16_t local_port = 0;  // 0: any; else worker N binds local_port + N
  // The inside UDP socket takes datagrams only from a UDP core's ip:port (true), or from any
  // port of a core's address (false: cores that send from another port than they listen on).
  bool strict_source_port = true;
  tls::TlsClientSettings tls;  // for targets with transport=tls
};

struct MetricsEndpoint {
  bool enabled = true;
  std::string address = "127.0.0.1";
  std::uint16_t port = 9460;
};

// The admin API (admin_server.hpp): a Unix socket for `sbc ctl`; empty socket = none.
struct AdminSettings {
  std::string socket = "/run/sbc/admin.sock";
  unsigned mode = 0600;  // who may connect: the socket file's permissions
  // admin.http: the same API over HTTP with a bearer token (admin_http.hpp); absent: none.
  struct Http {
    std::string address;  // empty: no HTTP admin
    std::uint16_t port = 0;
    std::string token_file;
    std::string token;  // its first line, read at load; never logged
  } http;
};

struct Config {
  unsigned workers = 0;  // 0: one per core
  MetricsEndpoint metrics;
  // log.level: lines below it are not written.
  logging::LogLevel log_level = logging::LogLevel::Info;
  // log.rejections_per_second, per worker; 0: rejected messages are not logged.
  std::uint32_t log_rejections_per_second = 10;
  std::vector<Listener> listeners;
  transport::StreamLimits stream_limits;
  std::chrono::milliseconds shutdown_grace{2000};
  std::chrono::milliseconds certificate_poll{5000};
  sip::Limits limits;
  std::vector<std::string> proxy_require_supported;
  CoreSettings core;
  dns::Settings dns;  // for core targets named by DNS name
  // Timers, topology hiding, trust boundary and table bound (cores and addresses are filled in
  // at start from `core` and the listeners).
  proxy::RelaySettings relay;
  policy::PolicyConfig policy;
  capture::CaptureSettings capture;
  // media: anchoring through rtpengine (ng_media_port.hpp); media.on_failure is in relay.
  MediaConfig media;
  AdminSettings admin;
  // cluster.redis: the store the replicas share bans through (fleet_store.hpp); absent:
  // standalone.
  cluster::FleetSettings cluster;
  // What only a restart applies (listeners, workers ...), each part as the canonical text of its
  // YAML (${NAME} expanded, keys sorted): a reload compares them with the running ones and
  // reports the parts it left as they were.
  std::vector<std::pair<std::string, std::string>> restart_only;
  // The YAML text it was read from, as written (`sbc ctl config` shows it, secrets redacted).
  std::string text;
};

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The configuration built into the binary.
std::string_view default_config_text() noexcept;
// The JSON Schema of the configuration file (config_schema.json, `sbc config-schema`). A unit
// test holds the readers to it: the same keys in every mapping, the same bounds.
std::string_view config_schema_text() noexcept;

// The mappings a parse checked, each with the keys its reader knows: how the tests compare the
// readers with the schema. A path names list items "[]" ("core.targets[]"); "" is the top level.
struct ConfigKeyLog {
  std::vector<std::pair<std::string, std::vector<std::string>>> mappings;
};

// `source` names the text in error messages (a file name, or "<default>"); `keys`, when given,
// records every mapping the readers checked.
Config parse_config(std::string_view yaml_text, std::string_view source,
                    ConfigKeyLog* keys = nullptr);
Config load_config_file(const std::string& path);
// "sip:IP[:PORT][;transport=udp]" (also the `--core` option). Throws ConfigError naming `key`.
proxy::CoreTarget parse_core_uri(const std::string& text, const std::string& key);

}  // namespace sbc::app
