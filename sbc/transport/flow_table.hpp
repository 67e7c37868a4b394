#pragma once
// Flows (RFC 5626 3.5): every TCP/TLS connection and every UDP peer a worker talks to gets a
// compact token, so that a request coming back from the core later can be sent down the very
// connection a user agent registered on. One table per worker, used on that worker's thread
// only. Its size is fixed at start: stream flows are capped by the connection limits, and UDP
// peers (attacker-controlled keys) are evicted least-recently-used when the table is full.
//
// UDP peers come in two tiers, each with its own LRU list. A peer is *held* once a request from
// it that a registration or a dialog will route back through (REGISTER, dialog-creating
// requests) passed validation and the policies; every other peer is *unverified*. A new peer
// only ever evicts the least recently seen unverified one, so no datagram from an unverified
// (perhaps forged) source can push out the flow of a registered user or of an active dialog.
// Held peers take at most all but an eighth of the slots (the rest stays for unverified ones);
// when they are all taken, the least recently seen held peer is demoted to unverified.
//
// Token layout (64 bits): worker (8) | slot (24) | generation (32). A slot's generation moves on
// whenever its flow ends, so a token of a flow that is gone never reaches its successor.

#include <boost/asio/ip/udp.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "metrics/counter.hpp"
#include "sbc/transport/routing.hpp"

namespace sbc::transport {

class UdpListener;

// What a stream connection offers the table: a way to send down it.
class FlowSink {
 public:
  virtual ~FlowSink() = default;
  // False when the bytes cannot be sent: the connection is closed, or closes now because its
  // peer does not read (its queue is full).
  virtual bool send_down(std::string_view bytes) = 0;
  // Our end of the connection.
  virtual FlowAddress address() const = 0;
  // Where the connection comes from (for the ban sweep); none: not swept.
  virtual const FlowInfo* flow_info() const { return nullptr; }
  // Closes the connection (its source was banned).
  virtual void shut() {}
  // Closes the connection once what is queued on it has been written.
  virtual void shut_after_sent() {}
};

struct FlowToken {
  std::uint64_t value = 0;  // 0: no flow

  static FlowToken make(unsigned worker, std::uint32_t slot, std::uint32_t generation) noexcept {
    return {(std::uint64_t{worker & 0xFFu} << 56) | (std::uint64_t{slot & 0xFFFFFFu} << 32) |
            generation};
  }
  unsigned worker() const noexcept { return static_cast<unsigned>(value >> 56); }
  std::uint32_t slot() const noexcept {
    return static_cast<std::uint32_t>(value >> 32) & 0xFFFFFFu;
  }
  std::uint32_t generation() const noexcept { return static_cast<std::uint32_t>(value); }
  explicit operator bool() const noexcept { return value != 0; }

  // 16 lower-case hex digits; parse() refuses anything else.
  std::string text() const;
  static std::optional<FlowToken> parse(std::string_view text) noexcept;
};

class FlowTable {
 public:
  FlowTable(unsigned worker, std::uint32_t stream_capacity, std::uint32_t udp_capacity);

  // A new connection. An empty token when the table is full.
  FlowToken add_stream(std::weak_ptr<FlowSink> sink);
  void remove(FlowToken token) noexcept;
  // The flow of a UDP peer on a listener, created or refreshed (most recently used of its tier).
  // `hold`: the peer is (now) held (see above).
  FlowToken touch_udp(UdpListener* listener, const boost::asio::ip::udp::endpoint& peer,
                      bool hold = false);
  // Refreshes the flow of a UDP peer if there is one (a keep-alive); never creates one.
  FlowToken refresh_udp(UdpListener* listener, const boost::asio::ip::udp::endpoint& peer);

  // Where a token leads, if its flow still exists.
  struct Route {
    std::shared_ptr<FlowSink> stream;  // set for TCP/TLS
    UdpListener* udp = nullptr;        // set for UDP
    boost::asio::ip::udp::endpoint peer;
  };
  std::optional<Route> find(FlowToken token) const;
  // f(FlowSink&) for every open stream flow; f may close it.
  template <class F>
  void for_each_stream(F&& f) {
    for (std::uint32_t i = 0; i < stream_capacity_ && i < slots_.size(); ++i) {
      if (!slots_[i].used || slots_[i].udp) continue;
      if (const auto sink = slots_[i].sink.lock()) f(*sink);
    }
  }

  // f(peer, held) for every UDP peer, most recently seen first within each tier (held first);
  // f returns false to stop (`sbc ctl flows` lists a bounded number).
  template <class F>
  void for_each_udp(F&& f) const {
    for (const std::size_t tier : {kHeld, kUnverified})
      for (std::uint32_t i = lru_[tier].head; i != kNone; i = slots_[i].lru_next)
        if (!f(std::as_const(slots_[i].peer), slots_[i].held)) return;
  }

  std::size_t streams() const noexcept { return stream_count_; }
  std::size_t udp_peers() const noexcept { return udp_index_.size(); }
  std::size_t udp_held() const noexcept { return lru_[kHeld].size; }
  std::size_t udp_held_capacity() const noexcept { return held_capacity_; }
  // UDP peers that lost their flow to make room for a new peer (unverified ones only), and held
  // peers moved back to the unverified tier to make room for a newer held one.
  std::uint64_t udp_evicted() const noexcept { return evicted_.value(); }
  std::uint64_t udp_demoted() const noexcept { return demoted_.value(); }

 private:
  struct Slot {
    std::uint32_t generation = 1;
    bool used = false;
    bool udp = false;
    bool held = false;  // UDP: in the held tier
    std::weak_ptr<FlowSink> sink;
    UdpListener* listener = nullptr;
    boost::asio::ip::udp::endpoint peer;
    std::uint32_t lru_prev = kNone, lru_next = kNone;  // UDP slots, most recent at the head
  };
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;
  static constexpr std::size_t kUnverified = 0, kHeld = 1;
  struct Lru {
    std::uint32_t head = kNone, tail = kNone;
    std::size_t size = 0;
  };

  std::uint32_t take_free_slot(std::vector<std::uint32_t>& free_list) noexcept;
  void release(std::uint32_t slot) noexcept;
  void lru_unlink(std::uint32_t slot) noexcept;
  void lru_push_front(std::uint32_t slot) noexcept;
  void hold(std::uint32_t slot) noexcept;

  unsigned worker_;
  std::vector<Slot> slots_;  // [0, stream_capacity) streams, then UDP peers
  std::uint32_t stream_capacity_;
  std::vector<std::uint32_t> free_streams_;
  std::vector<std::uint32_t> free_udp_;
  std::size_t stream_count_ = 0;
  std::array<Lru, 2> lru_;  // by tier: most recent at the head
  std::size_t held_capacity_ = 0;
  metrics::Counter evicted_, demoted_;  // read by the scrape
  struct PeerKey {
    UdpListener* listener;
    boost::asio::ip::udp::endpoint peer;
    bool operator==(const PeerKey&) const = default;
  };
  struct PeerHash {
    std::size_t operator()(const PeerKey& k) const noexcept;
  };
  std::unordered_map<PeerKey, std::uint32_t, PeerHash> udp_index_;
};

}  // namespace sbc::transport
