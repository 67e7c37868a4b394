#include "sbc/proxy/call_counts.hpp"

#include <algorithm>
#include <array>

#include "sbc/common/address.hpp"

namespace sbc::proxy {

std::string_view scope_name(CallScope scope) noexcept {
  switch (scope) {
    case CallScope::User:
      return "user";
    case CallScope::Source:
      return "source";
    case CallScope::Total:
      return "total";
    case CallScope::Table:
      return "table";
    case CallScope::Dialogs:
      return "dialogs";
    case CallScope::None:
      break;
  }
  return "none";
}

namespace {

// The key's bits in a word (the low 16 hold its count); never 0, which no word names.
std::uint64_t word_key(std::uint64_t hash) noexcept {
  const std::uint64_t key = hash & ~std::uint64_t{0xffff};
  return key != 0 ? key : std::uint64_t{1} << 16;
}

}  // namespace

CallCounts::CallCounts(unsigned workers, std::uint32_t slots_per_worker, const common::HashKey& key)
    : key_(key) {
  scope_size_ = 64;
  while (scope_size_ < slots_per_worker) scope_size_ <<= 1;
  // Each scope's last window runs past its end rather than wrapping round.
  for (unsigned w = 0; w < workers; ++w)
    tables_.push_back(std::make_unique<Table>(2 * (scope_size_ + kWindow)));
}

std::uint64_t CallCounts::user_key(std::string_view user) const noexcept {
  if (user.empty()) return 0;
  return word_key(common::siphash24(key_, user));
}

std::uint64_t CallCounts::source_key(std::string_view ip,
                                     const CallLimitSettings& limits) const noexcept {
  const auto parsed = sbc::parse_address(ip);
  if (!parsed) return 0;
  std::array<std::uint8_t, 17> bytes{};
  std::copy(parsed->begin(), parsed->end(), bytes.begin());
  const bool v4 =
      std::all_of(parsed->begin(), parsed->begin() + 10, [](auto b) { return b == 0; }) &&
      (*parsed)[10] == 0xff && (*parsed)[11] == 0xff;
  const unsigned bits = v4 ? 96u + limits.source_prefix_v4 : limits.source_prefix_v6;
  for (unsigned i = 0; i < 16; ++i) {
    const unsigned kept = bits > i * 8 ? bits - i * 8 : 0;
    if (kept < 8) bytes[i] &= static_cast<std::uint8_t>(0xff00u >> kept);
  }
  bytes[16] = static_cast<std::uint8_t>(bits);  // 10.0.0.0/8 and 10.0.0.0/16 differ
  return word_key(common::siphash24(key_, std::span<const std::uint8_t>(bytes)));
}

std::atomic<std::uint64_t>* CallCounts::window(unsigned w, Scope scope,
                                               std::uint64_t key) const noexcept {
  const std::size_t start = (key >> 16) & (scope_size_ - 1);
  return tables_[w]->words.data() + static_cast<std::size_t>(scope) * (scope_size_ + kWindow) +
         start;
}

// Only worker w writes its table: a plain load, then a store, is its read-modify-write.
bool CallCounts::take(unsigned w, Scope scope, std::uint64_t key) noexcept {
  std::atomic<std::uint64_t>* words = window(w, scope, key);
  std::atomic<std::uint64_t>* free = nullptr;
  for (std::size_t i = 0; i < kWindow; ++i) {
    const std::uint64_t word = words[i].load(std::memory_order_relaxed);
    if ((word & ~kCountMask) == key) {
      if ((word & kCountMask) == kCountMask) return false;
      words[i].store(word + 1);
      return true;
    }
    if ((word & kCountMask) == 0 && free == nullptr) free = &words[i];
  }
  if (free == nullptr) return false;
  free->store(key | 1);
  return true;
}

void CallCounts::give_back(unsigned w, Scope scope, std::uint64_t key) noexcept {
  std::atomic<std::uint64_t>* words = window(w, scope, key);
  for (std::size_t i = 0; i < kWindow; ++i) {
    const std::uint64_t word = words[i].load(std::memory_order_relaxed);
    if ((word & ~kCountMask) == key && (word & kCountMask) != 0) {
      words[i].store(word - 1);
      return;
    }
  }
}

std::uint32_t CallCounts::sum(Scope scope, std::uint64_t key) const noexcept {
  std::uint32_t total = 0;
  for (unsigned w = 0; w < tables_.size(); ++w) {
    const std::atomic<std::uint64_t>* words = window(w, scope, key);
    for (std::size_t i = 0; i < kWindow; ++i) {
      const std::uint64_t word = words[i].load();
      if ((word & ~kCountMask) == key) {
        total += static_cast<std::uint32_t>(word & kCountMask);
        break;
      }
    }
  }
  return total;
}

std::uint64_t CallCounts::total() const noexcept {
  std::int64_t n = 0;
  for (const auto& t : tables_) n += t->total.load();
  return n > 0 ? static_cast<std::uint64_t>(n) : 0;
}

CallScope CallCounts::admit(unsigned w, const CallLimitSettings& limits, std::uint64_t user,
                            std::uint64_t source, CallPlaces& taken) noexcept {
  taken = {};
  const auto refuse = [&](CallScope scope) {
    release(w, taken);
    taken = {};
    return scope;
  };
  if (limits.max_total != 0) {
    tables_[w]->total.fetch_add(1);
    taken.total = true;
    if (total() > limits.max_total) return refuse(CallScope::Total);
  }
  if (limits.max_per_user != 0 && user != 0) {
    if (!take(w, Scope::User, user)) return refuse(CallScope::Table);
    taken.user = user;
    if (sum(Scope::User, user) > limits.max_per_user) return refuse(CallScope::User);
  }
  if (limits.max_per_source != 0 && source != 0) {
    if (!take(w, Scope::Source, source)) return refuse(CallScope::Table);
    taken.source = source;
    if (sum(Scope::Source, source) > limits.max_per_source) return refuse(CallScope::Source);
  }
  return CallScope::None;
}

void CallCounts::release(unsigned w, const CallPlaces& places) noexcept {
  if (places.source != 0) give_back(w, Scope::Source, places.source);
  if (places.user != 0) give_back(w, Scope::User, places.user);
  if (places.total) tables_[w]->total.fetch_sub(1);
}

}  // namespace sbc::proxy
