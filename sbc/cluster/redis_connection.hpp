#pragma once
// One connection to Redis, asynchronous (hiredis's async API) on an Asio io_context: hiredis
// says when it wants to read or write, Asio waits for the descriptor and hands the event back.
// Everything runs on the io_context's thread. Every command has a deadline: a store that stops
// answering is a lost store (the connection closes, every pending callback hears of it), not a
// queue that grows.

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

struct redisAsyncContext;  // hiredis

namespace sbc::cluster {

// A reply as plain values (hiredis's redisReply does not outlive its callback).
struct Reply {
  enum class Type : std::uint8_t { Nil, Status, Error, Integer, String, Array };
  Type type = Type::Nil;
  std::string text;  // Status, Error, String
  long long integer = 0;
  std::vector<Reply> elements;  // Array
  bool error() const noexcept { return type == Type::Error; }
};

class RedisConnection {
 public:
  // `lost(why)` runs once when an open connection (or the attempt to open it) ends for any
  // reason but close(): refused, reset, a deadline passed.
  RedisConnection(boost::asio::io_context& io, std::chrono::milliseconds timeout,
                  std::function<void(std::string why)> lost);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // Opens the connection; `connected()` runs once it is (`lost` if it cannot be).
  void open(const std::string& ip, std::uint16_t port, std::function<void()> connected);
  // A command; `done` gets the reply, or nothing when the connection was lost before it came.
  // A subscription (`persistent`) hears every message of its channel the same way. False (and
  // no call) when the connection is not open.
  using Done = std::function<void(const std::optional<Reply>&)>;
  bool command(std::span<const std::string_view> args, Done done, bool persistent = false);
  // Closes without calling `lost`; pending callbacks get nothing.
  void close();
  bool open_now() const noexcept { return context_ != nullptr && connected_; }
  std::size_t pending() const noexcept { return pending_; }

 private:
  struct Events;
  struct Call {
    RedisConnection* owner;
    Done done;
    bool persistent;
    bool finished;  // its reply (or the loss) was delivered
  };
  static void on_reply(::redisAsyncContext* context, void* reply, void* privdata);
  static void on_connect(const ::redisAsyncContext* context, int status);
  static void on_disconnect(const ::redisAsyncContext* context, int status);
  void fail(std::string why);
  void arm_deadline();

  boost::asio::io_context& io_;
  std::chrono::milliseconds timeout_;
  std::function<void(std::string)> lost_;
  std::function<void()> connected_callback_;
  ::redisAsyncContext* context_ = nullptr;
  std::unique_ptr<Events> events_;
  bool connected_ = false;
  bool closing_ = false;      // close(): the end is ours, `lost` is not called
  std::string why_;           // why hiredis is closing it
  std::size_t pending_ = 0;   // one-shot commands waiting for their reply
  std::vector<Call*> calls_;  // every callback hiredis holds (freed when it lets go)
  boost::asio::steady_timer deadline_;
  std::shared_ptr<bool> alive_;
};

}  // namespace sbc::cluster
