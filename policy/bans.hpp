#pragma once
// Banned sources (fail2ban-like): a ban lasts `base` the first time and doubles for every
// repeat offence up to `max`. Banned sources are dropped before their messages are parsed.
// Bounded (SourceTable); one per worker.
//
// A ban has a scope, because its evidence may have been forged. A UDP datagram's source address
// is whatever its sender wrote: evidence seen only in such datagrams bans that address over UDP
// only, so a forger cannot cut a victim off its TCP or TLS connections. Evidence from a verified
// address (a TCP or TLS connection, whose handshake proved it, or a datagram answering a Digest
// nonce this SBC issued to that address) bans it over every transport.
//
// An active ban is never evicted to make room: a bucket full of active bans refuses the new one
// (counted: sbc_policy_table_full_total{table="bans"}), so a banned attacker cannot free itself
// by getting other addresses banned.

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string_view>

#include "metrics/counter.hpp"
#include "policy/source_table.hpp"

namespace sbc::policy {

struct BanSettings {
  std::chrono::seconds base{60};
  std::chrono::seconds max{86400};
  std::size_t max_entries = 65536;
};

// What a ban covers: nothing (the evidence may not ban: a trusted peer, or an authenticated one
// on evidence anyone could have forged), datagrams over UDP, or every transport.
enum class BanScope : std::uint8_t { None, Udp, All };

// Strikes against one source (failed authentications, flood drops), split by what they prove: a
// ban over every transport needs `limit` verified strikes; unverified ones add up with those to
// a ban over UDP only.
struct StrikeCount {
  std::uint32_t verified = 0;
  std::uint32_t unverified = 0;
  // Adds `n` strikes whose evidence allows `scope`; the scope of the ban they earn (None: none).
  BanScope add(BanScope scope, unsigned n, unsigned limit) noexcept {
    if (scope == BanScope::None || limit == 0) return BanScope::None;
    if (scope == BanScope::All) {
      verified += n;
      if (verified >= limit) {
        verified = unverified = 0;
        return BanScope::All;
      }
    } else {
      unverified += n;
    }
    if (verified + unverified < limit) return BanScope::None;
    unverified = 0;
    return BanScope::Udp;
  }
  void clear() noexcept { verified = unverified = 0; }
};

// Why a source is banned, for the operator (`sbc ctl bans`): the stage and its reason, both
// string constants of the program (a stage's name and its reason labels).
struct BanCause {
  std::string_view stage = "operator";
  std::string_view reason = "imposed";
};

// A running ban as `sbc ctl bans` shows it.
struct BanRecord {
  TimePoint until;
  BanScope scope;
  BanCause cause;
  TimePoint since;         // when this ban started
  std::uint32_t offences;  // bans of this source so far (each doubles the next)
};

class BanTable {
 public:
  explicit BanTable(const BanSettings& settings)
      : settings_(settings), table_(settings.max_entries) {}

  // Whether a message from `key` over UDP (`udp`) or a stream is banned.
  bool banned(const SourceKey& key, TimePoint now, bool udp) noexcept {
    const Entry* e = table_.find(key, now);
    return e != nullptr && (e->all_until > now || (udp && e->udp_until > now));
  }
  // Bans (again) over `scope` and returns how long; zero when the table had no room (or the
  // scope is None). The listener hears of every new ban (the daemon tells the other workers,
  // which impose() it on their own tables).
  std::chrono::seconds ban(const SourceKey& key, TimePoint now, BanScope scope,
                           BanCause cause = {}) noexcept {
    if (scope == BanScope::None) return std::chrono::seconds(0);
    bool fresh = false;
    Entry* e = table_.get_unless_full(key, now, fresh, Active{now});
    if (e == nullptr) return std::chrono::seconds(0);
    const TimePoint running =
        scope == BanScope::All ? e->all_until : std::max(e->all_until, e->udp_until);
    if (running > now) return std::chrono::duration_cast<std::chrono::seconds>(running - now);
    ++e->offences;
    auto length = settings_.base;
    for (std::uint32_t i = 1; i < e->offences && length < settings_.max; ++i) length *= 2;
    if (length > settings_.max) length = settings_.max;
    (scope == BanScope::All ? e->all_until : e->udp_until) = now + length;
    e->cause = cause;
    e->since = now;
    bans_.inc();
    if (listener_) listener_(key, BanRecord{now + length, scope, cause, now, e->offences});
    return length;
  }
  // A ban decided elsewhere (another worker): until `until` over `scope`, without counting an
  // offence here.
  void impose(const SourceKey& key, const BanRecord& ban, TimePoint now) noexcept {
    if (ban.scope == BanScope::None) return;
    bool fresh = false;
    Entry* e = table_.get_unless_full(key, now, fresh, Active{now});
    if (e == nullptr) return;
    TimePoint& field = ban.scope == BanScope::All ? e->all_until : e->udp_until;
    if (field < ban.until) {
      field = ban.until;
      e->cause = ban.cause;
      e->since = ban.since;
      e->offences = std::max(e->offences, ban.offences);
    }
  }
  // Every new ban (to impose it on the other workers).
  using Listener = std::function<void(const SourceKey&, const BanRecord&)>;
  void set_listener(Listener listener) { listener_ = std::move(listener); }
  // Sources banned at `now` (the scrape's figure; a walk over the table).
  std::size_t active(TimePoint now) const {
    std::size_t n = 0;
    table_.for_each([&](const SourceKey&, const Entry& e) {
      if (Active{now}(e)) ++n;
    });
    return n;
  }
  // Every ban still running at `now`: f(key, BanRecord) (twice for a source banned over UDP
  // for longer than over every transport).
  template <class F>
  void for_each_active(TimePoint now, F&& f) const {
    table_.for_each([&](const SourceKey& key, const Entry& e) {
      if (e.all_until > now)
        f(key, BanRecord{e.all_until, BanScope::All, e.cause, e.since, e.offences});
      if (e.udp_until > now && e.udp_until > e.all_until)
        f(key, BanRecord{e.udp_until, BanScope::Udp, e.cause, e.since, e.offences});
    });
  }
  // Lifts the ban of `key` (an operator's pardon: its repeat count goes too); false when it had
  // none running.
  bool lift(const SourceKey& key, TimePoint now) noexcept {
    const Entry* e = table_.find(key, now);
    if (e == nullptr || !Active{now}(*e)) return false;
    table_.erase(key);
    return true;
  }
  // Lifts every ban running at `now` whose source `pred(key)` accepts (`sbc ctl unban PREFIX`),
  // repeat counts too; how many sources.
  template <class Pred>
  std::size_t lift_if(TimePoint now, Pred&& pred) {
    return table_.erase_if(
        [&](const SourceKey& key, const Entry& e) { return Active{now}(e) && pred(key); });
  }
  const metrics::Counter& bans() const noexcept { return bans_; }
  // Bans refused because the source's bucket held only active bans.
  const metrics::Counter& full() const noexcept { return table_.full(); }

 private:
  struct Entry {
    TimePoint udp_until{};
    TimePoint all_until{};
    std::uint32_t offences = 0;
    BanCause cause;
    TimePoint since{};
  };
  struct Active {
    TimePoint now;
    bool operator()(const Entry& e) const noexcept {
      return e.udp_until > now || e.all_until > now;
    }
  };
  BanSettings settings_;
  SourceTable<Entry> table_;
  Listener listener_;
  metrics::Counter bans_;
};

}  // namespace sbc::policy
