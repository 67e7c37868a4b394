#include "sbc/proxy/dialog_table.hpp"

namespace sbc::proxy {

DialogTable::DialogTable(std::uint32_t capacity, CallCounts* counts, unsigned worker,
                         const common::HashKey& key)
    : counts_(counts), worker_(worker), key_(key), slots_(capacity), index_(capacity) {
  free_.reserve(capacity);
  for (std::uint32_t i = capacity; i > 0; --i) free_.push_back(i - 1);
}

std::uint64_t DialogTable::key(std::string_view inside_call_id, std::string_view caller_tag,
                               bool from_outside) const noexcept {
  const std::uint64_t call = common::siphash24(key_, inside_call_id);
  const std::uint64_t k = common::siphash24(
      common::HashKey{key_.k0 ^ call, key_.k1 ^ (from_outside ? 1u : 0u)}, caller_tag);
  return k != 0 ? k : 1;  // the index's keys are never 0
}

DialogTable::Ref DialogTable::open(std::uint64_t key, const CallPlaces& places, bool from_outside,
                                   TimePoint expires) noexcept {
  if (free_.empty()) return {};
  const std::uint32_t slot = free_.back();
  free_.pop_back();
  Dialog& d = slots_[slot];
  d.key = key;
  d.state = State::Attempt;
  d.from_outside = from_outside;
  d.places = places;
  d.expires = expires;
  index_.insert(key, slot);
  active_.store(active_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return {slot, d.generation};
}

DialogTable::Dialog* DialogTable::get(Ref ref) noexcept {
  if (!ref || ref.slot >= slots_.size()) return nullptr;
  Dialog& d = slots_[ref.slot];
  return d.state != State::Free && d.generation == ref.generation ? &d : nullptr;
}

DialogTable::Dialog* DialogTable::find_key(std::uint64_t key) noexcept {
  Dialog* found = nullptr;
  index_.find(key, [&](std::uint32_t slot) {
    found = &slots_[slot];
    return true;
  });
  return found;
}

DialogTable::Dialog* DialogTable::find(std::string_view inside_call_id, std::string_view from_tag,
                                       std::string_view to_tag,
                                       bool request_from_outside) noexcept {
  if (free_.size() == slots_.size()) return nullptr;
  if (Dialog* d = find_key(key(inside_call_id, from_tag, request_from_outside))) return d;
  return to_tag.empty() ? nullptr : find_key(key(inside_call_id, to_tag, !request_from_outside));
}

void DialogTable::establish(Dialog& d, TimePoint expires) noexcept {
  if (d.state == State::Attempt)
    established_.store(established_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  d.state = State::Established;
  d.expires = expires;
}

void DialogTable::close(Dialog& d) noexcept {
  if (d.state == State::Free) return;
  if (on_close_) on_close_(d);
  if (d.state == State::Established)
    established_.store(established_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  active_.store(active_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  if (counts_ != nullptr && d.places.any()) counts_->release(worker_, d.places);
  const auto slot = static_cast<std::uint32_t>(&d - slots_.data());
  index_.erase(d.key, slot);
  const std::uint32_t generation = d.generation + 1;
  std::string call_id = std::move(d.call_id);
  call_id.clear();
  d = Dialog{};
  d.call_id = std::move(call_id);
  d.generation = generation != 0 ? generation : 1;
  free_.push_back(slot);
}

std::size_t DialogTable::expire(TimePoint now, std::size_t budget) noexcept {
  if (free_.size() == slots_.size()) return 0;
  std::size_t ended = 0;
  for (std::size_t n = 0; n < budget && n < slots_.size(); ++n) {
    if (++sweep_ >= slots_.size()) sweep_ = 0;
    Dialog& d = slots_[sweep_];
    if (d.state != State::Free && d.expires <= now) {
      close(d);
      ++ended;
    }
  }
  return ended;
}

}  // namespace sbc::proxy
