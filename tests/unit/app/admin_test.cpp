#include <catch2/catch.hpp>

#include <boost/json/serialize.hpp>

#include <string>
#include <string_view>
#include <vector>

#include "sbc/app/admin_commands.hpp"
#include "sbc/app/config.hpp"
#include "sbc/app/ctl.hpp"

namespace {

std::string request(std::vector<std::string_view> words) {
  const auto r = sbc::app::ctl_request(words);
  return r ? boost::json::serialize(*r) : "usage";
}

}  // namespace

TEST_CASE("admin: sbc ctl config shows no secret", "[app][admin]") {
  const std::string yaml = R"(workers: 2
listeners:
  - {transport: udp, address: 127.0.0.1, port: 5060}
relay:
  token_keys: ["1:00112233445566778899aabbccddeeff", "2:ffeeddccbbaa99887766554433221100"]
  token_key_file: /etc/sbc/token-keys
  dialog_token_lifetime_seconds: 86400
policy:
  auth:
    credentials_file: /etc/sbc/users
    nonce_key: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
trunk:
  password: hunter2
  sip_secret: s3cr3t
  nested: [{client_secret: abcabc}]
)";
  const std::string text = sbc::app::redact_config(yaml);
  for (const char* secret :
       {"00112233445566778899", "ffeeddccbbaa", "0123456789abcdef", "hunter2", "s3cr3t", "abcabc"})
    CHECK(text.find(secret) == std::string::npos);
  CHECK(text.find("<redacted>") != std::string::npos);
  // What is no secret stays: paths of secret files, lifetimes, the rest of the file.
  CHECK(text.find("/etc/sbc/token-keys") != std::string::npos);
  CHECK(text.find("/etc/sbc/users") != std::string::npos);
  CHECK(text.find("dialog_token_lifetime_seconds: 86400") != std::string::npos);
  CHECK(text.find("port: 5060") != std::string::npos);
  // The embedded default has no secret either, and stays a valid configuration once redacted
  // apart from the redacted values.
  CHECK_NOTHROW(sbc::app::redact_config(sbc::app::default_config_text()));
  CHECK_THROWS_AS(sbc::app::redact_config("a: [unclosed"), sbc::app::ConfigError);
}

TEST_CASE("admin: sbc ctl words make requests, or the usage", "[app][admin]") {
  CHECK(request({"status"}) == R"({"command":"status"})");
  CHECK(request({"bans"}) == R"({"command":"bans"})");
  CHECK(
      request({"bans", "--source", "10.0.0.0/8", "--stage", "scanner", "--reason", "signature"}) ==
      R"({"command":"bans","source":"10.0.0.0/8","stage":"scanner","reason":"signature"})");
  CHECK(request({"unban", "2001:db8::/32"}) == R"({"command":"unban","source":"2001:db8::/32"})");
  CHECK(request({"flows", "--limit", "5"}) == R"({"command":"flows","limit":5})");
  CHECK(request({"config"}) == R"({"command":"config"})");
  CHECK(request({}) == "usage");
  CHECK(request({"bans", "--stage"}) == "usage");
  CHECK(request({"bans", "--stage", "--reason", "x"}) == "usage");
  CHECK(request({"bans", "--limit", "5"}) == "usage");
  CHECK(request({"flows", "--limit", "five"}) == "usage");
  CHECK(request({"flows", "--source", "10.0.0.0/8"}) == "usage");
  CHECK(request({"unban"}) == "usage");
  CHECK(request({"status", "now"}) == "usage");
  CHECK(request({"nonsense"}) == "usage");
}
