#pragma once
// A table keyed by source (attacker-controlled keys) with a hard size bound and no allocation
// after start: set-associative, 8 ways per bucket; a new source takes a free way or evicts the
// bucket's least recently used entry. Flooding it with fresh sources can evict others but never
// grows it. One per worker; not thread-safe.

#include <array>
#include <chrono>
#include <cstddef>
#include <vector>

#include "policy/source.hpp"

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
    Slot* bucket = &slots_[(key.hash() & mask_) * kWays];
    Slot* victim = nullptr;
    for (std::size_t i = 0; i < kWays; ++i) {
      Slot& s = bucket[i];
      if (s.used && s.key == key) {
        s.touched = now;
        fresh = false;
        return s.value;
      }
      if (!s.used) {
        if (victim == nullptr || victim->used) victim = &s;
      } else if (victim == nullptr || (victim->used && s.touched < victim->touched)) {
        victim = &s;
      }
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
    return victim->value;
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

  std::size_t size() const noexcept { return size_; }
  std::size_t capacity() const noexcept { return slots_.size(); }
  std::size_t evictions() const noexcept { return evictions_; }

  template <class F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.used) f(s.key, s.value);
  }

 private:
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
};

}  // namespace sbc::policy
