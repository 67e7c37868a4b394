#pragma once
// What replicas write to the store and publish to each other, as text of our own: a ban (its
// source, scope, expiry, cause) and the lifting of bans. Times are wall-clock milliseconds since
// the Unix epoch (replicas share no steady clock). A store is input like any other: parse_*
// checks every field and refuses anything else (fuzzed: tests/fuzz/fleet_codec_fuzz.cpp).
//
//   hash field:   <32 hex digits of the source key>/<all|udp>
//   hash value:   1 <until_ms> <since_ms> <offences> <stage> <reason> <origin>
//   ban message:  ban <field> <value>
//   lift message: unban <address or CIDR> <origin>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "sbc/common/address.hpp"

namespace sbc::cluster {

struct FleetBan {
  sbc::SourceKey key;
  bool all = true;  // every transport; false: UDP only
  std::int64_t until_ms = 0, since_ms = 0;
  std::uint32_t offences = 1;
  std::string stage, reason;  // lower-case labels: [a-z0-9_], 1 to 32 characters
  std::uint64_t origin = 0;   // the replica that decided it
  bool operator==(const FleetBan&) const = default;
};

std::string ban_field(const sbc::SourceKey& key, bool all);
std::string ban_value(const FleetBan& ban);
// A hash entry back into a ban; nothing when either part is not what ban_field/ban_value write.
std::optional<FleetBan> parse_ban(std::string_view field, std::string_view value);

struct FleetMessage {
  enum class Kind : std::uint8_t { Ban, Unban };
  Kind kind = Kind::Ban;
  FleetBan ban;       // Ban
  std::string block;  // Unban: the address or CIDR as the operator gave it
  sbc::Cidr cidr;     // Unban: parsed
  std::uint64_t origin = 0;
};
std::string ban_message(const FleetBan& ban);
std::string unban_message(std::string_view block, std::uint64_t origin);
std::optional<FleetMessage> parse_message(std::string_view text);

// The store key counting a source's strikes of one stage (failed authentications, flood drops)
// across the fleet, by the scope their evidence allows.
std::string strike_key(std::string_view prefix, std::string_view stage, const sbc::SourceKey& key,
                       bool all);
// The store key (a sorted set: worker of a replica -> when it reported) of the workers draining
// bucket `bucket` of `stage` for `key` (a source, a user's key), on evidence of scope `all`.
std::string heavy_key(std::string_view prefix, std::string_view stage, unsigned bucket,
                      const sbc::SourceKey& key, bool all);

// "IP:PORT" ("[v6]:PORT") split; nothing when it is not one (cluster.redis.address).
std::optional<std::pair<std::string, std::uint16_t>> split_host_port(std::string_view text);

}  // namespace sbc::cluster
