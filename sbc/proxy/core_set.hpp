#pragma once
// The cores a worker's relay sends to: which are usable, which one a new request goes to, and
// their health. One per relay (per worker), so it needs no lock; the scrape reads the per-core
// flags and counters (single writer each).
//
// Choosing: the usable cores with the lowest priority value, shared by weight with smooth
// weighted round robin (deterministic, no randomness on the message path). Health follows
// RelaySettings::CoreHealth: with OPTIONS probes (every interval; two unanswered in a row, or a
// 503, mark a core down, any other answer up) a core marked down by a failure (timeout, 503)
// comes back when it answers a probe; passively, it is tried again after a hold time and an
// answer to a request marks it up; or not at all (every core always in rotation). Every change
// of state is reported with its reason (RelaySettings::on_core_state).
//
// The set may change while running (cores by DNS name, replace()): a core keeps its index while
// it stays, since transactions in flight and probe branches name cores by index; a core that
// leaves is retired (never chosen or probed, still found for its transactions in flight) and its
// index is given to another core only long after.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "metrics/counter.hpp"
#include "sbc/proxy/relay_settings.hpp"

namespace sbc::proxy {

struct CoreStats {
  metrics::Counter requests;   // new requests sent to this core (first tries and failovers)
  metrics::Counter failures;   // timeouts and 503s that made us try another core
  metrics::Counter probes;     // OPTIONS probes sent
  std::atomic<bool> up{true};  // as this worker sees it
  // False once the core left the set (a DNS name stopped naming it): the scrape skips it.
  std::atomic<bool> active{false};
  // Taken out of rotation by an operator (sbc ctl core drain): no new transactions, still probed.
  std::atomic<bool> drained{false};
};

class CoreSet {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::size_t kMaxCores = 64;  // `tried` masks are 64 bits

  using Health = RelaySettings::CoreHealth;
  using StateListener = std::function<void(const CoreTarget&, bool up, std::string_view reason)>;

  CoreSet(const std::vector<CoreTarget>& cores, std::chrono::milliseconds probe_interval,
          Health health = Health::Options, StateListener on_state = {});

  // Indexes in use, active or retired (the scrape reads it from another thread).
  std::size_t size() const noexcept { return used_.load(std::memory_order_acquire); }
  bool active(std::size_t i) const noexcept { return health_[i].active; }
  const CoreTarget& target(std::size_t i) const noexcept { return cores_[i]; }
  CoreStats& stats(std::size_t i) noexcept { return *stats_[i]; }
  const CoreStats& stats(std::size_t i) const noexcept { return *stats_[i]; }

  // The core for a new request, skipping those in `tried` (bit i = core i); none when no core
  // is usable.
  std::optional<std::size_t> choose(std::uint64_t tried, TimePoint now) noexcept;
  // The index of the core at ip:port, if it is one of ours.
  std::optional<std::size_t> find(std::string_view ip, std::uint16_t port) const noexcept;
  bool any_up() const noexcept;

  // Makes `targets` the set: a core already in it (same address, port and transport) keeps its
  // index, health and counters; new ones take a free index, or one retired for at least
  // `reuse_after`; the others are retired. Returns how many targets found no index (at most
  // kMaxCores are usable at once).
  std::size_t replace(const std::vector<CoreTarget>& targets, TimePoint now,
                      std::chrono::milliseconds reuse_after);

  // An operator's drain (true) or enable (false) of core i: a drained core gets no new
  // transaction but finishes those it has (find() still names it) and is still probed, so it
  // is known up or down when enabled again. Kept while the core stays in the set.
  void set_drained(std::size_t i, bool drained) noexcept;
  bool drained(std::size_t i) const noexcept { return health_[i].drained; }

  // A request to core i failed (`reason`: no answer, 503, unreachable): out of rotation until it
  // answers a probe (Options) or for a hold time (Passive); counted only (Off).
  void failed(std::size_t i, TimePoint now, std::string_view reason) noexcept;
  // Core i answered a request (anything but 503): up again when health is Passive.
  void answered(std::size_t i) noexcept;

  // Probes: which cores to probe now (bit mask), with their sequence numbers advanced and a new
  // nonce each. The nonce (64 bits from the CSPRNG) is what an answer must name: a predictable
  // counter would let anyone who can send to the inside socket forge a 503 and mark the core down.
  std::uint64_t probes_due(TimePoint now) noexcept;
  std::uint32_t probe_sequence(std::size_t i) const noexcept { return health_[i].sequence; }
  std::uint64_t probe_nonce(std::size_t i) const noexcept { return health_[i].nonce; }
  // An answer naming `nonce` for core i, at `now` (its round-trip time is kept when given);
  // false (and ignored) unless it is the outstanding probe's.
  bool probe_answered(std::size_t i, std::uint64_t nonce, bool overloaded,
                      TimePoint now = {}) noexcept;
  // When core i last answered a probe (TimePoint{}: never) and how long that probe took.
  struct ProbeTimes {
    TimePoint answered{};
    std::chrono::microseconds round_trip{0};
  };
  ProbeTimes probe_times(std::size_t i) const noexcept {
    return {health_[i].answered_at, health_[i].round_trip};
  }
  // The OPTIONS probe of core i (its current sequence number and nonce, named by the branch of
  // our Via) from us at `inside_ip`:`inside_port`, into `out`: its size, 0 if it does not fit.
  std::size_t write_probe(std::size_t i, std::string_view inside_ip, std::uint16_t inside_port,
                          std::span<char> out) const noexcept;
  // An answer to one of our probes, by the branch of its top Via: false (and ignored) unless it
  // names the outstanding probe of a core (forged, late).
  bool probe_answered(std::string_view branch, bool overloaded, TimePoint now = {}) noexcept;

 private:
  struct CoreHealthState {
    bool active = true;
    bool drained = false;
    TimePoint retired_at{};
    bool up = true;
    TimePoint down_until{};
    unsigned missed = 0;
    bool outstanding = false;
    std::uint32_t sequence = 0;
    std::uint64_t nonce = 0;
    TimePoint probe_sent{}, answered_at{};
    std::chrono::microseconds round_trip{0};
    std::int64_t current_weight = 0;  // smooth weighted round robin
  };
  bool usable(std::size_t i, TimePoint now) const noexcept;
  void activate(std::size_t i, const CoreTarget& target);
  void set_up(std::size_t i, bool up, std::string_view reason) noexcept;

  // kMaxCores entries each, allocated once: indexes below used_ are in use.
  std::vector<CoreTarget> cores_;
  std::vector<CoreHealthState> health_;
  std::vector<std::unique_ptr<CoreStats>> stats_;
  std::atomic<std::size_t> used_{0};
  std::chrono::milliseconds probe_interval_;  // 0: no probes (Passive, Off)
  Health mode_;
  StateListener on_state_;
  TimePoint next_probe_{};
};

}  // namespace sbc::proxy
