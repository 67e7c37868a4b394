#pragma once
// Concurrent calls per authenticated user, per source prefix and SBC-wide, counted across the
// workers without a lock (policy.calls: the fraud limits). A call from the outside takes a place
// in each of its scopes when its INVITE is relayed and gives it back when the call ends (a final
// failure, a BYE, the session timeout: dialog_table.hpp).
//
// Each worker writes only its own table; a check reads every worker's. A table is open
// addressing over 64-bit words, each holding a key (48 bits of a SipHash under a key drawn at
// start: an attacker cannot aim two users at one window) and that key's count (16 bits), so a
// reader sees a key and its count in one load, never one key's count under another's name. The
// writer reuses a word whose count fell to 0; readers scan a key's whole window, so a key has one
// word per table at most.
//
// Exact, never over the limit: a worker takes the place first (its count + 1), then sums every
// table (sequentially consistent on both sides, Dekker's pattern): of two workers racing for the
// last place, at least one sees both and gives its place back. Both may (a refusal that a later
// retry would not get); the limit is never exceeded.
//
// Memory: workers x slots x 8 bytes per scope (2 scopes keyed, 1 total counter per worker).

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "sbc/common/keyed_hash.hpp"

namespace sbc::proxy {

struct CallLimitSettings {
  std::uint32_t max_per_user = 0;    // 0: no limit (needs authentication at the edge)
  std::uint32_t max_per_source = 0;  // 0: no limit
  std::uint32_t max_total = 0;       // 0: no limit
  std::uint8_t source_prefix_v4 = 32;
  std::uint8_t source_prefix_v6 = 64;
  std::uint16_t reject_status = 403;  // 403, 486 or 503

  bool any() const noexcept { return max_per_user + max_per_source + max_total != 0; }
};

// Who refused a call: a limit of policy.calls, the limit's own table (Table), or the relay's
// dialog table (Dialogs: relay.max_dialogs).
enum class CallScope : std::uint8_t { None, User, Source, Total, Table, Dialogs };
std::string_view scope_name(CallScope scope) noexcept;

// The places a call holds: its keys (0: the scope does not count it) and whether it counts in
// the total. Kept by the dialog that releases them.
struct CallPlaces {
  std::uint64_t user = 0;
  std::uint64_t source = 0;
  bool total = false;
  bool any() const noexcept { return user != 0 || source != 0 || total; }
};

class CallCounts {
 public:
  // `slots_per_worker`: words of each worker's table per keyed scope (rounded up to a power of
  // two); more than the calls a worker may hold (its dialog table).
  CallCounts(unsigned workers, std::uint32_t slots_per_worker,
             const common::HashKey& key = common::random_hash_key());

  unsigned workers() const noexcept { return static_cast<unsigned>(tables_.size()); }
  // The keys of a call: of the authenticated user name (empty: none), of the source address
  // masked to its prefix.
  std::uint64_t user_key(std::string_view user) const noexcept;
  std::uint64_t source_key(std::string_view ip, const CallLimitSettings& limits) const noexcept;

  // On worker w: takes a place for a call in every scope `limits` bounds, or none and says which
  // scope refused (Table: the key's window in w's table is full).
  CallScope admit(unsigned w, const CallLimitSettings& limits, std::uint64_t user,
                  std::uint64_t source, CallPlaces& taken) noexcept;
  // On the worker that admitted it: gives the places back.
  void release(unsigned w, const CallPlaces& places) noexcept;

  // Calls counted now, summed over the workers (any thread).
  std::uint64_t total() const noexcept;
  std::uint32_t count_user(std::uint64_t key) const noexcept { return sum(Scope::User, key); }
  std::uint32_t count_source(std::uint64_t key) const noexcept { return sum(Scope::Source, key); }

 private:
  enum class Scope : std::uint8_t { User = 0, Source = 1 };
  static constexpr std::size_t kWindow = 16;
  static constexpr std::uint64_t kCountMask = 0xffff;
  struct Table {
    explicit Table(std::size_t size) : words(size) {}
    std::vector<std::atomic<std::uint64_t>> words;  // User scope, then Source scope
    alignas(64) std::atomic<std::int64_t> total{0};
  };

  std::atomic<std::uint64_t>* window(unsigned w, Scope scope, std::uint64_t key) const noexcept;
  bool take(unsigned w, Scope scope, std::uint64_t key) noexcept;
  void give_back(unsigned w, Scope scope, std::uint64_t key) noexcept;
  std::uint32_t sum(Scope scope, std::uint64_t key) const noexcept;

  common::HashKey key_;
  std::size_t scope_size_ = 0;  // words per scope, a power of two
  std::vector<std::unique_ptr<Table>> tables_;
};

}  // namespace sbc::proxy
