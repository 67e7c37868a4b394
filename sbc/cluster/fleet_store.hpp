#pragma once
// The replicas' shared store (issue 16): Redis, on a thread of its own. Workers never wait for
// it: they decide with their own tables, and what the fleet must know (a ban, a failed
// authentication) is handed to this thread through a bounded queue (full: dropped, counted).
// This thread writes it to Redis and publishes it; what other replicas publish comes back on a
// subscription and is handed to the workers by the handlers (the Server posts it to each).
//
// The store may go away: every replica keeps serving with its own state (fail open to local,
// never closed), reconnects with backoff (100 ms doubling to 5 s), and on reconnecting writes
// what it queued meanwhile and loads every running ban (the hash `<prefix>bans`), so that bans
// decided by anyone while it was gone reach everyone.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include "sbc/cluster/fleet_codec.hpp"
#include "sbc/cluster/fleet_settings.hpp"
#include "sbc/common/log.hpp"

namespace sbc::cluster {

class RedisConnection;
struct Reply;

class FleetStore {
 public:
  // Worker `worker` finds bucket `bucket` of `stage` for `key` drained (policy/fleet_share.hpp).
  // The store counts the workers of every replica that reported it within 2 s; when they are
  // more than one, Handlers::spread tells how many (report_heavy()).
  struct Heavy {
    sbc::SourceKey key;
    std::string_view stage;  // a string constant
    unsigned bucket = 0;
    bool all = true;
    unsigned worker = 0;
  };
  // Called on the store's thread.
  struct Handlers {
    std::function<void(const FleetBan&)> ban;  // decided by another replica, or loaded
    std::function<void(const sbc::Cidr&)> unban;
    // The fleet's count of a source's strikes reached the limit given with them: ban it over
    // every transport (`all`) or UDP, for `stage` and `reason` (the views given with them).
    std::function<void(const sbc::SourceKey&, std::string_view stage, std::string_view reason,
                       bool all)>
        strikes_exceeded;
    // `takers` workers of the fleet (this one among them) drain a bucket (see report_heavy).
    std::function<void(const Heavy&, unsigned takers)> spread;
  };
  FleetStore(const FleetSettings& settings, Handlers handlers, logging::Log& log);
  ~FleetStore();
  FleetStore(const FleetStore&) = delete;
  FleetStore& operator=(const FleetStore&) = delete;

  void start();  // the thread; connects in the background (once it has an address)
  void stop();
  // The address the store's name resolves to now (settings.host a DNS name: nothing is
  // connected before the first); a new one drops the connection to the old. From any thread.
  void retarget(std::string ip);

  // From any thread; never waits.
  void publish_ban(FleetBan ban);
  void publish_unban(std::string block);
  // `weight` strikes against `key`; `limit` within `window` from all replicas ban it. `stage`
  // and `reason` must outlive the store (string constants).
  struct Strike {
    sbc::SourceKey key;
    std::string_view stage, reason;
    bool all = true;
    unsigned weight = 1, limit = 1;
    std::chrono::seconds window{60};
  };
  void count_strike(const Strike& strike);
  // From a worker's thread; at most kHeavyPerSecond reach the store (the rest: dropped).
  void report_heavy(const Heavy& heavy);
  // Replicas that announced themselves within the last 3 s (this one included; 1 until the
  // store has answered, and the last count while it is away).
  const std::atomic<unsigned>& replicas() const noexcept { return replicas_; }

  std::uint64_t id() const noexcept { return id_; }  // this replica, in what it publishes

  // For the scrape.
  bool up() const noexcept { return up_.load(std::memory_order_relaxed); }
  // Since the store last answered (0 before the first attempt).
  double sync_lag_seconds() const noexcept;
  struct Counts {
    std::uint64_t written = 0;   // updates the store took
    std::uint64_t failed = 0;    // updates the store refused, or lost with the connection
    std::uint64_t dropped = 0;   // updates refused because the queue was full
    std::uint64_t received = 0;  // bans and lifts from other replicas (and loaded bans)
  };
  Counts counts() const noexcept;

 private:
  struct Ban {
    FleetBan ban;
  };
  struct Unban {
    std::string block;
  };
  using Update = std::variant<Ban, Unban, Strike, Heavy>;

  void enqueue(Update update);
  void connect();
  void lost(const std::string& why);
  void open_subscriber();
  void subscribed();
  void loaded(const Reply& bans);
  void flush();
  bool send(const Update& update);  // false: not sent (the connection is going)
  bool send_heavy(const Update& update, const Heavy& heavy);
  void sent(const Update& update, bool ok, bool lost);
  void lift_in_store(const Unban& unban);
  void ping();
  void announce();
  void prune();
  void delete_fields(const std::vector<std::string>& fields);
  void heard() noexcept;
  template <class Next>
  void prepare(RedisConnection& connection, bool select, Next next);

  FleetSettings settings_;
  Handlers handlers_;
  logging::Log& log_;
  std::uint64_t id_;
  std::string bans_key_, channel_;
  std::string address_;  // store thread: where settings_.host is now (empty: not resolved yet)
  boost::asio::io_context io_;
  std::unique_ptr<RedisConnection> commands_, subscriber_;
  boost::asio::steady_timer retry_, ping_;
  std::chrono::milliseconds backoff_{100};
  std::deque<Update> outbox_;  // store thread
  // Bans written to the store (store thread): a budget per second, refilled as time passes.
  struct Budget {
    double rate, tokens;
    std::chrono::steady_clock::time_point refilled = std::chrono::steady_clock::now();
    bool take() noexcept {
      const auto now = std::chrono::steady_clock::now();
      tokens =
          std::min(rate, tokens + std::chrono::duration<double>(now - refilled).count() * rate);
      refilled = now;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    }
  } ban_budget_, heavy_budget_;
  std::chrono::steady_clock::time_point pruned_{};  // the hash's expired bans, last deleted
  std::atomic<std::size_t> queued_{0};              // posted or in outbox_: the bound
  std::uint64_t attempt_ = 0;  // which connection attempt the callbacks belong to
  std::atomic<bool> up_{false};
  std::atomic<unsigned> replicas_{1};
  std::atomic<std::int64_t> heard_ms_{0};  // steady clock, when the store last answered
  std::atomic<std::uint64_t> written_{0}, failed_{0}, dropped_{0}, received_{0};
  std::thread thread_;
};

}  // namespace sbc::cluster
