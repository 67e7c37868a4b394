#pragma once
// The relay's transactions (RFC 3261 17): the slots, allocated once at start, and what finds,
// starts, ends and wakes them. A slot keeps its buffers' capacity from one transaction to the
// next (no allocation per message for the usual sizes); their heap bytes are accounted against
// relay.max_transaction_bytes. Internal to sbc/proxy.

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <queue>
#include <string>
#include <string_view>
#include <vector>

#include "sbc/proxy/branches.hpp"
#include "sbc/proxy/dialog_table.hpp"
#include "sbc/proxy/relay.hpp"
#include "sbc/proxy/transaction_index.hpp"
#include "sbc/sip/message.hpp"

namespace sbc::proxy::detail {

using TimePoint = Clock::time_point;
using std::chrono::milliseconds;

inline constexpr TimePoint kNever = TimePoint::max();
// A transaction's buffers up to this size stay with its slot for the next one (no allocation per
// message for the usual sizes); larger ones are given back as soon as they are not needed.
inline constexpr std::size_t kKeepBytes = 4096;

// Gives a buffer's memory back.
inline void free_buffer(std::string& s) noexcept {
  std::string().swap(s);
}

// An IP and port kept inline (no allocation).
struct Address {
  std::array<char, 48> ip{};
  std::uint8_t length = 0;
  std::uint16_t port = 0;
  sbc::Protocol protocol = sbc::Protocol::Udp;  // the inside socket or a connection
  void set(std::string_view text, std::uint16_t p,
           sbc::Protocol over = sbc::Protocol::Udp) noexcept {
    length = static_cast<std::uint8_t>(std::min(text.size(), ip.size()));
    if (length != 0) std::memcpy(ip.data(), text.data(), length);
    port = p;
    protocol = over;
  }
  std::string_view ip_view() const noexcept { return {ip.data(), length}; }
};

enum class Direction : std::uint8_t { ToCore, ToOutside };
enum class ServerState : std::uint8_t { Proceeding, Completed, Accepted, Confirmed };

struct Transaction {
  std::uint32_t generation = 1;
  bool used = false;
  Direction direction = Direction::ToCore;
  sip::Method method = sip::Method::Other;
  ServerState state = ServerState::Proceeding;

  // The server side: where the request came from, and what we answered last.
  std::string server_branch;
  std::string server_sent_by;
  std::uint64_t key = 0;
  std::uint64_t source_flow = 0;  // ToCore: the outside flow
  Address source;                 // where the request came from (the core, for ToOutside)
  bool server_reliable = false;
  std::string original;  // the request as it arrived
  // Authenticated at the edge: the identity asserted to the core and where in `original` the
  // credentials header is that we remove (kept for a fail-over, which rebuilds the request).
  std::string asserted_identity;
  std::uint32_t consumed_offset = 0;
  std::uint32_t consumed_size = 0;
  bool had_credentials = false;  // Authorization or Proxy-Authorization as it arrived
  bool creates_dialog = false;   // an INVITE outside a dialog
  // The call it starts (creates_dialog) or refreshes (a re-INVITE, an UPDATE): dialog_table.hpp.
  DialogTable::Ref dialog;
  // Media anchoring (relay_media.cpp): the request waits for its offer's rewrite, or a response
  // for its answer's; the rewritten offer (a fail-over rebuilds the request from `original`); a
  // response waiting, and a final one that came meanwhile.
  bool media_wait_request = false;
  bool media_wait_response = false;
  bool media_offered = false;  // the request's offer is anchored: an SDP answer is rewritten
  bool late_offer = false;     // an INVITE without SDP in a tracked call: its 18x/2xx offer
  std::string media_body;
  std::string media_response;
  std::string media_queued;
  std::string last_response;
  // Anti-amplification toward an unproved UDP source (RFC 9000 section 8's rule): what we send
  // it in this transaction stays within kAmplificationFactor times what it sent us: the 100 and
  // the 18x within it (a 180 carries our Record-Route and Contact tokens: about twice a small
  // INVITE), the first final answer sent even past it (without it no UDP client could complete
  // a transaction), its retransmissions (timer G) not.
  std::uint64_t bytes_received = 0;
  std::uint64_t bytes_sent = 0;
  bool source_proved = false;  // over a stream, authenticated, or in a dialog it holds a token of
  milliseconds response_interval{0};
  TimePoint response_retransmit_at = kNever;  // timer G

  // The client side: the request as we sent it, and where.
  std::string request;
  std::array<char, kBranchSize> branch{};
  Address core;                // ToCore
  std::size_t core_index = 0;  // ToCore
  std::uint64_t tried = 0;     // ToCore: cores tried (bit i = core i)
  bool failover_allowed = false;
  bool any_response = false;  // anything from the next hop, even 100
  TimePoint failover_at = kNever;
  std::uint64_t dest_flow = 0;  // ToOutside
  bool client_reliable = false;
  bool provisional_seen = false;
  bool final_seen = false;
  milliseconds retransmit_interval{0};
  TimePoint retransmit_at = kNever;  // timers A, E
  TimePoint timeout_at = kNever;     // timers B, F
  TimePoint timer_c_at = kNever;

  // CANCEL toward the next hop.
  bool cancel_wanted = false;
  bool cancel_sent = false;
  std::string cancel;
  milliseconds cancel_interval{0};
  TimePoint cancel_retransmit_at = kNever;
  TimePoint cancel_timeout_at = kNever;

  // relay.mask_call_id: the two sides of this transaction know it by different Call-IDs; the
  // server side's goes back on the responses.
  bool call_id_differs = false;
  std::string server_call_id;
  std::string hidden_vias;  // the core's Via values (topology hiding)
  // ToOutside with topology hiding: the Record-Route list as the core would have seen it
  // without hiding, put back into the answers that go to the core.
  std::string hidden_record_route;
  // ToCore, dialog-creating: a keyed hash of the token of the outside Record-Route entry we
  // issued (the core's answers bring it back: no need to open it to know it is ours), and the
  // binding MAC of that entry with where its inputs (the Call-ID and From tag as the outside
  // sees them) are in `original`, for the answers' entries. 0: none.
  std::uint64_t outside_entry = 0;
  std::uint64_t binding_mac = 0;
  std::uint32_t binding_call_id_offset = 0;
  std::uint32_t binding_call_id_size = 0;
  std::uint32_t binding_tag_offset = 0;
  std::uint32_t binding_tag_size = 0;
  TimePoint end_at = kNever;
  TimePoint wake_at = kNever;
  TimePoint started{};  // the request's arrival

  std::size_t bytes = 0;  // heap bytes of its strings, as last accounted (TransactionTable)

  std::string_view branch_view() const noexcept { return {branch.data(), branch.size()}; }
  bool invite() const noexcept { return method == sip::Method::Invite; }
  std::array<std::string*, 13> strings() noexcept {
    return {
        &server_branch, &server_sent_by, &original,       &asserted_identity, &last_response,
        &request,       &cancel,         &server_call_id, &hidden_vias,       &hidden_record_route,
        &media_body,    &media_response, &media_queued};
  }

  // Every field back to its initial value, but for what stays with the slot: the generation,
  // the buffers (emptied, their capacity kept) and their accounting.
  void reset() noexcept {
    Transaction fresh;
    fresh.generation = generation;
    fresh.bytes = bytes;
    const auto mine = strings();
    const auto theirs = fresh.strings();
    for (std::size_t i = 0; i < mine.size(); ++i) {
      mine[i]->clear();
      mine[i]->swap(*theirs[i]);
    }
    *this = std::move(fresh);
  }
};

class TransactionTable {
 public:
  // `seed`: the first generations (random when 0), so that branches differ from an earlier
  // run's. `max_bytes`: relay.max_transaction_bytes. Counts into `stats`.
  TransactionTable(std::uint32_t capacity, std::uint64_t seed, std::size_t max_bytes,
                   RelayStats& stats);

  std::size_t active() const noexcept { return slots_.size() - free_.size(); }
  std::size_t bytes() const noexcept { return bytes_; }
  std::vector<Transaction>& slots() noexcept { return slots_; }

  // A slot for a new transaction of a request of `message_bytes`, or nullptr (counted, and
  // full_reason() says why) when the table is full or what it will keep (the request as it
  // arrived and as relayed) would take the slots past relay.max_transaction_bytes.
  Transaction* allocate(std::size_t message_bytes) noexcept;
  std::string_view full_reason() const noexcept { return full_reason_; }
  // Starts t (from allocate) for request m: indexed by its top Via, the request kept as it
  // arrived, its branch written (slot, generation, `loop`).
  void begin(Transaction& t, Direction direction, const sip::Message& m, std::uint32_t loop,
             TimePoint now) noexcept;
  // Ends t: its slot is free, its generation new (late messages match nothing).
  void release(Transaction& t) noexcept;

  // The server transaction a request belongs to (RFC 3261 17.2.3), by its top Via.
  Transaction* find_server(const sip::Message& m, sip::Method method) noexcept;
  // The client transaction a response belongs to, by our branch in its top Via (17.1.3).
  Transaction* find_client(std::string_view branch) noexcept;

  // Takes t's buffers' heap bytes into the total.
  void account(Transaction& t) noexcept;

  // Sets t's next wake-up.
  void wake(Transaction& t, TimePoint at) noexcept {
    if (at == t.wake_at) return;
    t.wake_at = at;
    if (at != kNever) wakes_.push({at, slot_of(t), t.generation});
  }
  // Calls fire(t) for every transaction whose wake-up is due at `now` (its wake-up cleared).
  template <class Fire>
  void wake_due(TimePoint now, Fire&& fire) {
    while (!wakes_.empty() && wakes_.top().at <= now) {
      const Wake w = wakes_.top();
      wakes_.pop();
      Transaction& t = slots_[w.slot];
      if (!t.used || t.generation != w.generation || t.wake_at != w.at) continue;
      t.wake_at = kNever;
      fire(t);
    }
  }

 private:
  struct Wake {
    TimePoint at;
    std::uint32_t slot;
    std::uint32_t generation;
    bool operator>(const Wake& other) const noexcept { return at > other.at; }
  };
  std::uint32_t slot_of(const Transaction& t) const noexcept {
    return static_cast<std::uint32_t>(&t - slots_.data());
  }

  RelayStats& stats_;
  std::size_t max_bytes_;
  std::vector<Transaction> slots_;
  std::vector<std::uint32_t> free_;
  std::size_t bytes_ = 0;         // heap bytes of every slot's strings
  std::string_view full_reason_;  // why allocate() found no slot
  TransactionIndex index_;
  std::priority_queue<Wake, std::vector<Wake>, std::greater<Wake>> wakes_;
};

}  // namespace sbc::proxy::detail
