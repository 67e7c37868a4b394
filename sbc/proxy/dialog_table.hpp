#pragma once
// The calls a relay holds (one table per worker, on its thread): a call attempt from its
// dialog-creating INVITE, an established dialog from its 2xx, gone at its end (a final failure
// or CANCEL of the INVITE, a BYE either way, or its session timeout). The table gives back the
// places a call held in the fraud limits (call_counts.hpp) when the call ends.
//
// Bounded (relay.max_dialogs per worker; a new call over it is refused 503); slots and their
// index allocated once at start: 80 bytes a slot and 32 bytes of index, no allocation per
// call. A dialog is known by a SipHash (key drawn at start) of its inside Call-ID, its caller's
// tag (the From tag of the INVITE) and the side its INVITE came from; its Call-ID is kept only
// when its media is anchored (the capacity of that string stays with the slot).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sbc/common/keyed_hash.hpp"
#include "sbc/proxy/call_counts.hpp"
#include "sbc/proxy/transaction_index.hpp"

namespace sbc::proxy {

class DialogTable {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  enum class State : std::uint8_t { Free, Attempt, Established };
  struct Dialog {
    std::uint64_t key = 0;
    std::uint32_t generation = 1;
    State state = State::Free;
    bool from_outside = false;  // the INVITE came from the outside (else from the core)
    bool media = false;         // its media is anchored (media_port.hpp): deleted at its end
    bool srtp = false;  // its outside party offered SDES-SRTP (media.srtp): offers to it keep it
    bool late_offer = false;  // an offer in a 2xx was anchored: the answer in its ACK will be
    bool answer_due = false;  // that offer (in a reliable 18x) awaits its answer (in a PRACK)
    CallPlaces places;
    TimePoint expires{};
    // The inside Call-ID, kept only for an anchored call (the media relay knows it by it); its
    // capacity stays with the slot.
    std::string call_id;
  };
  // A transaction's handle on its dialog; stale once the dialog ended (its generation moved).
  struct Ref {
    std::uint32_t slot = 0;
    std::uint32_t generation = 0;  // 0: none
    explicit operator bool() const noexcept { return generation != 0; }
  };

  // `counts` (may be null: nothing counted) and `worker`: where the places are given back.
  DialogTable(std::uint32_t capacity, CallCounts* counts, unsigned worker,
              const common::HashKey& key = common::random_hash_key());

  void set_counts(CallCounts* counts, unsigned worker) noexcept {
    counts_ = counts;
    worker_ = worker;
  }
  // Called with a dialog as it ends (the relay deletes its media session).
  void set_on_close(std::function<void(const Dialog&)> on_close) {
    on_close_ = std::move(on_close);
  }

  // One leg of a call: a call from the outside that the core sends back out (a registrar, a
  // proxy) is two dialogs with the same Call-ID and tags, told apart by where its INVITE came
  // from.
  std::uint64_t key(std::string_view inside_call_id, std::string_view caller_tag,
                    bool from_outside) const noexcept;

  // A slot for a new call attempt, holding `places` (given back when it ends); an empty Ref
  // when the table is full (the caller gives the places back itself then).
  Ref open(std::uint64_t key, const CallPlaces& places, bool from_outside,
           TimePoint expires) noexcept;
  Dialog* get(Ref ref) noexcept;
  // The dialog of a request in a dialog, which came from the outside or not: the leg whose caller
  // sent it (its From tag, the leg's INVITE came the same way) or whose callee did (its To tag,
  // the INVITE came the other way).
  Dialog* find(std::string_view inside_call_id, std::string_view from_tag, std::string_view to_tag,
               bool request_from_outside) noexcept;
  Ref ref(const Dialog& d) const noexcept {
    return {static_cast<std::uint32_t>(&d - slots_.data()), d.generation};
  }
  void establish(Dialog& d, TimePoint expires) noexcept;
  // Ends d: its places given back, its slot free.
  void close(Dialog& d) noexcept;
  // Ends the dialogs whose time is up among the next `budget` slots (a sweep round the table,
  // a bounded share of it on every tick). Returns how many ended.
  std::size_t expire(TimePoint now, std::size_t budget) noexcept;

  // Read on any thread (the metrics scrape); written by the table's own.
  std::size_t active() const noexcept { return active_.load(std::memory_order_relaxed); }
  std::size_t established() const noexcept { return established_.load(std::memory_order_relaxed); }
  std::size_t capacity() const noexcept { return slots_.size(); }

 private:
  Dialog* find_key(std::uint64_t key) noexcept;

  CallCounts* counts_;
  unsigned worker_;
  std::function<void(const Dialog&)> on_close_;
  common::HashKey key_;
  std::vector<Dialog> slots_;
  std::vector<std::uint32_t> free_;
  TransactionIndex index_;
  std::atomic<std::size_t> active_{0};
  std::atomic<std::size_t> established_{0};
  std::size_t sweep_ = 0;
};

}  // namespace sbc::proxy
