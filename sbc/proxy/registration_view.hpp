#pragma once
// What the relay saw of the registrations it relayed (`sbc ctl flows`): per address-of-record,
// the outside flow's transport, the user authenticated at the edge (if any) and when the
// registration ends, taken from the registrar's 2xx to a REGISTER. The core stays the registrar;
// this is a bounded view for the operator, one per relay (one writer, the worker's thread).
//
// Fixed size, allocated once: N slots with the address-of-record and the user in fixed buffers
// (cut when longer). An address-of-record lives in one of the kWindow slots from its hash's home
// slot; when all of them hold live registrations, the one closest to its end is replaced (and
// counted in evicted()). A removal (a 2xx listing no binding) leaves a removed entry behind: the
// admin command gathers every relay's entries, and for each address-of-record the newest one
// says whether it is registered, so a de-registration seen by another worker than the
// registration still takes it off.

#include <array>
#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sbc/common/flow.hpp"

namespace sbc::proxy {

class RegistrationView {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr std::size_t kDefaultCapacity = 4096;
  static constexpr std::size_t kWindow = 16;  // slots an address-of-record may live in
  static constexpr std::size_t kAorSize = 128;
  static constexpr std::size_t kUserSize = 64;

  struct Entry {
    std::uint64_t key = 0;  // hash of the whole address-of-record (0: a free slot)
    TimePoint updated{};    // when the registrar's 2xx was relayed
    TimePoint ends{};       // == updated: removed
    sbc::Protocol protocol = sbc::Protocol::Udp;
    std::uint8_t aor_size = 0;
    std::uint8_t user_size = 0;
    std::array<char, kAorSize> aor{};
    std::array<char, kUserSize> user{};

    std::string_view aor_view() const noexcept { return {aor.data(), aor_size}; }
    std::string_view user_view() const noexcept { return {user.data(), user_size}; }
    bool removed() const noexcept { return ends <= updated; }
    bool live(TimePoint now) const noexcept { return key != 0 && !removed() && now < ends; }
  };

  explicit RegistrationView(std::size_t capacity = kDefaultCapacity);

  // The registrar's 2xx for `aor` (user@host, compared with the host's case ignored) relayed
  // to a flow of `protocol` at `now`; `user` the one authenticated at the edge (empty: none).
  // `lifetime` zero: no binding left (the registration is removed).
  void update(std::string_view aor, sbc::Protocol protocol, std::string_view user,
              std::chrono::seconds lifetime, TimePoint now) noexcept;

  // Live registrations at `now`.
  std::size_t count(TimePoint now) const noexcept;
  // Every entry kept, live, ended and removed ones (for the merge over relays).
  template <class F>
  void for_each(F&& f) const {
    for (const Entry& e : slots_)
      if (e.key != 0) f(e);
  }
  std::uint64_t evicted() const noexcept { return evicted_; }
  std::size_t capacity() const noexcept { return slots_.size(); }

  // The key of an address-of-record: its hash with the host part's case ignored (never 0).
  static std::uint64_t key_of(std::string_view aor) noexcept;

 private:
  std::vector<Entry> slots_;
  std::uint64_t evicted_ = 0;
};

// An entry as the merge over relays needs it, copied on its relay's thread (copy_entries).
struct RegistrationRecord {
  std::uint64_t key = 0;
  RegistrationView::TimePoint updated{};
  bool live = false;
  sbc::Protocol protocol = sbc::Protocol::Udp;
  std::string user;  // live ones only
};
void copy_entries(const RegistrationView& view, RegistrationView::TimePoint now,
                  std::vector<RegistrationRecord>& out);

// The registrations over all relays: for each address-of-record the newest entry of any relay
// says whether it is registered (a de-registration may pass another worker than the
// registration did), over which transport, by which user.
struct RegistrationSummary {
  struct User {
    std::string user;  // authenticated at the edge (the Digest user name)
    std::size_t registrations = 0;
  };
  std::size_t total = 0, udp = 0, tcp = 0, tls = 0;
  std::size_t unauthenticated = 0;  // no user authenticated at the edge
  std::vector<User> users;          // most registrations first (then by name); at most the limit
};
RegistrationSummary summarize(std::span<const std::vector<RegistrationRecord>> relays,
                              std::size_t user_limit);

// The user of a P-Asserted-Identity the edge wrote ("<sip:USER@DOMAIN>"): USER, or the whole
// text when it is not of that shape.
std::string_view identity_user(std::string_view identity) noexcept;

}  // namespace sbc::proxy
