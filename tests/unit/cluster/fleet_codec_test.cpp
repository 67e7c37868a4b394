#include <catch2/catch.hpp>

#include "sbc/cluster/fleet_codec.hpp"

using namespace sbc::cluster;

namespace {

FleetBan sample() {
  FleetBan ban;
  ban.key = *sbc::source_key("192.0.2.7", 64);
  ban.all = false;
  ban.until_ms = 1796370181353;
  ban.since_ms = 1796370121353;
  ban.offences = 3;
  ban.stage = "scanner";
  ban.reason = "signature";
  ban.origin = 15953006561690624361ULL;
  return ban;
}

}  // namespace

TEST_CASE("fleet codec: a ban goes into the store and comes back the same", "[cluster]") {
  const FleetBan ban = sample();
  const std::string field = ban_field(ban.key, ban.all);
  CHECK(field == "00000000000000000000ffffc0000207/udp");
  CHECK(ban_value(ban) == "1 1796370181353 1796370121353 3 scanner signature 15953006561690624361");
  const auto back = parse_ban(field, ban_value(ban));
  REQUIRE(back);
  CHECK(*back == ban);
  const auto message = parse_message(ban_message(ban));
  REQUIRE(message);
  CHECK(message->kind == FleetMessage::Kind::Ban);
  CHECK(message->ban == ban);
  CHECK(message->origin == ban.origin);
}

TEST_CASE("fleet codec: lifts name an address or a block", "[cluster]") {
  const auto message = parse_message(unban_message("10.0.0.0/8", 42));
  REQUIRE(message);
  CHECK(message->kind == FleetMessage::Kind::Unban);
  CHECK(message->block == "10.0.0.0/8");
  CHECK(message->origin == 42);
  CHECK(sbc::overlaps(message->cidr, *sbc::source_key("10.1.2.3", 64), 64));
  CHECK_FALSE(sbc::overlaps(message->cidr, *sbc::source_key("11.1.2.3", 64), 64));
  CHECK(parse_message(unban_message("2001:db8::1", 7)));
}

TEST_CASE("fleet codec: anything else from the store is refused", "[cluster]") {
  const FleetBan ban = sample();
  const std::string field = ban_field(ban.key, ban.all);
  const std::string value = ban_value(ban);
  CHECK_FALSE(parse_ban(field.substr(1), value));                          // short key
  CHECK_FALSE(parse_ban(field.substr(0, 33) + "tcp", value));              // unknown scope
  CHECK_FALSE(parse_ban("g" + field.substr(1), value));                    // not hex
  CHECK_FALSE(parse_ban(field, "2" + value.substr(1)));                    // unknown version
  CHECK_FALSE(parse_ban(field, value + " extra"));                         // a word too many
  CHECK_FALSE(parse_ban(field, value.substr(0, value.rfind(' '))));        // a word short
  CHECK_FALSE(parse_ban(field, "1  1 1 scanner signature 1"));             // empty word
  CHECK_FALSE(parse_ban(field, "1 -5 1 1 scanner signature 1"));           // no expiry
  CHECK_FALSE(parse_ban(field, "1 5 1 99999999999 scanner signature 1"));  // offences overflow
  CHECK_FALSE(parse_ban(field, "1 5 1 1 Scanner signature 1"));            // label not lower case
  CHECK_FALSE(parse_ban(field, "1 5 1 1 " + std::string(33, 'a') + " signature 1"));
  CHECK_FALSE(parse_message("ban " + field));
  CHECK_FALSE(parse_message("unban 10.0.0.0/33 1"));
  CHECK_FALSE(parse_message("unban 10.0.0.0/8"));
  CHECK_FALSE(parse_message("lift 10.0.0.0/8 1"));
  CHECK_FALSE(parse_message(""));
}

TEST_CASE("fleet codec: the store's address", "[cluster]") {
  CHECK(split_host_port("127.0.0.1:6379") ==
        std::pair<std::string, std::uint16_t>{"127.0.0.1", 6379});
  CHECK(split_host_port("[::1]:6380") == std::pair<std::string, std::uint16_t>{"::1", 6380});
  CHECK_FALSE(split_host_port("::1:6379"));
  CHECK_FALSE(split_host_port("127.0.0.1"));
  CHECK_FALSE(split_host_port("127.0.0.1:0"));
  CHECK_FALSE(split_host_port("127.0.0.1:65536"));
  CHECK_FALSE(split_host_port(":6379"));
  CHECK_FALSE(split_host_port("[::1]6379"));
}

TEST_CASE("fleet codec: strike counters and drained buckets are keyed by stage, source and scope",
          "[cluster]") {
  CHECK(strike_key("sbc:", "auth", *sbc::source_key("192.0.2.7", 64), true) ==
        "sbc:strikes:auth:00000000000000000000ffffc0000207/all");
  CHECK(strike_key("sbc:", "rate_limit", *sbc::source_key("192.0.2.7", 64), false) ==
        "sbc:strikes:rate_limit:00000000000000000000ffffc0000207/udp");
  // Drained buckets: by stage, bucket (the method class), source and scope.
  CHECK(heavy_key("sbc:", "rate_limit", 2, *sbc::source_key("192.0.2.7", 64), false) ==
        "sbc:heavy:rate_limit:2:00000000000000000000ffffc0000207/udp");
}
