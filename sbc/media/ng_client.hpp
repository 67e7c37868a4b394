#pragma once
// A client of rtpengine's ng control protocol over UDP: each request is `COOKIE <bencoded dict>`
// and its answer comes back with the same cookie. It runs on the worker's io_context (no threads
// of its own, no locks), with a deadline on every request and resends of the same cookie (what
// rtpengine expects: it answers a repeated cookie from its cache instead of acting twice).
//
// Several instances, with weights: a call (Call-ID) goes to the instance that weighted rendezvous
// hashing picks among those up, and its later commands stick to it (a table of calls offered and
// not yet deleted, bounded by max_calls). A new call whose instance does not answer fails over to
// the next one; a call's later commands never move, since its media state lives on one instance.
// Instances are marked down by a request that times out and up by any answer; pings every
// ping_interval_s keep that current while there is no traffic.
//
// Results are values. Views in an NgResult (sdp, reason, response) point into the client's
// receive buffer and are valid only during the callback. A callback may run before the call that
// made the request returns (refused at once: Overloaded, NoInstance).

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "sbc/media/bencode.hpp"

namespace sbc::media {

struct NgInstanceConfig {
  std::string name;  // for logs and hashing: stable across restarts, unlike the order
  boost::asio::ip::udp::endpoint endpoint;
  unsigned weight = 1;
};

struct NgSettings {
  std::vector<NgInstanceConfig> instances;  // at most 32 (failover keeps a 32-bit mask)
  unsigned timeout_ms = 1000;               // per attempt
  unsigned retries = 2;                     // resends after the first attempt, same cookie
  unsigned ping_interval_s = 5;             // 0: no health pings
  std::size_t max_outstanding = 256;
  std::size_t max_calls = 65536;  // calls remembered for stickiness; beyond, hashing alone
};

enum class NgCommand : std::uint8_t { Offer, Answer, Delete, Query, List, Ping };
inline constexpr std::size_t kNgCommands = 6;
enum class NgError : std::uint8_t {
  None,
  Timeout,     // no answer after timeout_ms x (retries + 1) (on every instance tried)
  Refused,     // rtpengine answered "error" (reason: its error-reason)
  Malformed,   // the answer is not a well-formed ng answer (reason: what is wrong)
  Overloaded,  // max_outstanding requests already in flight: not sent
  NoInstance,  // no instance configured, or the client is stopped
};
inline constexpr std::size_t kNgErrors = 6;
std::string_view to_string(NgCommand command);
std::string_view to_string(NgError error);

struct NgResult {
  NgError error = NgError::None;
  std::string_view reason;
  std::string_view sdp;     // offer and answer: rtpengine's rewritten SDP
  bencode::Value response;  // the whole answer dictionary (query: "totals", "tags")
  int instance = -1;        // the instance that answered or was last tried
  std::chrono::microseconds latency{};
  bool ok() const { return error == NgError::None; }
};
using NgDone = std::function<void(const NgResult&)>;

// Options of offer and answer, as the ng dictionary keys of the same names.
struct NgOptions {
  std::string_view from_interface, to_interface;  // "direction": [from, to]
  std::span<const std::string_view> flags, replace, rtcp_mux;
  std::string_view ice;                    // "ICE": remove, force, ...
  std::string_view transport_protocol;     // "transport-protocol": RTP/AVP, RTP/SAVP, ...
  std::string_view dtls;                   // "DTLS": off, passive, ...
  std::span<const std::string_view> sdes;  // "SDES": no-NULL_HMAC_SHA1_80, ...
  // "received-from": [IP4|IP6, address]: the SIP sender's address, the media endpoint's with
  // the flag SIP-source-address (a phone behind NAT names its private address in its SDP).
  std::string_view received_from;
};

struct NgCounters {
  // requests[command][error], counted when they complete.
  std::array<std::array<std::uint64_t, kNgErrors>, kNgCommands> requests{};
  std::uint64_t resends = 0, failovers = 0;
  std::uint64_t stray_answers = 0;  // unknown cookie, late, or from another instance
  // Latency of completed requests with an answer, in microseconds: sum, count, and buckets with
  // the upper bounds of kNgLatencyBoundsUs (the last one: everything above).
  std::uint64_t latency_sum_us = 0, latency_count = 0;
  std::array<std::uint64_t, 8> latency_buckets{};
};
inline constexpr std::array<std::uint64_t, 7> kNgLatencyBoundsUs = {500,   1000,   2000,  5000,
                                                                    20000, 100000, 500000};

class NgClient {
 public:
  NgClient(boost::asio::io_context& io, NgSettings settings);
  ~NgClient();
  NgClient(const NgClient&) = delete;
  NgClient& operator=(const NgClient&) = delete;

  // Opens one UDP socket per instance (connected: the kernel drops datagrams from anyone else)
  // and starts the health pings. False, with the reason in `error`, when a socket fails.
  bool start(std::string& error);
  // Closes the sockets; outstanding requests complete with NoInstance.
  void stop();

  void offer(std::string_view call_id, std::string_view from_tag, std::string_view sdp,
             const NgOptions& options, NgDone done);
  void answer(std::string_view call_id, std::string_view from_tag, std::string_view to_tag,
              std::string_view sdp, const NgOptions& options, NgDone done);
  // ng "delete" (the whole call when from_tag is empty).
  void remove(std::string_view call_id, std::string_view from_tag, NgDone done);
  void query(std::string_view call_id, NgDone done);
  // ng "list" on one instance: "calls", the Call-IDs it holds.
  void list(std::size_t instance, NgDone done);
  void ping(std::size_t instance, NgDone done);

  std::size_t instance_count() const;
  bool instance_up(std::size_t instance) const;
  // Where the call's commands go now: its instance when known, else the hashing's choice.
  std::size_t route(std::string_view call_id) const;
  std::size_t outstanding() const { return requests_.size() - free_.size(); }
  const NgCounters& counters() const { return counters_; }

 private:
  struct Instance;
  struct Request;
  struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const noexcept;
  };

  template <typename Body>
  void submit(NgCommand command, std::string_view call_id, int instance, NgDone& done,
              const Body& body);
  void send(Request& request);
  void arm(Request& request);
  void on_deadline(std::uint32_t slot, std::uint64_t serial);
  void receive(std::size_t instance);
  void on_datagram(std::size_t instance, std::string_view datagram);
  void complete(Request& request, NgResult& result);
  int next_instance(std::string_view call_id, std::uint32_t tried) const;
  void schedule_pings();

  boost::asio::io_context& io_;
  NgSettings settings_;
  std::vector<Instance> instances_;
  std::vector<std::unique_ptr<Request>> requests_;
  std::vector<std::uint32_t> free_;
  std::uint64_t serial_ = 0;
  bencode::Document document_;
  std::unordered_map<std::string, std::uint32_t, StringHash, std::equal_to<>> calls_;
  boost::asio::steady_timer ping_timer_;
  bool running_ = false;
  NgCounters counters_;
};

}  // namespace sbc::media
