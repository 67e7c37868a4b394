#include "sbc/cluster/redis_connection.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>

#include <deque>

namespace sbc::cluster {
namespace asio = boost::asio;

// hiredis's event hooks on one descriptor. hiredis owns (and closes) the descriptor: Asio only
// waits on it, and lets go of it when hiredis cleans up.
struct RedisConnection::Events {
  Events(asio::io_context& io, int fd, RedisConnection& connection)
      : socket(io, fd), owner(connection), alive(std::make_shared<bool>(true)) {}
  asio::posix::stream_descriptor socket;
  RedisConnection& owner;
  std::shared_ptr<bool> alive;  // false once hiredis has cleaned up
  bool reading = false, writing = false;
  bool waiting_read = false, waiting_write = false;
  std::deque<std::chrono::steady_clock::time_point> sent;  // one-shot commands, oldest first

  void wait(bool read) {
    bool& waiting = read ? waiting_read : waiting_write;
    if (waiting) return;
    waiting = true;
    socket.async_wait(read ? asio::posix::stream_descriptor::wait_read
                           : asio::posix::stream_descriptor::wait_write,
                      [this, read, token = alive](boost::system::error_code ec) {
                        if (!*token) return;
                        (read ? waiting_read : waiting_write) = false;
                        if (ec || !(read ? reading : writing)) return;
                        redisAsyncContext* context = owner.context_;
                        if (context == nullptr) return;
                        if (read)
                          redisAsyncHandleRead(context);
                        else
                          redisAsyncHandleWrite(context);
                        if (*token && (read ? reading : writing)) wait(read);
                      });
  }
  static Events& of(void* data) { return *static_cast<Events*>(data); }
  static void add_read(void* data) {
    of(data).reading = true;
    of(data).wait(true);
  }
  static void del_read(void* data) { of(data).reading = false; }
  static void add_write(void* data) {
    of(data).writing = true;
    of(data).wait(false);
  }
  static void del_write(void* data) { of(data).writing = false; }
  // The context is being freed (by us, or by hiredis after an error): from here on nothing of
  // it may be touched.
  static void cleanup(void* data) {
    Events& events = of(data);
    *events.alive = false;
    events.socket.release();  // hiredis closes the descriptor
    events.owner.context_ = nullptr;
    events.owner.connected_ = false;
    events.owner.pending_ = 0;
    events.owner.deadline_.cancel();
    RedisConnection& owner = events.owner;
    // hiredis may still run callbacks with the Calls: free them once it is done.
    std::vector<std::unique_ptr<Call>> calls;
    for (Call* call : owner.calls_) calls.emplace_back(call);
    owner.calls_.clear();
    asio::post(owner.io_, [calls = std::move(calls)] {});
    if (!owner.closing_) {
      asio::post(owner.io_, [lost = owner.lost_, why = owner.why_, token = owner.alive_] {
        if (*token && lost) lost(why.empty() ? "connection closed" : why);
      });
    }
  }
};

namespace {

Reply convert(const redisReply& r) {
  Reply out;
  switch (r.type) {
    case REDIS_REPLY_STATUS:
      out.type = Reply::Type::Status;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ERROR:
      out.type = Reply::Type::Error;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_INTEGER:
      out.type = Reply::Type::Integer;
      out.integer = r.integer;
      break;
    case REDIS_REPLY_STRING:
      out.type = Reply::Type::String;
      out.text.assign(r.str, r.len);
      break;
    case REDIS_REPLY_ARRAY:
      out.type = Reply::Type::Array;
      out.elements.reserve(r.elements);
      for (std::size_t i = 0; i < r.elements; ++i) out.elements.push_back(convert(*r.element[i]));
      break;
    default:
      break;
  }
  return out;
}

}  // namespace

RedisConnection::RedisConnection(asio::io_context& io, std::chrono::milliseconds timeout,
                                 std::function<void(std::string)> lost)
    : io_(io),
      timeout_(timeout),
      lost_(std::move(lost)),
      deadline_(io),
      alive_(std::make_shared<bool>(true)) {}

RedisConnection::~RedisConnection() {
  *alive_ = false;
  close();
  for (Call* call : calls_) delete call;
}

void RedisConnection::open(const std::string& ip, std::uint16_t port,
                           std::function<void()> connected) {
  close();
  closing_ = false;
  why_.clear();
  connected_callback_ = std::move(connected);
  redisAsyncContext* context = redisAsyncConnect(ip.c_str(), port);
  if (context == nullptr || context->err != 0) {
    std::string why = context != nullptr ? context->errstr : "out of memory";
    if (context != nullptr) redisAsyncFree(context);
    asio::post(io_, [lost = lost_, why, token = alive_] {
      if (*token && lost) lost(why);
    });
    return;
  }
  context_ = context;
  context->data = this;
  events_ = std::make_unique<Events>(io_, context->c.fd, *this);
  context->ev.data = events_.get();
  context->ev.addRead = &Events::add_read;
  context->ev.delRead = &Events::del_read;
  context->ev.addWrite = &Events::add_write;
  context->ev.delWrite = &Events::del_write;
  context->ev.cleanup = &Events::cleanup;
  redisAsyncSetConnectCallback(context, &RedisConnection::on_connect);
  redisAsyncSetDisconnectCallback(context, &RedisConnection::on_disconnect);
  // The connection itself has the commands' deadline.
  events_->sent.push_back(std::chrono::steady_clock::now());
  arm_deadline();
}

void RedisConnection::on_connect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (status != REDIS_OK) {
    self->why_ = context->errstr;
    return;  // hiredis frees the context: cleanup reports it lost
  }
  self->connected_ = true;
  if (self->events_ && !self->events_->sent.empty()) self->events_->sent.pop_front();
  if (self->connected_callback_) self->connected_callback_();
}

void RedisConnection::on_disconnect(const redisAsyncContext* context, int status) {
  auto* self = static_cast<RedisConnection*>(context->data);
  if (status != REDIS_OK && self->why_.empty()) self->why_ = context->errstr;
}

bool RedisConnection::command(std::span<const std::string_view> args, Done done, bool persistent) {
  if (!open_now() || args.empty()) return false;
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (std::string_view arg : args) {
    argv.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  auto* call = new Call{this, std::move(done), persistent, false};
  if (redisAsyncCommandArgv(context_, &RedisConnection::on_reply, call,
                            static_cast<int>(argv.size()), argv.data(),
                            lengths.data()) != REDIS_OK) {
    delete call;
    return false;
  }
  calls_.push_back(call);
  if (!persistent) {
    ++pending_;
    events_->sent.push_back(std::chrono::steady_clock::now());
    arm_deadline();
  }
  return true;
}

void RedisConnection::on_reply(redisAsyncContext* context, void* reply, void* privdata) {
  (void)context;
  auto* call = static_cast<Call*>(privdata);
  if (call->finished) return;
  RedisConnection& self = *call->owner;
  if (reply == nullptr) {
    // The context is going: the caller hears "no reply", after hiredis is done.
    call->finished = true;
    asio::post(self.io_, [done = std::move(call->done), token = self.alive_] {
      if (*token && done) done(std::nullopt);
    });
    return;
  }
  const Reply converted = convert(*static_cast<redisReply*>(reply));
  if (!call->persistent) {
    call->finished = true;
    if (self.pending_ > 0) --self.pending_;
    if (self.events_ && !self.events_->sent.empty()) self.events_->sent.pop_front();
    std::erase(self.calls_, call);
    Done done = std::move(call->done);
    delete call;
    if (done) done(converted);
    return;
  }
  if (call->done) call->done(converted);
}

void RedisConnection::arm_deadline() {
  if (!events_ || events_->sent.empty()) return;
  deadline_.expires_at(events_->sent.front() + timeout_);
  deadline_.async_wait([this, token = alive_](boost::system::error_code ec) {
    if (ec || !*token || context_ == nullptr || !events_ || events_->sent.empty()) return;
    if (std::chrono::steady_clock::now() - events_->sent.front() >= timeout_) {
      fail("no answer within " + std::to_string(timeout_.count()) + " ms");
      return;
    }
    arm_deadline();
  });
}

void RedisConnection::fail(std::string why) {
  if (context_ == nullptr) return;
  why_ = std::move(why);
  redisAsyncFree(context_);  // cleanup reports it lost
}

void RedisConnection::close() {
  deadline_.cancel();
  if (context_ == nullptr) return;
  closing_ = true;
  redisAsyncFree(context_);
}

}  // namespace sbc::cluster
