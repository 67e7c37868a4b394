#pragma once
// Flows (RFC 5626 3.5): every TCP/TLS connection and every UDP peer a worker talks to gets a
// compact token, so that a request coming back from the core later can be sent down the very
// connection a user agent registered on. One table per worker, used on that worker's thread
// only. Its size is fixed at start: stream flows are capped by the connection limits, and UDP
// peers (attacker-controlled keys) are evicted least-recently-used when the table is full.
//
// Token layout (64 bits): worker (8) | slot (24) | generation (32). A slot's generation moves on
// whenever its flow ends, so a token of a flow that is gone never reaches its successor.

#include <boost/asio/ip/udp.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sbc/transport/routing.hpp"

namespace sbc::transport {

class UdpListener;

// What a stream connection offers the table: a way to send down it.
class FlowSink {
 public:
  virtual ~FlowSink() = default;
  virtual void send_down(std::string_view bytes) = 0;
  // Our end of the connection.
  virtual FlowAddress address() const = 0;
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
  // The flow of a UDP peer on a listener, created or refreshed (most recently used).
  FlowToken touch_udp(UdpListener* listener, const boost::asio::ip::udp::endpoint& peer);

  // Where a token leads, if its flow still exists.
  struct Route {
    std::shared_ptr<FlowSink> stream;  // set for TCP/TLS
    UdpListener* udp = nullptr;        // set for UDP
    boost::asio::ip::udp::endpoint peer;
  };
  std::optional<Route> find(FlowToken token) const;

  std::size_t streams() const noexcept { return stream_count_; }
  std::size_t udp_peers() const noexcept { return udp_index_.size(); }

 private:
  struct Slot {
    std::uint32_t generation = 1;
    bool used = false;
    bool udp = false;
    std::weak_ptr<FlowSink> sink;
    UdpListener* listener = nullptr;
    boost::asio::ip::udp::endpoint peer;
    std::uint32_t lru_prev = kNone, lru_next = kNone;  // UDP slots, most recent at the head
  };
  static constexpr std::uint32_t kNone = 0xFFFFFFFFu;

  std::uint32_t take_free_slot(std::vector<std::uint32_t>& free_list) noexcept;
  void release(std::uint32_t slot) noexcept;
  void lru_unlink(std::uint32_t slot) noexcept;
  void lru_push_front(std::uint32_t slot) noexcept;

  unsigned worker_;
  std::vector<Slot> slots_;  // [0, stream_capacity) streams, then UDP peers
  std::uint32_t stream_capacity_;
  std::vector<std::uint32_t> free_streams_;
  std::vector<std::uint32_t> free_udp_;
  std::size_t stream_count_ = 0;
  std::uint32_t lru_head_ = kNone, lru_tail_ = kNone;
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
