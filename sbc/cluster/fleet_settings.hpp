#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace sbc::cluster {

// cluster.redis in the configuration.
struct FleetSettings {
  // An IP literal, or a DNS name the daemon resolves (FleetStore::retarget); empty: standalone.
  std::string host;
  std::uint16_t port = 6379;
  std::string username;  // an ACL user (AUTH username password); empty: the default user
  std::string password;  // from password_file; never logged
  unsigned database = 0;
  std::string key_prefix = "sbc:";
  std::chrono::milliseconds timeout{500};  // of every command (and of connecting)
  std::size_t max_queued = 4096;           // updates waiting for the store
  unsigned ipv6_prefix = 64;               // of the source keys (policy.ipv6_prefix)
  bool enabled() const noexcept { return !host.empty(); }
};

}  // namespace sbc::cluster
