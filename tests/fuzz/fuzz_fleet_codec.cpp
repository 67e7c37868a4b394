// What the replicas' shared store hands back (cluster.redis: hash entries and published
// messages) on arbitrary bytes: a store is input like any other, and whoever can write to it
// must not crash a replica. What parses must write back the same.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sbc/cluster/fleet_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (const auto message = sbc::cluster::parse_message(text);
      message && message->kind == sbc::cluster::FleetMessage::Kind::Ban) {
    const auto again = sbc::cluster::parse_message(sbc::cluster::ban_message(message->ban));
    if (!again || !(again->ban == message->ban)) std::abort();
  }
  const auto newline = text.find('\n');
  if (newline != std::string_view::npos)
    (void)sbc::cluster::parse_ban(text.substr(0, newline), text.substr(newline + 1));
  (void)sbc::cluster::split_host_port(text);
  return 0;
}
