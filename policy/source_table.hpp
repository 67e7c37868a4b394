#pragma once
// A table keyed by source (attacker-controlled keys) with a hard size bound and no allocation
// after start: set-associative, 8 ways per bucket; a new source takes a free way or evicts the
// bucket's least recently used entry. Flooding it with fresh sources can evict others but never
// grows it. Buckets are chosen by a keyed hash (SourceKey::hash), so nobody can aim a flood at
// one bucket; entries that must not go (an active ban) are protected by the caller's `keep`
// predicate: when every way of the bucket is kept, the new entry is refused instead (counted
// in full()). One per worker; not thread-safe.

#include <array>
#include <chrono>
#include <cstddef>
#include <utility>
#include <vector>

#include "metrics/counter.hpp"
#include "sbc/common/address.hpp"

namespace sbc::policy {

using TimePoint = std::chrono::steady_clock::time_point;

template <class Value>
class SourceTable {
 public:
  static constexpr std::size_t kWays = 8;

  explicit SourceTable(std::size_t capacity) {
    std::size_t buckets = 1;
    while (buckets * kWays < capacity) buckets <<= 1;
    slots_.resize(buckets * kWays);
    mask_ = buckets - 1;
  }

  Value* find(const SourceKey& key, TimePoint now) noexcept {
    Slot* bucket = &slots_[(key.hash() & mask_) * kWays];
    for (std::size_t i = 0; i < kWays; ++i) {
      if (bucket[i].used && bucket[i].key == key) {
        bucket[i].touched = now;
        return &bucket[i].value;
      }
    }
    return nullptr;
  }

  // The entry of `key`; a new one (value-initialised) when absent. `fresh` tells which.
  Value& get(const SourceKey& key, TimePoint now, bool& fresh) noexcept {
    return get(key, now, fresh, [](const SourceKey&, const Value&) {});
  }
  // The same; `on_evict(key, value)` sees the entry that makes room, if one does.
  template <class OnEvict>
  Value& get(const SourceKey& key, TimePoint now, bool& fresh, OnEvict&& on_evict) noexcept {
    return *find_or_add(key, now, fresh, on_evict, [](const Value&) { return false; });
  }
  // The entry of `key`, or a new one in the place of the least recently used entry that
  // `keep(value)` lets go; nullptr when the bucket holds only entries to keep (counted).
  template <class Keep>
  Value* get_unless_full(const SourceKey& key, TimePoint now, bool& fresh, Keep&& keep) noexcept {
    return find_or_add(
        key, now, fresh, [](const SourceKey&, const Value&) {}, keep);
  }

  void erase(const SourceKey& key) noexcept {
    Slot* bucket = &slots_[(key.hash() & mask_) * kWays];
    for (std::size_t i = 0; i < kWays; ++i) {
      if (bucket[i].used && bucket[i].key == key) {
        bucket[i].used = false;
        bucket[i].value = Value{};
        --size_;
        return;
      }
    }
  }

  // Erases every entry `f(key, value)` is true of; how many.
  template <class F>
  std::size_t erase_if(F&& f) noexcept {
    std::size_t n = 0;
    for (Slot& s : slots_) {
      if (!s.used || !f(std::as_const(s.key), std::as_const(s.value))) continue;
      s.used = false;
      s.value = Value{};
      --size_;
      ++n;
    }
    return n;
  }

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return slots_.size(); }
  std::size_t evictions() const noexcept { return evictions_; }
  // New entries refused because their bucket held only entries to keep.
  const metrics::Counter& full() const noexcept { return full_; }

  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.used) f(s.key, s.value);
  }

 private:
  template <class OnEvict, class Keep>
  Value* find_or_add(const SourceKey& key, TimePoint now, bool& fresh, OnEvict&& on_evict,
                     Keep&& keep) noexcept {
    Slot* bucket = &slots_[(key.hash() & mask_) * kWays];
    Slot* victim = nullptr;
    for (std::size_t i = 0; i < kWays; ++i) {
      Slot& s = bucket[i];
      if (s.used && s.key == key) {
        s.touched = now;
        fresh = false;
        return &s.value;
      }
      if (!s.used) {
        if (victim == nullptr || victim->used) victim = &s;
      } else if (!keep(std::as_const(s.value)) &&
                 (victim == nullptr || (victim->used && s.touched < victim->touched))) {
        victim = &s;
      }
    }
    if (victim == nullptr) {
      full_.inc();
      fresh = false;
      return nullptr;
    }
    if (!victim->used) ++size_;
    if (victim->used) {
      ++evictions_;
      on_evict(victim->key, victim->value);
    }
    victim->used = true;
    victim->key = key;
    victim->touched = now;
    victim->value = Value{};
    fresh = true;
    return &victim->value;
  }

  struct Slot {
    bool used = false;
    SourceKey key;
    TimePoint touched{};
    Value value{};
  };
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t evictions_ = 0;
  metrics::Counter full_;
};

}  // namespace sbc::policy
