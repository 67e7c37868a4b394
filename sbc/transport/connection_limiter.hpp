#pragma once
// Caps stream connections in total, per source and per network, across all workers. It is
// consulted on accept and on close only (and once per connection that authenticates), never per
// message, so its mutex is off the message path. Its tables are bounded: the counts never hold
// more entries than there are connections, the authenticated sources at most max_total.
//
// A source is what the policies count as one (sbc/common/address.hpp): an IPv4 address, or an IPv6
// address cut to the policy prefix (/64), so that one host rotating addresses inside its block
// stays one source. A network is the wider block around it (IPv4 /24, IPv6 /48), so that one
// network's many hosts cannot take every slot either. A share of the slots (the reserve) is kept
// for trusted peers (policy.acl.trusted) and sources that authenticated recently: when only the
// reserve is left, connections from anyone else are refused. Trusted peers are exempt from the
// per-source and per-network caps.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sbc/common/address.hpp"

namespace sbc::transport {

struct ConnectionLimiterSettings {
  std::size_t max_total = 10000;
  std::size_t max_per_source = 100;
  std::size_t max_per_ipv6_48 = 0;  // 0: no cap
  std::size_t max_per_ipv4_24 = 0;  // 0: no cap
  std::size_t reserved = 0;         // slots only trusted and authenticated sources may take
  unsigned ipv6_prefix = 64;
  std::vector<sbc::Cidr> trusted;
  // How long a source that authenticated counts as known after it last did.
  std::chrono::seconds known_for{3600};
};

class ConnectionLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Refusal : std::uint8_t { Total, Reserved, Source, Network };
  static constexpr std::size_t kRefusals = 4;

  explicit ConnectionLimiter(ConnectionLimiterSettings settings) : s_(std::move(settings)) {}
  ConnectionLimiter(std::size_t max_total, std::size_t max_per_source)
      : ConnectionLimiter(settings(max_total, max_per_source)) {}

  // Where a connection counts; none for an address that does not parse.
  struct Keys {
    sbc::SourceKey source, network;
    bool ipv4 = false;
    bool trusted = false;  // in policy.acl.trusted
  };
  // Pure (the settings never change): no lock.
  std::optional<Keys> keys(std::string_view address) const noexcept {
    const auto bytes = sbc::parse_address(address);
    if (!bytes) return std::nullopt;
    Keys k;
    k.ipv4 =
        bytes->at(10) == 0xFF && bytes->at(11) == 0xFF &&
        std::all_of(bytes->begin(), bytes->begin() + 10, [](std::uint8_t b) { return b == 0; });
    k.source = sbc::source_key(*bytes, s_.ipv6_prefix);
    k.network.bytes = *bytes;
    // IPv4 /24 (mapped: 96 + 24 bits) or IPv6 /48.
    for (std::size_t i = k.ipv4 ? 15 : 6; i < 16; ++i) k.network.bytes[i] = 0;
    k.trusted = std::any_of(s_.trusted.begin(), s_.trusted.end(),
                            [&](const sbc::Cidr& c) { return c.contains(*bytes); });
    return k;
  }

  // Takes a slot for a connection from `address`; the refusal otherwise.
  std::optional<Refusal> try_acquire(std::string_view address, Keys& out,
                                     Clock::time_point now = Clock::now()) {
    const auto k = keys(address);
    if (!k) return Refusal::Source;
    const std::lock_guard lock(mutex_);
    const bool trusted = k->trusted;
    if (total_ >= s_.max_total) return Refusal::Total;
    if (!trusted && total_ + s_.reserved >= s_.max_total && !known(k->source, now))
      return Refusal::Reserved;
    if (!trusted) {
      if (count(per_source_, k->source) >= s_.max_per_source) return Refusal::Source;
      const std::size_t network_cap = k->ipv4 ? s_.max_per_ipv4_24 : s_.max_per_ipv6_48;
      if (network_cap != 0 && count(per_network_, k->network) >= network_cap)
        return Refusal::Network;
    }
    ++per_source_[k->source];
    ++per_network_[k->network];
    ++total_;
    out = *k;
    return std::nullopt;
  }
  // The older interface (tests): true when a slot was taken.
  bool try_acquire(std::string_view address) {
    Keys k;
    return !try_acquire(address, k).has_value();
  }

  void release(const Keys& k) {
    const std::lock_guard lock(mutex_);
    if (!decrement(per_source_, k.source)) return;
    decrement(per_network_, k.network);
    --total_;
  }
  void release(std::string_view address) {
    if (const auto k = keys(address)) release(*k);
  }

  // A connection from this source authenticated: it may use the reserve for a while.
  void authenticated(const sbc::SourceKey& source, Clock::time_point now = Clock::now()) {
    const std::lock_guard lock(mutex_);
    if (known_.size() >= s_.max_total && known_.find(source) == known_.end()) {
      std::erase_if(known_, [&](const auto& e) { return e.second <= now; });
      if (known_.size() >= s_.max_total) return;  // full of fresh ones: this one is not kept
    }
    known_[source] = now + s_.known_for;
  }

  static ConnectionLimiterSettings settings(std::size_t max_total, std::size_t max_per_source) {
    ConnectionLimiterSettings s;
    s.max_total = max_total;
    s.max_per_source = max_per_source;
    return s;
  }

  std::size_t total() const {
    const std::lock_guard lock(mutex_);
    return total_;
  }

 private:
  struct KeyHash {
    std::size_t operator()(const sbc::SourceKey& k) const noexcept {
      return static_cast<std::size_t>(k.hash());
    }
  };
  using Counts = std::unordered_map<sbc::SourceKey, std::size_t, KeyHash>;

  static std::size_t count(const Counts& c, const sbc::SourceKey& k) {
    const auto it = c.find(k);
    return it == c.end() ? 0 : it->second;
  }
  static bool decrement(Counts& c, const sbc::SourceKey& k) {
    const auto it = c.find(k);
    if (it == c.end()) return false;
    if (--it->second == 0) c.erase(it);
    return true;
  }
  bool known(const sbc::SourceKey& source, Clock::time_point now) const {
    const auto it = known_.find(source);
    return it != known_.end() && it->second > now;
  }

  ConnectionLimiterSettings s_;
  mutable std::mutex mutex_;
  Counts per_source_, per_network_;
  std::unordered_map<sbc::SourceKey, Clock::time_point, KeyHash> known_;
  std::size_t total_ = 0;
};

// Releases its slot when the connection that holds it goes away.
class ConnectionTicket {
 public:
  ConnectionTicket() = default;
  ConnectionTicket(ConnectionLimiter* limiter, ConnectionLimiter::Keys keys)
      : limiter_(limiter), keys_(keys) {}
  // The older interface (tests): the slot of `address`, taken already.
  ConnectionTicket(ConnectionLimiter* limiter, std::string_view address) : limiter_(limiter) {
    const auto k = limiter->keys(address);
    if (k) {
      keys_ = *k;
    } else {
      limiter_ = nullptr;
    }
  }
  ConnectionTicket(ConnectionTicket&& other) noexcept
      : limiter_(std::exchange(other.limiter_, nullptr)), keys_(other.keys_) {}
  ConnectionTicket& operator=(ConnectionTicket&&) = delete;
  ConnectionTicket(const ConnectionTicket&) = delete;
  ~ConnectionTicket() {
    if (limiter_ != nullptr) limiter_->release(keys_);
  }
  // The connection's source authenticated (the first time only: one lock per connection).
  void authenticated() {
    if (limiter_ == nullptr || authenticated_) return;
    authenticated_ = true;
    limiter_->authenticated(keys_.source);
  }

 private:
  ConnectionLimiter* limiter_ = nullptr;
  ConnectionLimiter::Keys keys_;
  bool authenticated_ = false;
};

}  // namespace sbc::transport
