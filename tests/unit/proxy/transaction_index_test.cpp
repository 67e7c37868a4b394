#include "sbc/proxy/transaction_index.hpp"

#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <set>

using sbc::proxy::TransactionIndex;

namespace {
std::set<std::uint32_t> slots_of(const TransactionIndex& index, std::uint64_t hash) {
  std::set<std::uint32_t> found;
  index.find(hash, [&](std::uint32_t slot) {
    found.insert(slot);
    return false;  // keep looking: collect every slot under this hash
  });
  return found;
}
}  // namespace

TEST_CASE("transaction index agrees with a model through inserts and erases", "[relay][index]") {
  // 64 slots in a table of 128 entries; hashes from a small range, so probe runs collide, wrap
  // around the end of the table and hold equal hashes.
  TransactionIndex index(64);
  std::multimap<std::uint64_t, std::uint32_t> model;
  std::mt19937_64 random(7);
  std::vector<std::uint32_t> free_slots;
  for (std::uint32_t i = 0; i < 64; ++i) free_slots.push_back(i);
  for (int round = 0; round < 20000; ++round) {
    const bool insert = !free_slots.empty() && (model.empty() || random() % 2 == 0);
    if (insert) {
      const std::uint64_t hash = 1 + random() % 40 + (random() % 4) * 128;  // same home, other hash
      const std::uint32_t slot = free_slots.back();
      free_slots.pop_back();
      index.insert(hash, slot);
      model.emplace(hash, slot);
    } else {
      auto it = model.begin();
      std::advance(it, static_cast<long>(random() % model.size()));
      index.erase(it->first, it->second);
      free_slots.push_back(it->second);
      model.erase(it);
    }
    if (round % 97 == 0) {
      for (std::uint64_t hash = 1; hash < 41 + 3 * 128; ++hash) {
        std::set<std::uint32_t> expected;
        for (auto [lo, hi] = model.equal_range(hash); lo != hi; ++lo) expected.insert(lo->second);
        REQUIRE(slots_of(index, hash) == expected);
      }
    }
  }
}
