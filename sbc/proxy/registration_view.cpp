#include "sbc/proxy/registration_view.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

namespace sbc::proxy {
namespace {

std::uint8_t copy_cut(std::string_view text, char* out, std::size_t size) noexcept {
  const std::size_t n = std::min(text.size(), size);
  if (n != 0) std::memcpy(out, text.data(), n);
  return static_cast<std::uint8_t>(n);
}

}  // namespace

RegistrationView::RegistrationView(std::size_t capacity) : slots_(std::max(capacity, kWindow)) {}

std::uint64_t RegistrationView::key_of(std::string_view aor) noexcept {
  // FNV-1a over the whole text, the host part (after the '@') in lower case.
  std::uint64_t hash = 0xcbf29ce484222325ull;
  bool host = aor.find('@') == std::string_view::npos;
  for (const char c : aor) {
    unsigned char b = static_cast<unsigned char>(c);
    if (host && b >= 'A' && b <= 'Z') b = static_cast<unsigned char>(b - 'A' + 'a');
    if (c == '@') host = true;
    hash = (hash ^ b) * 0x100000001b3ull;
  }
  return hash != 0 ? hash : 1;
}

void RegistrationView::update(std::string_view aor, sbc::Protocol protocol, std::string_view user,
                              std::chrono::seconds lifetime, TimePoint now) noexcept {
  const std::uint64_t key = key_of(aor);
  const std::size_t size = slots_.size();
  const std::size_t home = key % size;
  const bool removal = lifetime <= std::chrono::seconds::zero();
  // Its own slot if it has one; else a free one; else the one that ends first (an ended or
  // removed entry before a live one).
  Entry* slot = nullptr;
  Entry* victim = nullptr;
  for (std::size_t i = 0; i < kWindow; ++i) {
    Entry& e = slots_[(home + i) % size];
    if (e.key == key) {
      slot = &e;
      break;
    }
    if (victim != nullptr && victim->key == 0) continue;
    if (victim == nullptr || e.key == 0 || e.ends < victim->ends) victim = &e;
  }
  if (slot == nullptr) {
    if (victim->live(now)) {
      // A removal of what this view does not hold takes no live entry's place.
      if (removal) return;
      ++evicted_;
    }
    slot = victim;
    slot->key = key;
    slot->aor_size = copy_cut(aor, slot->aor.data(), kAorSize);
  }
  slot->updated = now;
  slot->ends = removal ? now : now + lifetime;
  slot->protocol = protocol;
  slot->user_size = copy_cut(user, slot->user.data(), kUserSize);
}

std::size_t RegistrationView::count(TimePoint now) const noexcept {
  return static_cast<std::size_t>(
      std::count_if(slots_.begin(), slots_.end(), [now](const Entry& e) { return e.live(now); }));
}

void copy_entries(const RegistrationView& view, RegistrationView::TimePoint now,
                  std::vector<RegistrationRecord>& out) {
  view.for_each([&](const RegistrationView::Entry& e) {
    const bool live = e.live(now);
    out.push_back(
        {e.key, e.updated, live, e.protocol, live ? std::string(e.user_view()) : std::string()});
  });
}

RegistrationSummary summarize(std::span<const std::vector<RegistrationRecord>> relays,
                              std::size_t user_limit) {
  std::unordered_map<std::uint64_t, const RegistrationRecord*> newest;
  for (const auto& records : relays)
    for (const RegistrationRecord& r : records) {
      const RegistrationRecord*& kept = newest[r.key];
      if (kept == nullptr || kept->updated < r.updated) kept = &r;
    }
  RegistrationSummary out;
  std::map<std::string_view, std::size_t> users;
  for (const auto& [key, r] : newest) {
    if (!r->live) continue;
    ++out.total;
    ++(r->protocol == sbc::Protocol::Udp   ? out.udp
       : r->protocol == sbc::Protocol::Tcp ? out.tcp
                                           : out.tls);
    if (r->user.empty()) {
      ++out.unauthenticated;
    } else {
      ++users[r->user];
    }
  }
  for (const auto& [user, n] : users) out.users.push_back({std::string(user), n});
  std::stable_sort(out.users.begin(), out.users.end(),
                   [](const auto& a, const auto& b) { return a.registrations > b.registrations; });
  if (out.users.size() > user_limit) out.users.resize(user_limit);
  return out;
}

std::string_view identity_user(std::string_view identity) noexcept {
  std::string_view uri = identity;
  if (uri.starts_with('<') && uri.ends_with('>')) uri = uri.substr(1, uri.size() - 2);
  const std::size_t colon = uri.find(':');
  const std::size_t at = uri.rfind('@');
  if (colon == std::string_view::npos || at == std::string_view::npos || at <= colon + 1)
    return identity;
  return uri.substr(colon + 1, at - colon - 1);
}

}  // namespace sbc::proxy
