#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "policy/credentials.hpp"
#include "sbc/app/config.hpp"
#include "sbc/app/config_reader.hpp"

using namespace sbc::app;

namespace {
std::string error_of(const std::string& yaml) {
  try {
    parse_config(yaml, "test.yaml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("the embedded default configuration is valid and listens on 5060/5061", "[config]") {
  const Config c = parse_config(default_config_text(), "<default>");
  REQUIRE(c.listeners.size() == 3);
  CHECK(c.listeners[0].transport == Transport::Udp);
  CHECK(c.listeners[0].port == 5060);
  CHECK(c.listeners[1].transport == Transport::Tcp);
  CHECK(c.listeners[2].transport == Transport::Tls);
  CHECK(c.listeners[2].port == 5061);
  CHECK(c.listeners[0].address == "::");
  CHECK(c.workers == 0);
  CHECK(c.limits.max_headers == sbc::sip::Limits{}.max_headers);
  CHECK(c.metrics.enabled);
  CHECK(c.metrics.address == "127.0.0.1");
  CHECK(c.metrics.port == 9460);
  CHECK(
      error_of("metrics: {address: localhost}\n") ==
      "test.yaml:1: metrics.address: must be an IPv4 or IPv6 address literal (got \"localhost\")");
}

TEST_CASE("configuration values are read", "[config]") {
  const Config c = parse_config(R"(
workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: 15060}
sip:
  limits: {max_headers: 64, max_vias: 10}
  proxy_require_supported: [path]
)",
                                "x");
  CHECK(c.workers == 2);
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].port == 15060);
  CHECK(c.limits.max_headers == 64);
  CHECK(c.limits.max_vias == 10);
  CHECK(c.proxy_require_supported == std::vector<std::string>{"path"});
  CHECK(parse_config("", "empty").listeners.empty());
}

TEST_CASE("configuration errors name the file, line and key", "[config]") {
  CHECK(error_of("workers: 2\nlisteners:\n  - transport: sctp\n") ==
        "test.yaml:3: listeners[0].transport: must be udp, tcp or tls (got \"sctp\")");
  CHECK(error_of("listeners:\n  - transport: udp\n    port: 70000\n") ==
        "test.yaml:3: listeners[0].port: must be between 1 and 65535 (got 70000)");
  CHECK(error_of("listeners:\n  - transport: udp\n    address: example.com\n") ==
        "test.yaml:3: listeners[0].address: must be an IPv4 or IPv6 address literal (got "
        "\"example.com\")");
  CHECK(error_of("sip:\n  limits:\n    max_headers: 1000\n") ==
        "test.yaml:3: sip.limits.max_headers: must be between 8 and 256 (got 1000)");
  CHECK(error_of("sip:\n  limit: {}\n") == "test.yaml:2: sip.limit: unknown key");
  CHECK(error_of("wokers: 2\n") == "test.yaml:1: wokers: unknown key");
  CHECK(error_of("workers: two\n") == "test.yaml:1: workers: must be a whole number");
  CHECK(error_of("listeners:\n  - {transport: udp}\n  - {transport: udp}\n") ==
        "test.yaml:3: listeners[1]: another listener already uses :: port 5060/udp");
  CHECK(error_of("workers: [\n").rfind("test.yaml:", 0) == 0);
}

TEST_CASE("transport and TLS settings are read and checked", "[config]") {
  const Config c = parse_config(R"(
listeners:
  - transport: tls
    port: 5061
    tls:
      certificates:
        - {chain: /etc/sbc/a.pem, key: /etc/sbc/a.key}
        - {chain: /etc/sbc/b.pem, key: /etc/sbc/b.key}
      client_ca: /etc/sbc/ca.pem
      require_client_certificate: true
transport:
  first_byte_timeout_ms: 1500
  idle_timeout_ms: 60000
  max_connections: 500
  max_connections_per_source: 5
  max_udp_flows: 1024
  shutdown_grace_ms: 0
  write_timeout_ms: 2500
  max_connections_per_ipv6_48: 50
  max_connections_per_ipv4_24: 0
  reserved_connections_percent: 20
)",
                                "x");
  REQUIRE(c.listeners.size() == 1);
  const auto& tls = c.listeners[0].tls;
  REQUIRE(tls.certificates.size() == 2);
  CHECK(tls.certificates[1].certificate_chain == "/etc/sbc/b.pem");
  CHECK(tls.certificates[1].private_key == "/etc/sbc/b.key");
  CHECK(tls.client_ca == "/etc/sbc/ca.pem");
  CHECK(tls.require_client_certificate);
  CHECK(c.stream_limits.first_byte_timeout == std::chrono::milliseconds(1500));
  CHECK(c.stream_limits.idle_timeout == std::chrono::milliseconds(60000));
  CHECK(c.stream_limits.max_connections == 500);
  CHECK(c.stream_limits.max_connections_per_source == 5);
  CHECK(c.stream_limits.max_udp_flows == 1024);
  CHECK(c.stream_limits.write_timeout == std::chrono::milliseconds(2500));
  CHECK(c.stream_limits.max_connections_per_ipv6_48 == 50);
  CHECK(c.stream_limits.max_connections_per_ipv4_24 == 0);
  CHECK(c.stream_limits.reserved_connections_percent == 20);
  const auto derived = parse_config("transport: {max_connections_per_source: 300}\n", "x");
  CHECK(derived.stream_limits.max_connections_per_ipv6_48 == 1200);
  CHECK(derived.stream_limits.max_connections_per_ipv4_24 == 1200);
  CHECK(error_of("transport:\n  reserved_connections_percent: 95\n")
            .find("transport.reserved_connections_percent") != std::string::npos);
  CHECK(c.shutdown_grace == std::chrono::milliseconds(0));

  CHECK(error_of("listeners:\n  - transport: udp\n    tls: {}\n") ==
        "test.yaml:3: listeners[0].tls: only a tls listener takes TLS settings");
  CHECK(error_of(
            "listeners:\n  - transport: tls\n    tls:\n      require_client_certificate: true\n") ==
        "test.yaml:4: listeners[0].tls.require_client_certificate: needs client_ca");
  CHECK(error_of("listeners:\n  - transport: tls\n    tls:\n      certificates:\n        - {chain: "
                 "a.pem}\n") == "test.yaml:5: listeners[0].tls.certificates[0].key: is required");
  CHECK(error_of("transport:\n  idle_timeout_ms: 5\n") ==
        "test.yaml:2: transport.idle_timeout_ms: must be between 1000 and 86400000 (got 5)");
}

TEST_CASE("the core and relay sections are read and checked", "[config][relay]") {
  const Config c = parse_config(R"(
listeners:
  - {transport: udp, address: "::", port: 5060, advertise: 198.51.100.1}
core:
  targets:
    - {uri: "sip:10.0.0.10:5070", priority: 1, weight: 3}
    - {uri: "sip:[2001:db8::10]"}
  local_address: 10.0.0.1
  local_port: 15060
  probe_interval_ms: 0
  failover_timeout_ms: 750
  strict_source_port: false
relay:
  topology_hiding: false
  mask_call_id: true
  untrusted_headers: [P-Asserted-Identity, X-Internal]
  max_transactions: 1000
  max_transaction_bytes: 4194304
  timers: {t1_ms: 100, t2_ms: 400, timer_c_ms: 60000}
)",
                                "test.yaml");
  REQUIRE(c.core.targets.size() == 2);
  CHECK(c.core.targets[0].ip == "10.0.0.10");
  CHECK(c.core.targets[0].port == 5070);
  CHECK(c.core.targets[0].weight == 3);
  CHECK(c.core.targets[1].ip == "2001:db8::10");
  CHECK(c.core.targets[1].port == 5060);
  CHECK(c.core.local_address == "10.0.0.1");
  CHECK(c.core.local_port == 15060);
  CHECK(c.relay.probe_interval.count() == 0);
  CHECK_FALSE(c.core.strict_source_port);
  CHECK(parse_config("core: {targets: [{uri: \"sip:10.0.0.1\"}]}\n", "x").core.strict_source_port);
  CHECK(c.relay.failover_timeout.count() == 750);
  CHECK_FALSE(c.relay.topology_hiding);
  CHECK(c.relay.mask_call_id);
  CHECK(c.relay.untrusted_headers == std::vector<std::string>{"P-Asserted-Identity", "X-Internal"});
  CHECK(c.relay.max_transactions == 1000);
  CHECK(c.relay.max_transaction_bytes == 4u << 20);
  CHECK(c.relay.t1.count() == 100);
  CHECK(c.relay.t2.count() == 400);
  CHECK(c.relay.timer_c.count() == 60000);
  CHECK(c.listeners[0].advertise == "198.51.100.1");

  const Config defaults = parse_config(default_config_text(), "<default>");
  CHECK(defaults.core.targets.empty());
  CHECK(defaults.relay.topology_hiding);
  CHECK_FALSE(defaults.relay.mask_call_id);
  CHECK(defaults.relay.probe_interval.count() == 5000);
  CHECK(defaults.relay.max_transaction_bytes == 64u << 20);
  CHECK(error_of("relay: {max_transaction_bytes: 1000}\n") ==
        "test.yaml:1: relay.max_transaction_bytes: must be between 1048576 and 1099511627776 (got "
        "1000)");

  // A DNS name (RFC 3263): SRV first without a port, the name's addresses with one.
  const Config named = parse_config(
      "core: {targets: [{uri: \"sip:Core.Example.com.\"}, {uri: \"sip:core2.example.com:5070;"
      "transport=tcp\", priority: 2}]}\n",
      "test.yaml");
  REQUIRE(named.core.targets.size() == 2);
  CHECK(named.core.targets[0].name == "core.example.com");
  CHECK(named.core.targets[0].ip.empty());
  CHECK(named.core.targets[0].port == 0);
  CHECK(named.core.targets[1].name == "core2.example.com");
  CHECK(named.core.targets[1].port == 5070);
  CHECK(named.core.targets[1].protocol == sbc::Protocol::Tcp);
  CHECK(named.core.targets[1].priority == 2);
  CHECK(error_of("core: {targets: [{uri: \"sip:alice@core.example.com\"}]}\n") ==
        "test.yaml:1: core.targets[0].uri: \"sip:alice@core.example.com\" must not have a user "
        "part");
  CHECK(error_of("core: {targets: [{uri: \"sip:10.0.0.1;transport=sctp\"}]}\n") ==
        "test.yaml:1: core.targets[0].uri: \"sip:10.0.0.1;transport=sctp\" names transport "
        "\"sctp\": toward the core the SBC speaks udp, tcp or tls");
  const Config streams = parse_config(
      "core:\n  targets: [{uri: \"sip:10.0.0.1;transport=tcp\"}, {uri: \"sip:10.0.0.2:5071;"
      "transport=TLS\"}, {uri: \"sip:10.0.0.3\"}]\n  connect_timeout_ms: 700\n"
      "  tls: {verify: false, ca_file: /etc/core-ca.pem, server_name: core.internal,\n"
      "        certificate: {chain: /etc/sbc.pem, key: /etc/sbc.key}}\n",
      "test.yaml");
  REQUIRE(streams.core.targets.size() == 3);
  CHECK(streams.core.targets[0].protocol == sbc::Protocol::Tcp);
  CHECK(streams.core.targets[0].port == 5060);
  CHECK(streams.core.targets[1].protocol == sbc::Protocol::Tls);
  CHECK(streams.core.targets[1].port == 5071);
  CHECK(streams.core.targets[2].protocol == sbc::Protocol::Udp);
  CHECK(streams.stream_limits.inside_connect_timeout.count() == 700);
  CHECK_FALSE(streams.core.tls.verify);
  CHECK(streams.core.tls.ca_file == "/etc/core-ca.pem");
  CHECK(streams.core.tls.server_name == "core.internal");
  CHECK(streams.core.tls.certificate.private_key == "/etc/sbc.key");
  CHECK(defaults.core.tls.verify);
  CHECK(defaults.relay.sips_end_to_end);
  CHECK_FALSE(parse_config("relay: {sips_end_to_end: false}\n", "test.yaml").relay.sips_end_to_end);
  CHECK(error_of("core: {tls: {certificate: {chain: /a.pem}}}\n") ==
        "test.yaml:1: core.tls.certificate.key: is required");
  CHECK(error_of("core: {tls: {verify: maybe}}\n") ==
        "test.yaml:1: core.tls.verify: must be true or false");
  CHECK(error_of("core: {targets: [{uri: \"http://10.0.0.1\"}]}\n").find("is not a sip: URI") !=
        std::string::npos);
  CHECK(error_of("core: {probe_interval_ms: 50}\n") ==
        "test.yaml:1: core.probe_interval_ms: must be 0 (no probes) or at least 100");
  CHECK(error_of("relay: {timers: {t1_ms: 1000, t2_ms: 500}}\n") ==
        "test.yaml:1: relay.timers.t2_ms: must not be below t1_ms");
  CHECK(error_of("relay: {untrusted_headers: [\"Bad Header\"]}\n") ==
        "test.yaml:1: relay.untrusted_headers: \"Bad Header\" is not a header name");
  const Config keyed = parse_config(
      "relay: {token_keys: [\"2:000102030405060708090a0b0c0d0e0f\", "
      "\"1:ffeeddccbbaa99887766554433221100\"]}\n",
      "test.yaml");
  REQUIRE(keyed.relay.token_keys.size() == 2);
  CHECK(keyed.relay.token_keys[0].id == 2);
  CHECK(keyed.relay.token_keys[1].bytes[0] == 0xff);
  CHECK(error_of("relay: {token_keys: [\"1:abc\"]}\n") ==
        "test.yaml:1: relay.token_keys: a token key is \"ID:HEX\" with ID 0-255 and 32 hex digits");
  CHECK(error_of("relay: {token_keys: [\"1:000102030405060708090a0b0c0d0e0f\", "
                 "\"1:000102030405060708090a0b0c0d0e0f\"]}\n") ==
        "test.yaml:1: relay.token_keys: token key id 1 appears twice");
  CHECK(error_of("relay: {token_key_file: /nonexistent/keys}\n") ==
        "test.yaml:1: relay.token_key_file: cannot read /nonexistent/keys");
  CHECK(error_of("core: {targets: [{uri: \"sip:10.0.0.1\", color: red}]}\n") ==
        "test.yaml:1: core.targets[0].color: unknown key");
}

TEST_CASE("the policy section is read and checked", "[config][policy]") {
  const Config defaults = parse_config(default_config_text(), "<default>");
  CHECK(defaults.policy.enabled);
  CHECK(defaults.policy.chain ==
        std::vector<std::string>{"acl", "scanner", "rate_limit", "sips", "methods"});
  CHECK(defaults.policy.rate_limit.register_requests.rate == 2);
  CHECK(defaults.policy.scanner.user_agents.front() == "friendly-scanner");

  const Config c = parse_config(R"(
policy:
  chain: [scanner, acl]
  ipv6_prefix: 56
  bans: {base_seconds: 30, max_seconds: 3600}
  acl: {deny: [203.0.113.0/24, "2001:db8::/32"], trusted: [10.0.0.1]}
  rate_limit: {invite: {rate: 0, burst: 1}, ban_after: 0}
  methods: {allowed: [INVITE, BYE]}
)",
                                "test.yaml");
  CHECK(c.policy.chain == std::vector<std::string>{"scanner", "acl"});
  CHECK(c.policy.settings.ipv6_prefix == 56);
  CHECK(c.policy.settings.bans.base.count() == 30);
  CHECK(c.policy.acl.deny.size() == 2);
  CHECK(c.policy.acl.trusted.size() == 1);
  CHECK(c.policy.rate_limit.invites.rate == 0);
  CHECK(c.policy.rate_limit.ban_after == 0);
  CHECK(c.policy.methods.allowed == std::vector<std::string>{"INVITE", "BYE"});

  CHECK(error_of("policy: {chain: [acl, firewall]}\n") ==
        "test.yaml:1: policy.chain: unknown stage \"firewall\" (acl, scanner, rate_limit, sips, "
        "methods, auth)");
  CHECK(error_of("policy: {chain: [acl, acl]}\n") ==
        "test.yaml:1: policy.chain: stage \"acl\" twice");
  CHECK(error_of("policy: {acl: {deny: [10.0.0.0/40]}}\n") ==
        "test.yaml:1: policy.acl.deny: \"10.0.0.0/40\" is not an address or block (192.0.2.0/24, "
        "2001:db8::/32)");
  CHECK(error_of("policy: {bans: {base_seconds: 100, max_seconds: 10}}\n") ==
        "test.yaml:1: policy.bans.max_seconds: must not be below base_seconds");
  const Config amp = parse_config(
      "policy: {amplification: {excess_bytes_per_second: 100, excess_burst_bytes: 2000}}\n",
      "test.yaml");
  CHECK(amp.policy.settings.amplification.excess_bytes_per_second == 100);
  CHECK(amp.policy.settings.amplification.excess_burst_bytes == 2000);
  CHECK(defaults.policy.settings.amplification.enabled);
  const Config more = parse_config(
      "policy:\n  acl: {listeners: [{port: 5080, allow: [203.0.113.0/24]}]}\n"
      "  rate_limit: {global: {invite: {rate: 500, burst: 1000}}}\n"
      "  auth: {user_rate: 5, user_burst: 20}\n",
      "test.yaml");
  REQUIRE(more.policy.acl.listeners.size() == 1);
  CHECK(more.policy.acl.listeners[0].port == 5080);
  CHECK(more.policy.rate_limit.global_invite.rate == 500);
  CHECK(more.policy.auth.user_burst == 20);
  CHECK(error_of("policy: {acl: {listeners: [{allow: [10.0.0.0/8]}]}}\n") ==
        "test.yaml:1: policy.acl.listeners[0].port: is required");
  CHECK(error_of("policy: {rate_limit: {global: {bye: {rate: 1}}}}\n") ==
        "test.yaml:1: policy.rate_limit.global.bye: unknown key");
  CHECK(error_of("policy: {amplification: {factor: 3}}\n") ==
        "test.yaml:1: policy.amplification.factor: unknown key");
  CHECK(error_of("policy: {enabled: maybe}\n") ==
        "test.yaml:1: policy.enabled: must be true or false");
  CHECK(error_of("policy: {methods: {allowed: [\"IN VITE\"]}}\n") ==
        "test.yaml:1: policy.methods.allowed: \"IN VITE\" is not a method");
}

TEST_CASE("the scanner's behaviour scores and the rate limit's strikes are read and checked",
          "[config][policy]") {
  const Config defaults = parse_config(default_config_text(), "<default>");
  CHECK(defaults.policy.scanner.min_answers == 20);
  CHECK(defaults.policy.scanner.max_refusal_share == 0.9);
  CHECK(defaults.policy.scanner.max_odd_requests == 20);
  CHECK(defaults.policy.scanner.max_tag_length == 128);
  CHECK(defaults.policy.rate_limit.strike_batch == 10);
  const Config c = parse_config(
      "policy:\n  scanner: {min_answers: 40, max_refusal_share: 0.95, max_odd_requests: 0,"
      " max_tag_length: 64}\n  rate_limit: {strike_batch: 5}\n",
      "test.yaml");
  CHECK(c.policy.scanner.min_answers == 40);
  CHECK(c.policy.scanner.max_refusal_share == 0.95);
  CHECK(c.policy.scanner.max_odd_requests == 0);
  CHECK(c.policy.scanner.max_tag_length == 64);
  CHECK(c.policy.rate_limit.strike_batch == 5);
  CHECK(parse_config("policy: {scanner: {max_refusal_share: 1}}\n", "test.yaml")
            .policy.scanner.max_refusal_share == 1.0);
  CHECK(error_of("policy: {scanner: {max_refusal_share: 0.5}}\n") ==
        "test.yaml:1: policy.scanner.max_refusal_share: must be above 0.5 and at most 1 (got "
        "0.5)");
  CHECK(error_of("policy: {scanner: {max_refusal_share: 90%}}\n") ==
        "test.yaml:1: policy.scanner.max_refusal_share: must be a decimal number such as 0.9");
  CHECK(error_of("policy: {scanner: {max_refusal_share: 1.2.3}}\n") ==
        "test.yaml:1: policy.scanner.max_refusal_share: must be a decimal number such as 0.9");
  CHECK(error_of("policy: {scanner: {max_tag_length: 8}}\n") ==
        "test.yaml:1: policy.scanner.max_tag_length: must be between 32 and 4096 (got 8)");
  CHECK(error_of("policy: {scanner: {min_answers: -1}}\n") ==
        "test.yaml:1: policy.scanner.min_answers: must be a whole number");
  CHECK(error_of("policy: {scanner: {max_refusals: 3}}\n") ==
        "test.yaml:1: policy.scanner.max_refusals: unknown key");
  CHECK(error_of("policy: {rate_limit: {strike_batch: x}}\n") ==
        "test.yaml:1: policy.rate_limit.strike_batch: must be a whole number");
}

TEST_CASE("the policy.auth section is read and checked, credentials loaded", "[config][auth]") {
  const Config defaults = parse_config(default_config_text(), "<default>");
  CHECK(defaults.policy.auth.realm == "sbc");
  CHECK(defaults.policy.auth.algorithms.size() == 2);
  CHECK_FALSE(defaults.policy.auth.nonce_key_configured);
  CHECK_FALSE(defaults.policy.auth.credentials);  // not in the default chain: nothing loaded

  const std::string file = "/tmp/sbc-config-test-users-" + std::to_string(::getpid());
  {
    std::ofstream out(file);
    out << sbc::policy::Credentials::line("alice", "example.com", sbc::crypto::DigestAlgorithm::Md5,
                                          "pw")
        << "\n";
  }
  const Config c = parse_config(
      "policy:\n  chain: [acl, auth]\n  auth: {realm: example.com, "
      "credentials_file: " +
          file +
          ", algorithms: [MD5], nonce_lifetime_seconds: 60, "
          "nonce_key: " +
          std::string(64, 'c') + ", ban_after_failures: 3}\n",
      "test.yaml");
  CHECK(c.policy.auth.realm == "example.com");
  REQUIRE(c.policy.auth.credentials);
  CHECK(c.policy.auth.credentials->users() == 1);
  CHECK(c.policy.auth.algorithms ==
        std::vector<sbc::crypto::DigestAlgorithm>{sbc::crypto::DigestAlgorithm::Md5});
  CHECK(c.policy.auth.nonce_lifetime.count() == 60);
  CHECK(c.policy.auth.nonce_key_configured);
  CHECK(c.policy.auth.ban_after_failures == 3);

  CHECK(error_of("policy: {chain: [auth]}\n") ==
        "test.yaml:1: policy.auth.credentials_file: is required when policy.chain has the auth "
        "stage");
  CHECK(error_of("policy: {chain: [auth], auth: {credentials_file: /nonexistent/users}}\n") ==
        "test.yaml:1: policy.auth.credentials_file: cannot read the credentials file "
        "/nonexistent/users");
  // Core mode needs no credentials: the core checks them.
  CHECK(
      parse_config("policy: {chain: [auth], auth: {mode: core}}\n", "test.yaml").policy.auth.mode ==
      sbc::policy::AuthSettings::Mode::Core);
  CHECK(error_of("policy: {auth: {mode: cloud}}\n") ==
        "test.yaml:1: policy.auth.mode: must be edge or core");
  CHECK(error_of("policy: {auth: {algorithms: [SHA-1]}}\n") ==
        "test.yaml:1: policy.auth.algorithms: \"SHA-1\" is not a Digest algorithm (SHA-256, MD5)");
  CHECK(error_of("policy: {auth: {algorithms: []}}\n") ==
        "test.yaml:1: policy.auth.algorithms: must offer at least one algorithm");
  CHECK(error_of("policy: {auth: {nonce_key: abc}}\n") ==
        "test.yaml:1: policy.auth.nonce_key: must be 64 hex digits (256 bits)");
  CHECK(error_of("policy: {auth: {realm: 'a\"b'}}\n") ==
        "test.yaml:1: policy.auth.realm: must not contain quotes or control characters");
  {
    std::ofstream out(file);
    out << "alice:example.com:MD5:nothex\n";
  }
  CHECK_THAT(error_of("policy: {chain: [auth], auth: {realm: example.com, credentials_file: " +
                      file + "}}\n"),
             Catch::Contains("credentials line 1") && Catch::Contains("32 lowercase hex"));
  std::remove(file.c_str());
}

TEST_CASE("policy.auth.domains and failure_window_seconds are read and checked", "[config][auth]") {
  const Config defaults = parse_config("", "test.yaml");
  CHECK(defaults.policy.auth.domains.empty());  // the stage then uses the identity domain
  CHECK(defaults.policy.auth.failure_window.count() == 600);
  const Config c = parse_config(
      "policy: {auth: {domains: [example.com, alias.example], failure_window_seconds: 120}}\n",
      "test.yaml");
  CHECK(c.policy.auth.domains == std::vector<std::string>{"example.com", "alias.example"});
  CHECK(c.policy.auth.failure_window.count() == 120);
  CHECK(error_of("policy: {auth: {domains: example.com}}\n") ==
        "test.yaml:1: policy.auth.domains: must be a list");
  CHECK(error_of("policy: {auth: {domains: ['alice@example.com']}}\n") ==
        "test.yaml:1: policy.auth.domains: \"alice@example.com\" is not a host name");
  CHECK(error_of("policy: {auth: {failure_window_seconds: 0}}\n") ==
        "test.yaml:1: policy.auth.failure_window_seconds: must be between 1 and 604800 (got 0)");
}

TEST_CASE("capture.redact_credentials is on by default and can be turned off", "[config]") {
  CHECK(parse_config(default_config_text(), "<default>").capture.redact_credentials);
  CHECK(parse_config("", "empty").capture.redact_credentials);
  CHECK_FALSE(
      parse_config("capture: {redact_credentials: false}\n", "x").capture.redact_credentials);
  CHECK(error_of("capture: {redact_credentials: maybe}\n")
            .rfind("test.yaml:1: capture.redact_credentials:", 0) == 0);
}

TEST_CASE("every policy stage has its options reader, and policy.chain names only stages",
          "[config]") {
  std::vector<std::string_view> stages;
  for (const auto& stage : sbc::policy::stage_factories()) stages.push_back(stage.name);
  CHECK(sbc::app::policy_stage_sections() == stages);
  for (std::string_view name : stages) {
    // Each stage's section is accepted (as a mapping) and the stage may be listed in the chain.
    const std::string section(name);
    // (auth in core mode: no credentials file needed)
    const std::string options = section == "auth" ? "{mode: core}" : "{}";
    const std::string yaml =
        "policy:\n  chain: [" + section + "]\n  " + section + ": " + options + "\n";
    CHECK_NOTHROW(sbc::app::parse_config(yaml, "t"));
  }
  CHECK_THROWS_WITH(sbc::app::parse_config("policy: {chain: [acl, firewall]}", "t"),
                    Catch::Contains("unknown stage \"firewall\" (acl, scanner, rate_limit, sips, "
                                    "methods, auth)"));
}

TEST_CASE("the dns section is read and checked", "[config]") {
  const Config defaults = parse_config("", "test.yaml");
  CHECK(defaults.dns.servers.empty());
  CHECK(defaults.dns.min_ttl == std::chrono::seconds{5});
  CHECK(defaults.dns.max_ttl == std::chrono::seconds{300});
  const Config c = parse_config(
      "dns: {servers: [\"127.0.0.1:5353\", \"[::1]:53\", \"192.0.2.53\"], min_ttl_seconds: 1, "
      "max_ttl_seconds: 60, timeout_ms: 500}\n",
      "test.yaml");
  CHECK(c.dns.servers == std::vector<std::string>{"127.0.0.1:5353", "[::1]:53", "192.0.2.53"});
  CHECK(c.dns.min_ttl == std::chrono::seconds{1});
  CHECK(c.dns.max_ttl == std::chrono::seconds{60});
  CHECK(c.dns.timeout == std::chrono::milliseconds{500});
  CHECK(error_of("dns: {servers: [\"dns.example.com\"]}\n") ==
        "test.yaml:1: dns.servers[0]: must be IP, IP:PORT or [IPv6]:PORT (got "
        "\"dns.example.com\")");
  CHECK(error_of("dns: {servers: [\"127.0.0.1:99999\"]}\n") ==
        "test.yaml:1: dns.servers[0]: must be IP, IP:PORT or [IPv6]:PORT (got "
        "\"127.0.0.1:99999\")");
  CHECK(error_of("dns: {min_ttl_seconds: 100, max_ttl_seconds: 10}\n") ==
        "test.yaml:1: dns.min_ttl_seconds: must not be above dns.max_ttl_seconds");
  CHECK(error_of("dns: {resolver: x}\n") == "test.yaml:1: dns.resolver: unknown key");
}

TEST_CASE("${NAME} in a value is the environment variable NAME, expanded at load", "[config]") {
  ::setenv("SBC_UNIT_ADVERTISE", "198.51.100.9", 1);
  ::setenv("SBC_UNIT_PORT", "5080", 1);
  ::unsetenv("SBC_UNIT_UNSET");
  const Config c = parse_config(
      "listeners:\n"
      "  - {transport: tcp, port: \"${SBC_UNIT_PORT}\", advertise: \"${SBC_UNIT_ADVERTISE}\"}\n"
      "core:\n"
      "  targets: [{uri: \"sip:${SBC_UNIT_ADVERTISE}:${SBC_UNIT_PORT};transport=tcp\"}]\n"
      "  local_address: ${SBC_UNIT_ADVERTISE}\n",
      "test.yaml");
  REQUIRE(c.listeners.size() == 1);
  CHECK(c.listeners[0].advertise == "198.51.100.9");
  CHECK(c.listeners[0].port == 5080);
  REQUIRE(c.core.targets.size() == 1);
  CHECK(c.core.targets[0].ip == "198.51.100.9");
  CHECK(c.core.targets[0].port == 5080);
  CHECK(c.core.local_address == "198.51.100.9");
  // "$${" is a literal "${"; a "$" not followed by "{" stays as it is.
  const Config literal =
      parse_config("policy:\n  scanner:\n    user_agents: [\"$${X}\", \"a$b\"]\n", "test.yaml");
  const auto& agents = literal.policy.scanner.user_agents;
  CHECK(std::find(agents.begin(), agents.end(), "${X}") != agents.end());
  CHECK(std::find(agents.begin(), agents.end(), "a$b") != agents.end());

  CHECK(error_of("listeners:\n  - {transport: udp, advertise: \"${SBC_UNIT_UNSET}\"}\n") ==
        "test.yaml:2: listeners[0].advertise: environment variable SBC_UNIT_UNSET is not set");
  CHECK(error_of("core:\n  local_address: \"${SBC UNIT}\"\n") ==
        "test.yaml:2: core.local_address: \"${SBC UNIT}\" is not an environment variable name "
        "([A-Za-z_][A-Za-z0-9_]*)");
  CHECK(error_of("core:\n  local_address: \"${SBC_UNIT_ADVERTISE\"\n") ==
        "test.yaml:2: core.local_address: \"${\" without its \"}\" (write \"$${\" for a literal "
        "\"${\")");
  // The expanded value is checked like any other: not an address, the usual error.
  ::setenv("SBC_UNIT_NOT_AN_IP", "pod.example", 1);
  CHECK(error_of("listeners:\n  - {transport: udp, advertise: \"${SBC_UNIT_NOT_AN_IP}\"}\n")
            .find("listeners[0].advertise: must be IP, IP:PORT or [IPv6]:PORT") !=
        std::string::npos);
}

TEST_CASE("listeners[].advertise may name a port (a NodePort, a load balancer's port)",
          "[config]") {
  const Config c = parse_config(
      "listeners:\n"
      "  - {transport: udp, port: 5060, advertise: \"198.51.100.1:30060\"}\n"
      "  - {transport: tcp, port: 5060, advertise: \"[2001:db8::1]:30060\"}\n"
      "  - {transport: tls, port: 5061, advertise: \"2001:db8::1\"}\n"
      "  - {transport: tcp, port: 5062, advertise: \"[2001:db8::2]\"}\n",
      "test.yaml");
  CHECK(c.listeners[0].advertise == "198.51.100.1");
  CHECK(c.listeners[0].advertise_port == 30060);
  CHECK(c.listeners[1].advertise == "2001:db8::1");
  CHECK(c.listeners[1].advertise_port == 30060);
  CHECK(c.listeners[2].advertise == "2001:db8::1");
  CHECK(c.listeners[2].advertise_port == 0);  // the listener's own port
  CHECK(c.listeners[3].advertise == "2001:db8::2");
  CHECK(c.listeners[3].advertise_port == 0);
  CHECK(error_of("listeners:\n  - {transport: udp, advertise: \"198.51.100.1:0\"}\n") ==
        "test.yaml:2: listeners[0].advertise: port must be between 1 and 65535 (got \"0\")");
  CHECK(error_of("listeners:\n  - {transport: udp, advertise: \"198.51.100.1:70000\"}\n") ==
        "test.yaml:2: listeners[0].advertise: port must be between 1 and 65535 (got \"70000\")");
  CHECK(error_of("listeners:\n  - {transport: udp, advertise: \"[2001:db8::1]x\"}\n")
            .find("must be IP, IP:PORT or [IPv6]:PORT") != std::string::npos);
  CHECK(error_of("listeners:\n  - {transport: udp, advertise: \"sbc.example.com:5060\"}\n")
            .find("must be IP, IP:PORT or [IPv6]:PORT") != std::string::npos);
}

TEST_CASE("a reload tells what only a restart applies from what it can apply", "[config]") {
  auto changed = [](const std::string& a, const std::string& b) {
    const Config before = parse_config(a, "a.yaml"), after = parse_config(b, "b.yaml");
    REQUIRE(before.restart_only.size() == after.restart_only.size());
    std::vector<std::string> parts;
    for (std::size_t i = 0; i < before.restart_only.size(); ++i)
      if (before.restart_only[i] != after.restart_only[i])
        parts.push_back(after.restart_only[i].first);
    return parts;
  };
  const std::string base =
      "listeners: [{transport: udp, address: 127.0.0.1, port: 5060}]\n"
      "core: {targets: [{uri: \"sip:127.0.0.1:5070\"}], probe: options}\n"
      "relay: {token_keys: [\"1:000102030405060708090a0b0c0d0e0f\"], max_forwards: 50}\n"
      "log: {level: info, rejections_per_second: 10}\n";
  using Parts = std::vector<std::string>;
  CHECK(changed(base, base).empty());
  // The same settings written another way: nothing changed.
  CHECK(changed(base,
                "log: {rejections_per_second: 10, level: info}\n"
                "relay: {max_forwards: 50, token_keys: "
                "[\"1:000102030405060708090a0b0c0d0e0f\"]}\n"
                "core: {probe: options, targets: [{uri: \"sip:127.0.0.1:5070\"}]}\n"
                "listeners:\n  - {port: 5060, address: 127.0.0.1, transport: udp}\n")
            .empty());
  // What reloads: the policy, core.targets, relay.token_keys, capture, log.level.
  std::string live = base;
  live.replace(live.find("5070"), 4, "5080");
  live.replace(live.find("1:00"), 4, "2:00");
  live.replace(live.find("level: info"), 11, "level: warn");
  CHECK(changed(base, live + "policy: {chain: [acl]}\ncapture: {enabled: true}\n").empty());
  // What needs a restart: the rest.
  std::string port = base;
  port.replace(port.find("5060"), 4, "5062");
  CHECK(changed(base, port) == Parts{"listeners"});
  std::string probe = base;
  probe.replace(probe.find("probe: options"), 14, "probe: passive");
  CHECK(changed(base, probe) == Parts{"core (all but targets)"});
  std::string timer = base;
  timer.replace(timer.find("50}"), 2, "40");
  CHECK(changed(base, timer) == Parts{"relay (all but token_keys)"});
  CHECK(changed(base, base + "workers: 3\nmetrics: {port: 9999}\n") == Parts{"workers", "metrics"});
  CHECK(changed(base, base.substr(0, base.find("log:")) +
                          "log: {level: info, rejections_per_second: 5}\n") ==
        Parts{"log.rejections_per_second"});
}

TEST_CASE("admin.http: a bearer token from a file, never the metrics port", "[config]") {
  const std::string file = "/tmp/sbc-config-test-admin-token-" + std::to_string(::getpid());
  std::ofstream(file) << "0123456789abcdef-token\n";
  const std::string http =
      "admin: {http: {address: 127.0.0.1, port: 9461, token_file: " + file + "}}";
  const sbc::app::Config c = sbc::app::parse_config(http, "t");
  CHECK(c.admin.http.address == "127.0.0.1");
  CHECK(c.admin.http.port == 9461);
  CHECK(c.admin.http.token == "0123456789abcdef-token");
  CHECK(sbc::app::parse_config("", "t").admin.http.address.empty());  // absent: none
  // The configuration text keeps no token: it is in the file.
  CHECK(c.text.find("0123456789abcdef-token") == std::string::npos);
  CHECK(
      error_of("admin: {http: {address: 127.0.0.1, port: 9461}}").find("no token, no HTTP admin") !=
      std::string::npos);
  CHECK(error_of("admin: {http: {address: 127.0.0.1, port: 9461, token_file: /nonexistent}}")
            .find("cannot read /nonexistent") != std::string::npos);
  CHECK(error_of("admin: {http: {address: 127.0.0.1, port: 9460, token_file: " + file + "}}")
            .find("never on the metrics port") != std::string::npos);
  CHECK(error_of("metrics: {address: 0.0.0.0, port: 9461}\n" + http)
            .find("never on the metrics port") != std::string::npos);
  CHECK(error_of("metrics: {port: 9461, enabled: false}\n" + http) == "(no error)");
  std::ofstream(file) << "short\n";
  const std::string error = error_of(http);
  CHECK(error.find("16 characters at least") != std::string::npos);
  CHECK(error.find("short") == std::string::npos);  // the error never shows the token
  std::remove(file.c_str());
}

TEST_CASE("cluster.redis: the store the replicas share, its password from a file", "[config]") {
  CHECK_FALSE(sbc::app::parse_config("", "t").cluster.enabled());  // absent: standalone
  const std::string file = "/tmp/sbc-config-test-redis-password-" + std::to_string(::getpid());
  std::ofstream(file) << "redis-secret-1\n";
  const sbc::app::Config c = sbc::app::parse_config(
      "policy: {ipv6_prefix: 56}\ncluster: {redis: {address: \"[::1]:6380\", username: edge, "
      "password_file: " +
          file + ", database: 3, key_prefix: \"edge:\", timeout_ms: 250, max_queued: 100}}",
      "t");
  CHECK(c.cluster.enabled());
  CHECK(c.cluster.host == "::1");
  CHECK(c.cluster.port == 6380);
  CHECK(c.cluster.password == "redis-secret-1");
  CHECK(c.cluster.database == 3);
  CHECK(c.cluster.key_prefix == "edge:");
  CHECK(c.cluster.timeout == std::chrono::milliseconds(250));
  CHECK(c.cluster.max_queued == 100);
  CHECK(c.cluster.ipv6_prefix == 56);  // ban keys as the policy cuts them
  CHECK(c.cluster.username == "edge");
  CHECK(error_of("cluster: {redis: {}}").find("needs an address") != std::string::npos);
  CHECK(error_of("cluster: {redis: {address: \"127.0.0.1:6379\", username: sbc}}")
            .find("needs password_file") != std::string::npos);
  CHECK(error_of("cluster: {redis: {address: \"127.0.0.1:6379\", username: \"s b\"}}")
            .find("cluster.redis.username") != std::string::npos);
  // A name is resolved by the daemon (cluster.redis.address follows it).
  const sbc::app::Config named =
      sbc::app::parse_config("cluster: {redis: {address: \"redis.sbc.svc:6379\"}}", "t");
  CHECK(named.cluster.host == "redis.sbc.svc");
  CHECK(named.cluster.port == 6379);
  CHECK(error_of("cluster: {redis: {address: \"redis local:6379\"}}").find("must be IP:PORT") !=
        std::string::npos);
  CHECK(error_of("cluster: {redis: {address: \"-redis:6379\"}}").find("must be IP:PORT") !=
        std::string::npos);
  CHECK(error_of("cluster: {redis: {address: 127.0.0.1}}").find("must be IP:PORT") !=
        std::string::npos);
  CHECK(error_of("cluster: {redis: {address: \"127.0.0.1:6379\", database: 16}}")
            .find("cluster.redis.database") != std::string::npos);
  CHECK(error_of("cluster: {redis: {address: \"127.0.0.1:6379\", key_prefix: \"a b\"}}")
            .find("printable") != std::string::npos);
  CHECK(error_of("cluster: {redis: {address: \"127.0.0.1:6379\", password_file: /nonexistent}}")
            .find("cannot read /nonexistent") != std::string::npos);
  CHECK(error_of("cluster: {store: x}").find("store") != std::string::npos);
  // A changed store needs a restart.
  bool listed = false;
  for (const auto& [name, text] : c.restart_only) listed = listed || name == "cluster";
  CHECK(listed);
  std::remove(file.c_str());
}
