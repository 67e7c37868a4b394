// The configuration of the calls (policy.calls, relay.max_dialogs, relay.session_timeout_seconds)
// and of media anchoring (media): read into the relay's and the media port's settings, and
// refused with the key named when out of range.
#include <catch2/catch.hpp>

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

TEST_CASE("policy.calls and the dialog table are read and checked", "[config][calls]") {
  const Config c = parse_config(R"(
relay: {max_dialogs: 1000, session_timeout_seconds: 3600}
policy:
  calls: {max_per_user: 2, max_per_source: 10, max_total: 500, source_prefix_v4: 24,
          source_prefix_v6: 48, reject_status: 486}
)",
                                "test.yaml");
  CHECK(c.relay.max_dialogs == 1000);
  CHECK(c.relay.session_timeout == std::chrono::seconds(3600));
  const sbc::proxy::CallLimitSettings& l = c.relay.call_limits;
  CHECK(l.max_per_user == 2);
  CHECK(l.max_per_source == 10);
  CHECK(l.max_total == 500);
  CHECK(l.source_prefix_v4 == 24);
  CHECK(l.source_prefix_v6 == 48);
  CHECK(l.reject_status == 486);
  // The defaults: no limit.
  CHECK_FALSE(parse_config("", "empty").relay.call_limits.any());
  CHECK(error_of("policy: {calls: {reject_status: 404}}").find("policy.calls.reject_status") !=
        std::string::npos);
  CHECK(error_of("policy: {calls: {source_prefix_v4: 33}}").find("policy.calls.source_prefix_v4") !=
        std::string::npos);
  CHECK(error_of("policy: {calls: {max_per_users: 2}}").find("unknown key") != std::string::npos);
  CHECK(error_of("relay: {session_timeout_seconds: 10}").find("relay.session_timeout_seconds") !=
        std::string::npos);
}

TEST_CASE("media is read and checked", "[config][media]") {
  const Config c = parse_config(R"(
media:
  enabled: true
  rtpengine: [{address: "127.0.0.1:2223", weight: 3}, {address: "[::1]:2224"}]
  timeout_ms: 300
  retries: 1
  ping_interval_s: 0
  on_failure: pass
  interfaces: {outside: pub, inside: priv}
)",
                                "test.yaml");
  CHECK(c.media.enabled);
  REQUIRE(c.media.ng.instances.size() == 2);
  CHECK(c.media.ng.instances[0].endpoint.port() == 2223);
  CHECK(c.media.ng.instances[0].weight == 3);
  CHECK(c.media.ng.instances[1].endpoint.address().is_v6());
  CHECK(c.media.ng.timeout_ms == 300);
  CHECK(c.media.ng.retries == 1);
  CHECK(c.media.ng.ping_interval_s == 0);
  CHECK(c.relay.media_on_failure == sbc::proxy::RelaySettings::MediaFailure::Pass);
  CHECK(c.media.outside_interface == "pub");
  CHECK(c.media.inside_interface == "priv");
  CHECK_FALSE(parse_config("", "empty").media.enabled);
  CHECK(error_of("media: {enabled: true}").find("at least one rtpengine") != std::string::npos);
  CHECK(error_of("media: {rtpengine: [{address: \"rtp.example:2223\"}]}")
            .find("media.rtpengine[0].address") != std::string::npos);
  CHECK(error_of("media: {on_failure: drop}").find("media.on_failure") != std::string::npos);
  CHECK(error_of("media: {interfaces: {outside: \"a b\"}}").find("media.interfaces.outside") !=
        std::string::npos);
}

TEST_CASE("media.srtp names TLS listeners, media.max_in_flight bounds the ng requests",
          "[config][media]") {
  using Srtp = sbc::proxy::RelaySettings::Srtp;
  const std::string head = R"(
listeners:
  - {transport: udp, port: 5060}
  - {transport: tls, port: 5061}
  - {transport: tls, port: 5071}
media:
  enabled: true
  rtpengine: [{address: "127.0.0.1:2223"}]
  max_in_flight: 64
)";
  const Config c = parse_config(
      head + "  srtp: [{port: 5061, mode: required}, {port: 5071, mode: optional}]\n", "test.yaml");
  REQUIRE(c.relay.media_srtp.size() == 2);
  CHECK(c.relay.media_srtp[0] == std::pair<std::uint16_t, Srtp>{5061, Srtp::Required});
  CHECK(c.relay.media_srtp[1] == std::pair<std::uint16_t, Srtp>{5071, Srtp::Optional});
  CHECK(c.media.ng.max_outstanding == 64);
  CHECK(parse_config("", "empty").relay.media_srtp.empty());
  // Keys in clear over UDP: refused, naming the entry.
  CHECK(error_of(head + "  srtp: [{port: 5060, mode: required}]\n")
            .find("media.srtp[0].port: port 5060 is not the port of a TLS listener") !=
        std::string::npos);
  CHECK(error_of(head + "  srtp: [{port: 5061, mode: off}, {port: 5061, mode: required}]\n")
            .find("media.srtp[1].port: port 5061 is listed twice") != std::string::npos);
  CHECK(error_of(head + "  srtp: [{port: 5061, mode: always}]\n").find("media.srtp[0].mode") !=
        std::string::npos);
  CHECK(error_of(head + "  srtp: [{port: 5061}]\n").find("needs a port and a mode") !=
        std::string::npos);
  CHECK(error_of("listeners: [{transport: tls, port: 5061}]\n"
                 "media: {srtp: [{port: 5061, mode: required}]}")
            .find("needs media.enabled") != std::string::npos);
  CHECK(error_of("media: {max_in_flight: 8}").find("media.max_in_flight") != std::string::npos);
}
