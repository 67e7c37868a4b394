#include "sbc/proxy/core_set.hpp"

#include <algorithm>
#include <memory>

#include "sbc/crypto/random.hpp"
#include "sbc/proxy/addresses.hpp"
#include "sbc/proxy/branches.hpp"
#include "sbc/sip/writer.hpp"

namespace sbc::proxy {
namespace {
// Without probes (Passive), a failed core is retried after this.
constexpr std::chrono::seconds kHoldWithoutProbes{30};
constexpr unsigned kMissedProbesForDown = 2;
}  // namespace

CoreSet::CoreSet(const std::vector<CoreTarget>& cores, std::chrono::milliseconds probe_interval,
                 Health health, StateListener on_state)
    : cores_(kMaxCores),
      health_(kMaxCores),
      // Options without an interval probes nothing: that is Passive.
      probe_interval_(health == Health::Options ? probe_interval : std::chrono::milliseconds{0}),
      mode_(health == Health::Options && probe_interval.count() == 0 ? Health::Passive : health),
      on_state_(std::move(on_state)) {
  for (std::size_t i = 0; i < kMaxCores; ++i) stats_.push_back(std::make_unique<CoreStats>());
  const std::size_t n = std::min(cores.size(), kMaxCores);
  for (std::size_t i = 0; i < n; ++i) activate(i, cores[i]);
  used_.store(n, std::memory_order_release);
}

void CoreSet::activate(std::size_t i, const CoreTarget& target) {
  cores_[i] = target;
  health_[i] = CoreHealthState{};
  stats_[i]->up.store(true, std::memory_order_relaxed);
  stats_[i]->active.store(true, std::memory_order_relaxed);
  stats_[i]->drained.store(false, std::memory_order_relaxed);
}

void CoreSet::set_drained(std::size_t i, bool drained) noexcept {
  health_[i].drained = drained;
  stats_[i]->drained.store(drained, std::memory_order_relaxed);
}

std::size_t CoreSet::replace(const std::vector<CoreTarget>& targets, TimePoint now,
                             std::chrono::milliseconds reuse_after) {
  const std::size_t used = size();
  auto same = [](const CoreTarget& a, const CoreTarget& b) {
    return a.ip == b.ip && a.port == b.port && a.protocol == b.protocol;
  };
  std::vector<bool> keep(used, false);
  std::vector<const CoreTarget*> added;
  for (const CoreTarget& target : targets) {
    std::size_t i = 0;
    while (i < used && !same(cores_[i], target)) ++i;
    if (i == used) {
      if (std::none_of(added.begin(), added.end(),
                       [&](const CoreTarget* a) { return same(*a, target); }))
        added.push_back(&target);
      continue;
    }
    keep[i] = true;
    cores_[i].priority = target.priority;
    cores_[i].weight = target.weight;
    if (!health_[i].active) activate(i, target);  // back before its index was reused
  }
  for (std::size_t i = 0; i < used; ++i) {
    if (keep[i] || !health_[i].active) continue;
    health_[i].active = false;
    health_[i].retired_at = now;
    stats_[i]->active.store(false, std::memory_order_relaxed);
  }
  std::size_t next = used, dropped = 0;
  for (const CoreTarget* target : added) {
    std::size_t i = 0;
    while (i < used && (health_[i].active || keep[i] || now - health_[i].retired_at < reuse_after))
      ++i;
    if (i == used) i = next < kMaxCores ? next++ : kMaxCores;
    if (i == kMaxCores) {
      ++dropped;
      continue;
    }
    keep.resize(std::max(keep.size(), i + 1), false);
    keep[i] = true;
    activate(i, *target);
  }
  used_.store(next, std::memory_order_release);
  return dropped;
}

bool CoreSet::usable(std::size_t i, TimePoint now) const noexcept {
  const CoreHealthState& h = health_[i];
  if (!h.active || h.drained) return false;
  if (h.up || mode_ == Health::Off) return true;
  return mode_ == Health::Passive && now >= h.down_until;
}

void CoreSet::set_up(std::size_t i, bool up, std::string_view reason) noexcept {
  if (health_[i].up == up) return;
  health_[i].up = up;
  stats_[i]->up.store(up, std::memory_order_relaxed);
  if (on_state_) on_state_(cores_[i], up, reason);
}

std::optional<std::size_t> CoreSet::choose(std::uint64_t tried, TimePoint now) noexcept {
  unsigned best_priority = ~0u;
  for (std::size_t i = 0; i < size(); ++i)
    if ((tried >> i & 1u) == 0 && usable(i, now))
      best_priority = std::min(best_priority, cores_[i].priority);
  if (best_priority == ~0u) return std::nullopt;
  // Smooth weighted round robin among the cores of the best priority.
  std::int64_t total = 0;
  std::optional<std::size_t> pick;
  for (std::size_t i = 0; i < size(); ++i) {
    if ((tried >> i & 1u) != 0 || !usable(i, now) || cores_[i].priority != best_priority) continue;
    const auto weight = static_cast<std::int64_t>(std::max(1u, cores_[i].weight));
    health_[i].current_weight += weight;
    total += weight;
    if (!pick || health_[i].current_weight > health_[*pick].current_weight) pick = i;
  }
  health_[*pick].current_weight -= total;
  return pick;
}

std::optional<std::size_t> CoreSet::find(std::string_view ip, std::uint16_t port) const noexcept {
  for (std::size_t i = 0; i < size(); ++i)
    if (cores_[i].ip == ip && cores_[i].port == port) return i;
  return std::nullopt;
}

bool CoreSet::any_up() const noexcept {
  for (std::size_t i = 0; i < size(); ++i)
    if (health_[i].active && health_[i].up) return true;
  return false;
}

void CoreSet::failed(std::size_t i, TimePoint now, std::string_view reason) noexcept {
  stats_[i]->failures.inc();
  if (mode_ == Health::Off) return;
  set_up(i, false, reason);
  health_[i].down_until = now + kHoldWithoutProbes;
}

void CoreSet::answered(std::size_t i) noexcept {
  if (mode_ == Health::Passive && i < size() && health_[i].active)
    set_up(i, true, "answered a request");
}

std::uint64_t CoreSet::probes_due(TimePoint now) noexcept {
  if (probe_interval_.count() == 0 || now < next_probe_) return 0;
  next_probe_ = now + probe_interval_;
  std::uint64_t due = 0;
  for (std::size_t i = 0; i < size(); ++i) {
    CoreHealthState& h = health_[i];
    if (!h.active) continue;
    if (h.outstanding && ++h.missed >= kMissedProbesForDown) set_up(i, false, "probes unanswered");
    h.outstanding = true;
    ++h.sequence;
    h.nonce = sbc::crypto::random_u64();
    h.probe_sent = now;
    stats_[i]->probes.inc();
    due |= std::uint64_t{1} << i;
  }
  return due;
}

bool CoreSet::probe_answered(std::size_t i, std::uint64_t nonce, bool overloaded,
                             TimePoint now) noexcept {
  if (i >= size() || !health_[i].active) return false;
  CoreHealthState& h = health_[i];
  if (nonce != h.nonce || !h.outstanding) return false;  // forged, or late (an older probe)
  h.outstanding = false;
  h.missed = 0;
  if (now != TimePoint{}) {
    h.answered_at = now;
    h.round_trip = std::chrono::duration_cast<std::chrono::microseconds>(now - h.probe_sent);
  }
  set_up(i, !overloaded, overloaded ? "503 to a probe" : "answered a probe");
  return true;
}

std::size_t CoreSet::write_probe(std::size_t i, std::string_view inside_ip,
                                 std::uint16_t inside_port, std::span<char> out) const noexcept {
  const CoreTarget& core = cores_[i];
  const std::uint32_t sequence = health_[i].sequence;
  std::array<char, detail::kProbeBranchSize> branch;
  sip::Writer w(out);
  w << "OPTIONS sip:";
  w.host(core.ip) << ":" << static_cast<unsigned>(core.port);
  if (core.protocol != sbc::Protocol::Udp) w << ";transport=" << sbc::transport_name(core.protocol);
  w << " SIP/2.0\r\nVia: ";
  detail::write_via(w, core.protocol, inside_ip, inside_port,
                    detail::write_probe_branch(branch.data(), i, health_[i].nonce));
  w << "\r\nMax-Forwards: 70\r\nFrom: <sip:sbc@";
  w.host(inside_ip) << ">;tag=probe\r\nTo: <sip:";
  w.host(core.ip) << ":" << static_cast<unsigned>(core.port) << ">\r\nCall-ID: probe-";
  w.hex(i, 2) << "-";
  w.hex(sequence, 8) << "@";
  w.host(inside_ip) << "\r\nCSeq: " << sequence << " OPTIONS\r\nContent-Length: 0\r\n\r\n";
  return w.ok() ? w.view().size() : 0;
}

bool CoreSet::probe_answered(std::string_view branch, bool overloaded, TimePoint now) noexcept {
  std::uint64_t index = 0, nonce = 0;
  return detail::parse_probe_branch(branch, index, nonce) &&
         probe_answered(static_cast<std::size_t>(index), nonce, overloaded, now);
}

}  // namespace sbc::proxy
