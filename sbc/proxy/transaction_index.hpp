#pragma once
// Finds server transactions by a 64-bit hash of their key (branch, sent-by, method) without
// allocating: open addressing with linear probing over a table sized once at start (twice the
// transaction capacity, a power of two), backward-shift deletion. Equal hashes may hold several
// slots: the caller's predicate checks the real key.

#include <cstdint>
#include <vector>

namespace sbc::proxy {

class TransactionIndex {
 public:
  explicit TransactionIndex(std::uint32_t capacity) {
    std::size_t size = 16;
    while (size < std::size_t{capacity} * 2) size <<= 1;
    entries_.resize(size);
    mask_ = size - 1;
  }

  void insert(std::uint64_t hash, std::uint32_t slot) noexcept {
    std::size_t i = hash & mask_;
    while (entries_[i].hash != 0) i = (i + 1) & mask_;
    entries_[i] = {hash, slot};
  }

  // Calls `match(slot)` for each slot stored under `hash` until it returns true.
  template <class Match>
  void find(std::uint64_t hash, Match&& match) const {
    for (std::size_t i = hash & mask_; entries_[i].hash != 0; i = (i + 1) & mask_)
      if (entries_[i].hash == hash && match(entries_[i].slot)) return;
  }

  void erase(std::uint64_t hash, std::uint32_t slot) noexcept {
    std::size_t i = hash & mask_;
    for (; entries_[i].hash != 0; i = (i + 1) & mask_)
      if (entries_[i].hash == hash && entries_[i].slot == slot) break;
    if (entries_[i].hash == 0) return;
    // Backward shift: pull later entries of the probe run into the hole when their home
    // position allows it, so lookups never stop early at an emptied entry.
    std::size_t hole = i;
    for (std::size_t j = (i + 1) & mask_; entries_[j].hash != 0; j = (j + 1) & mask_) {
      const std::size_t home = entries_[j].hash & mask_;
      const bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
      if (movable) {
        entries_[hole] = entries_[j];
        hole = j;
      }
    }
    entries_[hole] = {};
  }

 private:
  struct Entry {
    std::uint64_t hash = 0;  // 0: empty (keys are never 0)
    std::uint32_t slot = 0;
  };
  std::vector<Entry> entries_;
  std::size_t mask_ = 0;
};

}  // namespace sbc::proxy
