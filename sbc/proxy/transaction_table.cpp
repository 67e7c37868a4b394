#include "sbc/proxy/transaction_table.hpp"

#include <random>

#include "sbc/common/keyed_hash.hpp"

namespace sbc::proxy::detail {
namespace {

// What relaying adds to a request (our Via, Record-Route or Path, the client's received/rport),
// for the budget check before a transaction starts.
constexpr std::size_t kRelayGrowth = 2048;

// Heap bytes behind a string (none while it is short enough to be stored inline).
std::size_t heap_bytes(const std::string& s) noexcept {
  static const std::size_t inline_capacity = std::string().capacity();
  return s.capacity() > inline_capacity ? s.capacity() + 1 : 0;
}

// Keyed (SipHash under the process's random key): branches are the outside's choice, and with
// a guessable hash it could send branches that pile into one run of the linear-probing index.
std::uint64_t server_key(std::string_view branch, std::string_view host, std::uint16_t port,
                         sip::Method method) noexcept {
  std::array<unsigned char, 256> bytes;
  const std::size_t size = branch.size() + host.size() + 4;
  std::uint64_t h = 0;
  if (size <= bytes.size()) {
    std::memcpy(bytes.data(), branch.data(), branch.size());
    bytes[branch.size()] = 0;  // keeps (branch, host) pairs apart
    std::memcpy(bytes.data() + branch.size() + 1, host.data(), host.size());
    unsigned char* tail = bytes.data() + branch.size() + 1 + host.size();
    tail[0] = static_cast<unsigned char>(port >> 8);
    tail[1] = static_cast<unsigned char>(port);
    tail[2] = static_cast<unsigned char>(method);
    h = common::siphash24(common::process_hash_key(), bytes.data(), size);
  } else {
    const auto& key = common::process_hash_key();
    const std::array<std::uint64_t, 3> parts{
        common::siphash24(key, reinterpret_cast<const unsigned char*>(branch.data()),
                          branch.size()),
        common::siphash24(key, reinterpret_cast<const unsigned char*>(host.data()), host.size()),
        (std::uint64_t{port} << 8) | static_cast<std::uint64_t>(method)};
    h = common::siphash24(key, reinterpret_cast<const unsigned char*>(parts.data()), sizeof parts);
  }
  return h == 0 ? 1 : h;
}

std::string_view port_text(std::uint16_t port) noexcept {
  static thread_local std::array<char, 6> text;
  put_hex(text.data(), port, 6);  // fixed width: only compared, never shown
  return {text.data(), 6};
}

bool server_sent_by_matches(const Transaction& t, const sip::Via& via) noexcept {
  const std::string_view s = t.server_sent_by;
  return s.size() == via.host.size() + 6 && s.substr(0, via.host.size()) == via.host &&
         s.substr(via.host.size()) == port_text(via.port);
}

}  // namespace

TransactionTable::TransactionTable(std::uint32_t capacity, std::uint64_t seed,
                                   std::size_t max_bytes, RelayStats& stats)
    : stats_(stats), max_bytes_(max_bytes), slots_(capacity), index_(capacity) {
  // Generations start at random: branches differ from those of an earlier run.
  if (seed == 0) seed = (std::uint64_t{std::random_device{}()} << 32) | std::random_device{}();
  for (Transaction& t : slots_) {
    seed += 0x9e3779b97f4a7c15ull;  // splitmix64
    std::uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    t.generation = static_cast<std::uint32_t>(z ^ (z >> 31)) | 1u;
  }
  free_.reserve(slots_.size());
  for (std::size_t i = slots_.size(); i > 0; --i)
    free_.push_back(static_cast<std::uint32_t>(i - 1));
  std::vector<Wake> storage;
  storage.reserve(slots_.size() * 2);
  wakes_ = decltype(wakes_)(std::greater<Wake>(), std::move(storage));
}

Transaction* TransactionTable::allocate(std::size_t message_bytes) noexcept {
  if (free_.empty()) {
    stats_.table_full.inc();
    full_reason_ = "Service Unavailable (transaction table full)";
    return nullptr;
  }
  Transaction& t = slots_[free_.back()];
  const std::size_t need = 2 * message_bytes + kRelayGrowth;
  const std::size_t reused = heap_bytes(t.original) + heap_bytes(t.request);
  if (need > reused && bytes_ + (need - reused) > max_bytes_) {
    stats_.memory_full.inc();
    full_reason_ = "Service Unavailable (transaction memory full)";
    return nullptr;
  }
  free_.pop_back();
  return &t;
}

void TransactionTable::begin(Transaction& t, Direction direction, const sip::Message& m,
                             std::uint32_t loop, TimePoint now) noexcept {
  const std::uint32_t slot = slot_of(t);
  t.reset();
  t.used = true;
  t.started = now;
  t.direction = direction;
  t.method = m.method();
  const sip::Via& via = m.top_via();
  t.server_branch.assign(via.branch);
  t.server_sent_by.assign(via.host);
  t.server_sent_by += port_text(via.port);
  t.key = server_key(via.branch, via.host, via.port, t.method);
  index_.insert(t.key, slot);
  stats_.transactions_started.inc();
  t.original.assign(m.bytes());
  t.bytes_received = m.bytes().size();
  t.had_credentials =
      m.count(sip::HeaderId::Authorization) + m.count(sip::HeaderId::ProxyAuthorization) != 0;
  t.creates_dialog = m.method() == sip::Method::Invite && m.to().tag.empty();
  write_branch(t.branch.data(), slot, t.generation, loop);
}

void TransactionTable::release(Transaction& t) noexcept {
  const std::uint32_t slot = slot_of(t);
  index_.erase(t.key, slot);
  stats_.transactions_ended.inc();
  t.used = false;
  if (++t.generation == 0) t.generation = 1;
  t.wake_at = kNever;
  // Large buffers go back at once; near the budget all of them, so that idle slots never hold
  // more than half of it.
  const bool pressure = bytes_ > max_bytes_ / 2;
  for (std::string* s : t.strings())
    if (pressure || s->capacity() > kKeepBytes) free_buffer(*s);
  account(t);
  free_.push_back(slot);
}

Transaction* TransactionTable::find_server(const sip::Message& m, sip::Method method) noexcept {
  const sip::Via& via = m.top_via();
  const std::uint64_t key = server_key(via.branch, via.host, via.port, method);
  Transaction* found = nullptr;
  index_.find(key, [&](std::uint32_t slot) {
    Transaction& t = slots_[slot];
    if (t.used && t.method == method && t.server_branch == via.branch &&
        server_sent_by_matches(t, via)) {
      found = &t;
      return true;
    }
    return false;
  });
  return found;
}

Transaction* TransactionTable::find_client(std::string_view branch) noexcept {
  std::uint64_t slot = 0, generation = 0;
  if (!parse_branch(branch, slot, generation) || slot >= slots_.size()) return nullptr;
  Transaction& t = slots_[slot];
  if (!t.used || t.generation != generation || t.branch_view() != branch) return nullptr;
  return &t;
}

void TransactionTable::account(Transaction& t) noexcept {
  std::size_t now = 0;
  for (const std::string* s : t.strings()) now += heap_bytes(*s);
  bytes_ = bytes_ - t.bytes + now;
  t.bytes = now;
}

}  // namespace sbc::proxy::detail
