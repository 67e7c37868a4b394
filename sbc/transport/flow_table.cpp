#include "sbc/transport/flow_table.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <functional>

#include "sbc/common/hex.hpp"
#include "sbc/common/keyed_hash.hpp"

namespace sbc::transport {

std::string FlowToken::text() const {
  std::string out(16, '0');
  common::put_hex(out.data(), value, 16);
  return out;
}

std::optional<FlowToken> FlowToken::parse(std::string_view text) noexcept {
  std::uint64_t v = 0;
  if (text.size() != 16 || !common::parse_hex(text, v, common::HexCase::Lower) || v == 0)
    return std::nullopt;
  return FlowToken{v};
}

// Keyed (SipHash under the process's random key): the peers are the attacker's choice, and with
// a guessable hash it could pile its addresses into one bucket chain of the index.
std::size_t FlowTable::PeerHash::operator()(const PeerKey& k) const noexcept {
  std::array<unsigned char, sizeof(void*) + 16 + 2> bytes{};
  const void* listener = k.listener;
  std::memcpy(bytes.data(), &listener, sizeof listener);
  const auto& address = k.peer.address();
  if (address.is_v4()) {
    const auto v4 = address.to_v4().to_bytes();
    std::memcpy(bytes.data() + sizeof listener, v4.data(), v4.size());
  } else {
    const auto v6 = address.to_v6().to_bytes();
    std::memcpy(bytes.data() + sizeof listener, v6.data(), v6.size());
  }
  const std::uint16_t port = k.peer.port();
  std::memcpy(bytes.data() + sizeof listener + 16, &port, sizeof port);
  return static_cast<std::size_t>(
      common::siphash24(common::process_hash_key(), bytes.data(), bytes.size()));
}

FlowTable::FlowTable(unsigned worker, std::uint32_t stream_capacity, std::uint32_t udp_capacity)
    : worker_(worker),
      slots_(std::size_t{stream_capacity} + udp_capacity),
      stream_capacity_(stream_capacity),
      held_capacity_(udp_capacity - std::max<std::uint32_t>(udp_capacity / 8, 1)) {
  if (udp_capacity == 0) held_capacity_ = 0;
  // Slot numbers must fit in 24 bits of the token.
  if (slots_.size() > 0xFFFFFFu) slots_.resize(0xFFFFFFu);
  free_streams_.reserve(stream_capacity);
  for (std::uint32_t i = stream_capacity; i > 0; --i) free_streams_.push_back(i - 1);
  free_udp_.reserve(udp_capacity);
  for (auto i = static_cast<std::uint32_t>(slots_.size()); i > stream_capacity; --i)
    free_udp_.push_back(i - 1);
  udp_index_.reserve(udp_capacity);
}

std::uint32_t FlowTable::take_free_slot(std::vector<std::uint32_t>& free_list) noexcept {
  if (free_list.empty()) return kNone;
  const std::uint32_t slot = free_list.back();
  free_list.pop_back();
  return slot;
}

void FlowTable::release(std::uint32_t slot) noexcept {
  Slot& s = slots_[slot];
  s.used = false;
  s.sink.reset();
  s.listener = nullptr;
  if (++s.generation == 0) s.generation = 1;  // 0 would make an empty token
  (slot < stream_capacity_ ? free_streams_ : free_udp_).push_back(slot);
}

FlowToken FlowTable::add_stream(std::weak_ptr<FlowSink> sink) {
  const std::uint32_t slot = take_free_slot(free_streams_);
  if (slot == kNone) return {};
  Slot& s = slots_[slot];
  s.used = true;
  s.udp = false;
  s.sink = std::move(sink);
  ++stream_count_;
  return FlowToken::make(worker_, slot, s.generation);
}

void FlowTable::remove(FlowToken token) noexcept {
  const std::uint32_t slot = token.slot();
  if (token.worker() != worker_ || slot >= slots_.size()) return;
  Slot& s = slots_[slot];
  if (!s.used || s.generation != token.generation()) return;
  if (s.udp) {
    lru_unlink(slot);
    udp_index_.erase(PeerKey{s.listener, s.peer});
  } else {
    --stream_count_;
  }
  release(slot);
}

void FlowTable::lru_unlink(std::uint32_t slot) noexcept {
  Slot& s = slots_[slot];
  Lru& l = lru_[s.held ? kHeld : kUnverified];
  if (s.lru_prev != kNone)
    slots_[s.lru_prev].lru_next = s.lru_next;
  else
    l.head = s.lru_next;
  if (s.lru_next != kNone)
    slots_[s.lru_next].lru_prev = s.lru_prev;
  else
    l.tail = s.lru_prev;
  s.lru_prev = s.lru_next = kNone;
  --l.size;
}

void FlowTable::lru_push_front(std::uint32_t slot) noexcept {
  Slot& s = slots_[slot];
  Lru& l = lru_[s.held ? kHeld : kUnverified];
  s.lru_prev = kNone;
  s.lru_next = l.head;
  if (l.head != kNone) slots_[l.head].lru_prev = slot;
  l.head = slot;
  if (l.tail == kNone) l.tail = slot;
  ++l.size;
}

// Moves an unlinked slot into the held tier (at its head), making room there first: the least
// recently seen held peer goes back to the unverified tier (it keeps its flow for now).
void FlowTable::hold(std::uint32_t slot) noexcept {
  if (held_capacity_ == 0) {
    lru_push_front(slot);
    return;
  }
  if (lru_[kHeld].size >= held_capacity_) {
    demoted_.inc();
    const std::uint32_t oldest = lru_[kHeld].tail;
    lru_unlink(oldest);
    slots_[oldest].held = false;
    lru_push_front(oldest);
  }
  slots_[slot].held = true;
  lru_push_front(slot);
}

FlowToken FlowTable::refresh_udp(UdpListener* listener,
                                 const boost::asio::ip::udp::endpoint& peer) {
  const auto it = udp_index_.find(PeerKey{listener, peer});
  if (it == udp_index_.end()) return {};
  lru_unlink(it->second);
  lru_push_front(it->second);
  return FlowToken::make(worker_, it->second, slots_[it->second].generation);
}

FlowToken FlowTable::touch_udp(UdpListener* listener, const boost::asio::ip::udp::endpoint& peer,
                               bool hold_it) {
  const PeerKey key{listener, peer};
  if (auto it = udp_index_.find(key); it != udp_index_.end()) {
    lru_unlink(it->second);
    if (hold_it && !slots_[it->second].held) {
      hold(it->second);
    } else {
      lru_push_front(it->second);
    }
    return FlowToken::make(worker_, it->second, slots_[it->second].generation);
  }
  std::uint32_t slot = take_free_slot(free_udp_);
  if (slot == kNone) {
    // Full: the least recently seen unverified peer loses its flow (its token now fails). The
    // held tier never fills the table, so there is always one.
    const std::uint32_t oldest = lru_[kUnverified].tail;
    if (oldest == kNone) return {};  // no UDP capacity at all
    evicted_.inc();
    remove(FlowToken::make(worker_, oldest, slots_[oldest].generation));
    slot = take_free_slot(free_udp_);
  }
  Slot& s = slots_[slot];
  s.used = true;
  s.udp = true;
  s.held = false;
  s.listener = listener;
  s.peer = peer;
  if (hold_it) {
    hold(slot);
  } else {
    lru_push_front(slot);
  }
  udp_index_.emplace(key, slot);
  return FlowToken::make(worker_, slot, s.generation);
}

std::optional<FlowTable::Route> FlowTable::find(FlowToken token) const {
  const std::uint32_t slot = token.slot();
  if (token.worker() != worker_ || slot >= slots_.size()) return std::nullopt;
  const Slot& s = slots_[slot];
  if (!s.used || s.generation != token.generation()) return std::nullopt;
  Route route;
  if (s.udp) {
    route.udp = s.listener;
    route.peer = s.peer;
    return route;
  }
  route.stream = s.sink.lock();
  if (!route.stream) return std::nullopt;
  return route;
}

}  // namespace sbc::transport
