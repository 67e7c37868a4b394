#pragma once
// Banned sources (fail2ban-like): a ban lasts `base` the first time and doubles for every
// repeat offence up to `max`. Banned sources are dropped before their messages are parsed.
// Bounded (SourceTable); one per worker.

#include <chrono>
#include <cstdint>
#include <functional>

#include "metrics/counter.hpp"
#include "policy/source_table.hpp"

namespace sbc::policy {

struct BanSettings {
  std::chrono::seconds base{60};
  std::chrono::seconds max{86400};
  std::size_t max_entries = 65536;
};

class BanTable {
 public:
  explicit BanTable(const BanSettings& settings)
      : settings_(settings), table_(settings.max_entries) {}

  bool banned(const SourceKey& key, TimePoint now) noexcept {
    const Entry* e = table_.find(key, now);
    return e != nullptr && e->until > now;
  }
  // Bans (again) and returns how long. The listener hears of every new ban (the daemon tells
  // the other workers, which impose() it on their own tables).
  std::chrono::seconds ban(const SourceKey& key, TimePoint now) noexcept {
    bool fresh = false;
    Entry& e = table_.get(key, now, fresh);
    if (e.until > now) return std::chrono::duration_cast<std::chrono::seconds>(e.until - now);
    ++e.offences;
    auto length = settings_.base;
    for (std::uint32_t i = 1; i < e.offences && length < settings_.max; ++i) length *= 2;
    if (length > settings_.max) length = settings_.max;
    e.until = now + length;
    bans_.inc();
    if (listener_) listener_(key, e.until);
    return length;
  }
  // A ban decided elsewhere (another worker): until `until`, without counting an offence here.
  void impose(const SourceKey& key, TimePoint until, TimePoint now) noexcept {
    bool fresh = false;
    Entry& e = table_.get(key, now, fresh);
    if (e.until < until) e.until = until;
  }
  using Listener = std::function<void(const SourceKey&, TimePoint until)>;
  void set_listener(Listener listener) { listener_ = std::move(listener); }
  // Sources banned at `now` (the scrape's figure; a walk over the table).
  std::size_t active(TimePoint now) const {
    std::size_t n = 0;
    table_.for_each([&](const SourceKey&, const Entry& e) {
      if (e.until > now) ++n;
    });
    return n;
  }
  // Every ban still running at `now`: f(key, until).
  template <class F>
  void for_each_active(TimePoint now, F&& f) const {
    table_.for_each([&](const SourceKey& key, const Entry& e) {
      if (e.until > now) f(key, e.until);
    });
  }
  const metrics::Counter& bans() const noexcept { return bans_; }

 private:
  struct Entry {
    TimePoint until{};
    std::uint32_t offences = 0;
  };
  BanSettings settings_;
  SourceTable<Entry> table_;
  Listener listener_;
  metrics::Counter bans_;
};

}  // namespace sbc::policy
