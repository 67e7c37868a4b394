#pragma once
// Cores by DNS name (RFC 3263): a thread of its own resolves each name, SRV first when the URI
// names no port (`_sip._udp`, `_sip._tcp`, `_sips._tcp`), then A and AAAA for every SRV target
// (or for the name itself), on c-ares. Never on the message path: the workers keep using the
// addresses they have and are told of a change (on_change, called on the resolver's thread).
// Answers are kept for their TTL (within [min_ttl, max_ttl]) and refreshed before they expire;
// a name that does not resolve keeps its last addresses (served from cache while the DNS server
// is gone) and is retried after min_ttl.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "sbc/common/flow.hpp"

namespace sbc::dns {

struct Settings {
  std::vector<std::string> servers;  // "IP", "IP:PORT", "[IPv6]:PORT"; empty: /etc/resolv.conf
  std::chrono::seconds min_ttl{5};
  std::chrono::seconds max_ttl{300};
  std::chrono::milliseconds timeout{2000};  // one query, before it is tried again (twice)
};

// A name to resolve: `port` 0 means SRV first (a URI without a port).
struct Name {
  std::string host;
  std::uint16_t port = 0;
  Protocol protocol = Protocol::Udp;
  unsigned priority = 1;  // for A/AAAA answers; SRV records bring their own
  unsigned weight = 1;
};

struct Address {
  std::string ip;
  std::uint16_t port = 0;
  unsigned priority = 1;
  unsigned weight = 1;
  bool operator==(const Address&) const = default;
};

// Outcomes of one name's resolution, for sbc_core_resolution_total{result}.
enum class Result : std::uint8_t { Ok, NotFound, Timeout, Error };
inline constexpr std::array<std::string_view, 4> kResultNames{"ok", "not_found", "timeout",
                                                              "error"};

struct ResolverStats {
  std::array<std::atomic<std::uint64_t>, 4> results{};  // by Result
  std::atomic<std::uint64_t> addresses{0};              // now, over all names
  std::atomic<std::uint64_t> unresolved{0};             // names without any address now
};

class Resolver {
 public:
  // A name's new addresses (sorted; empty never: a failure keeps the last ones).
  using OnChange = std::function<void(std::size_t name, const std::vector<Address>& addresses)>;
  using Log = std::function<void(std::string_view level, const std::string& line)>;

  // Throws std::runtime_error when c-ares cannot start (bad server address).
  Resolver(Settings settings, std::vector<Name> names, OnChange on_change, Log log);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  void start();
  void stop();
  const ResolverStats& stats() const noexcept { return stats_; }

 private:
  struct Impl;
  void run();

  ResolverStats stats_;  // before impl_: Impl writes to it from its constructor
  std::unique_ptr<Impl> impl_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace sbc::dns
