#include "sbc/cluster/fleet_store.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>

#include <algorithm>
#include <array>
#include <random>

#include "sbc/cluster/redis_connection.hpp"
#include "sbc/common/address.hpp"

namespace sbc::cluster {
namespace asio = boost::asio;
using std::chrono::steady_clock;

namespace {

constexpr std::chrono::milliseconds kMaxBackoff{5000};
constexpr std::chrono::seconds kPingEvery{1};
constexpr std::chrono::milliseconds kReplicaSilence{3000};
constexpr double kBansPerSecond = 200;  // written to the store by one replica, burst as much
constexpr std::chrono::seconds kPruneEvery{60};  // expired bans deleted from the hash
// Drained buckets reported by one replica's workers (each reports one at most once a second);
// the rest are dropped: a flood of many heavy sources must not flood the store.
constexpr double kHeavyPerSecond = 500;
// A worker's report counts for this long (workers report every second while a bucket drains).
constexpr std::chrono::milliseconds kHeavyFresh{2000};

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             steady_clock::now().time_since_epoch())
      .count();
}

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t random_id() {
  std::random_device device;
  return (static_cast<std::uint64_t>(device()) << 32) | device();
}

bool ok(const std::optional<Reply>& reply) {
  return reply && !reply->error();
}

// The fields of a HGETALL reply of the bans hash for which `pick(ban)` holds: every entry is
// read back (`ban`: nothing when unreadable) and offered to `pick` once, in order.
template <class Pick>
std::vector<std::string> fields_where(const Reply& hash, Pick pick) {
  std::vector<std::string> fields;
  for (std::size_t i = 0; i + 1 < hash.elements.size(); i += 2) {
    const std::string& field = hash.elements[i].text;
    if (pick(parse_ban(field, hash.elements[i + 1].text))) fields.push_back(field);
  }
  return fields;
}

// An entry of no more use to anyone: expired at `now_ms`, or not ours to read.
bool spent(const std::optional<FleetBan>& ban, std::int64_t now_ms) {
  return !ban || ban->until_ms <= now_ms;
}

}  // namespace

FleetStore::FleetStore(const FleetSettings& settings, Handlers handlers, logging::Log& log)
    : settings_(settings),
      handlers_(std::move(handlers)),
      log_(log),
      id_(random_id()),
      bans_key_(settings.key_prefix + "bans"),
      channel_(settings.key_prefix + "events"),
      address_(sbc::parse_address(settings.host) ? settings.host : std::string()),
      retry_(io_),
      ping_(io_),
      ban_budget_{kBansPerSecond, kBansPerSecond},
      heavy_budget_{kHeavyPerSecond, kHeavyPerSecond} {}

FleetStore::~FleetStore() {
  // Server::stop() stops the store first; this is the fallback, and a destructor must not throw
  // (posting may fail to allocate, joining may report an error: the thread is gone either way).
  try {
    stop();
  } catch (...) {  // NOLINT(bugprone-empty-catch)
  }
}

void FleetStore::start() {
  asio::post(io_, [this] { connect(); });
  thread_ = std::thread([this] {
    auto guard = asio::make_work_guard(io_);
    io_.run();
  });
}

void FleetStore::stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    retry_.cancel();
    ping_.cancel();
    if (commands_) commands_->close();
    if (subscriber_) subscriber_->close();
    up_ = false;
    io_.stop();
  });
  thread_.join();
  commands_.reset();
  subscriber_.reset();
}

void FleetStore::enqueue(Update update) {
  if (queued_.fetch_add(1, std::memory_order_relaxed) >= settings_.max_queued) {
    queued_.fetch_sub(1, std::memory_order_relaxed);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  asio::post(io_, [this, update = std::move(update)]() mutable {
    // Bans reach the store at kBansPerSecond at most: a flood of forged sources (each banned on
    // UDP) must not grow the shared hash without bound. The rest stay local, counted dropped.
    // Likewise reports of drained buckets (kHeavyPerSecond).
    if ((std::holds_alternative<Ban>(update) && !ban_budget_.take()) ||
        (std::holds_alternative<Heavy>(update) && !heavy_budget_.take())) {
      queued_.fetch_sub(1, std::memory_order_relaxed);
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    // A drained bucket is news for 2 s: not kept for a store that is away.
    if (std::holds_alternative<Heavy>(update) && !up_) {
      queued_.fetch_sub(1, std::memory_order_relaxed);
      failed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    outbox_.push_back(std::move(update));
    flush();
  });
}

void FleetStore::publish_ban(FleetBan ban) {
  ban.origin = id_;
  enqueue(Ban{std::move(ban)});
}

void FleetStore::publish_unban(std::string block) {
  enqueue(Unban{std::move(block)});
}

void FleetStore::count_strike(const Strike& strike) {
  if (strike.limit == 0 || strike.weight == 0) return;
  enqueue(strike);
}

void FleetStore::retarget(std::string ip) {
  asio::post(io_, [this, ip = std::move(ip)] {
    if (ip == address_) return;
    const bool had = !address_.empty();
    address_ = ip;
    log_(logging::LogLevel::Info, "cluster store address",
         {{"store", settings_.host + ":" + std::to_string(settings_.port)}, {"address", ip}});
    if (!had) return connect();
    backoff_ = std::chrono::milliseconds(100);
    lost("the store's name resolves to another address");
  });
}

void FleetStore::report_heavy(const Heavy& heavy) {
  enqueue(heavy);
}

// Both connections anew: commands (AUTH, SELECT) and the subscription (AUTH, SUBSCRIBE), then
// the running bans are loaded; only then is the store up and the queue written.
void FleetStore::connect() {
  if (address_.empty()) return;  // a name not resolved yet: retarget() connects
  const std::uint64_t attempt = ++attempt_;
  auto on_lost = [this, attempt](const std::string& why) {
    if (attempt == attempt_) lost(why);
  };
  commands_ = std::make_unique<RedisConnection>(io_, settings_.timeout, on_lost);
  subscriber_ = std::make_unique<RedisConnection>(io_, settings_.timeout, on_lost);
  commands_->open(address_, settings_.port, [this, attempt] {
    if (attempt != attempt_) return;
    prepare(*commands_, true, [this, attempt] {
      if (attempt == attempt_) open_subscriber();
    });
  });
}

// AUTH (with a password) and SELECT (a database other than 0) on `connection`, then `next`.
template <class Next>
void FleetStore::prepare(RedisConnection& connection, bool select, Next next) {
  const std::uint64_t attempt = attempt_;
  auto after_auth = [this, &connection, select, next, attempt] {
    if (attempt != attempt_) return;
    if (!select || settings_.database == 0) return next();
    const std::string db = std::to_string(settings_.database);
    const std::array<std::string_view, 2> args{"SELECT", db};
    connection.command(args, [this, next, attempt](const std::optional<Reply>& reply) {
      if (attempt != attempt_) return;
      if (!ok(reply)) return lost("SELECT refused: " + (reply ? reply->text : "no answer"));
      heard();
      next();
    });
  };
  if (settings_.password.empty()) return after_auth();
  std::vector<std::string_view> args{"AUTH"};
  if (!settings_.username.empty()) args.emplace_back(settings_.username);
  args.emplace_back(settings_.password);
  connection.command(args, [this, after_auth, attempt](const std::optional<Reply>& reply) {
    if (attempt != attempt_) return;
    // The reply names no password; only that it was refused.
    if (!ok(reply)) return lost("AUTH refused: " + (reply ? reply->text : "no answer"));
    heard();
    after_auth();
  });
}

void FleetStore::open_subscriber() {
  const std::uint64_t attempt = attempt_;
  subscriber_->open(address_, settings_.port, [this, attempt] {
    if (attempt != attempt_) return;
    prepare(*subscriber_, false, [this, attempt] {
      if (attempt != attempt_) return;
      const std::array<std::string_view, 2> args{"SUBSCRIBE", channel_};
      const bool sent = subscriber_->command(
          args,
          [this, attempt](const std::optional<Reply>& reply) {
            if (attempt != attempt_ || !reply) return;
            heard();
            if (reply->type != Reply::Type::Array || reply->elements.size() < 3) return;
            const std::string& kind = reply->elements[0].text;
            if (kind == "subscribe") return subscribed();
            if (kind != "message") return;
            const auto message = parse_message(reply->elements[2].text);
            if (!message || message->origin == id_) return;
            received_.fetch_add(1, std::memory_order_relaxed);
            if (message->kind == FleetMessage::Kind::Ban) {
              if (handlers_.ban) handlers_.ban(message->ban);
            } else if (handlers_.unban) {
              handlers_.unban(message->cidr);
            }
          },
          true);
      if (!sent) lost("SUBSCRIBE could not be sent");
    });
  });
}

// Subscribed: from here on no ban is missed, so the running ones are loaded.
void FleetStore::subscribed() {
  const std::uint64_t attempt = attempt_;
  const std::array<std::string_view, 2> args{"HGETALL", bans_key_};
  commands_->command(args, [this, attempt](const std::optional<Reply>& reply) {
    if (attempt != attempt_) return;
    if (!ok(reply)) return lost("HGETALL refused: " + (reply ? reply->text : "no answer"));
    heard();
    loaded(*reply);
  });
}

void FleetStore::loaded(const Reply& bans) {
  const std::int64_t now = wall_ms();
  std::size_t running = 0;
  delete_fields(fields_where(bans, [&](const std::optional<FleetBan>& ban) {
    if (spent(ban, now)) return true;
    ++running;
    received_.fetch_add(1, std::memory_order_relaxed);
    if (handlers_.ban) handlers_.ban(*ban);
    return false;
  }));
  pruned_ = steady_clock::now();
  up_ = true;
  backoff_ = std::chrono::milliseconds(100);
  log_(logging::LogLevel::Info, "cluster store connected",
       {{"store", settings_.host + ":" + std::to_string(settings_.port)},
        {"bans_loaded", std::to_string(running)},
        {"queued", std::to_string(outbox_.size())}});
  announce();
  ping();
  flush();
}

void FleetStore::lost(const std::string& why) {
  const bool was_up = up_.exchange(false);
  ping_.cancel();
  ++attempt_;  // callbacks of this attempt are stale from here on
  if (commands_) commands_->close();
  if (subscriber_) subscriber_->close();
  if (was_up || backoff_ == std::chrono::milliseconds(100))
    log_(logging::LogLevel::Warn, "cluster store unavailable, deciding with local state",
         {{"store", settings_.host + ":" + std::to_string(settings_.port)},
          {"reason", why},
          {"retry_ms", std::to_string(backoff_.count())}});
  retry_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  retry_.async_wait([this](boost::system::error_code ec) {
    if (!ec) connect();
  });
}

void FleetStore::flush() {
  if (!up_ || !commands_ || !commands_->open_now()) return;
  while (!outbox_.empty()) {
    Update update = std::move(outbox_.front());
    outbox_.pop_front();
    if (!send(update)) {
      outbox_.push_front(std::move(update));  // the connection is going: after the reconnect
      return;
    }
  }
}

bool FleetStore::send(const Update& update) {
  auto done = [this, update](const std::optional<Reply>& reply) {
    sent(update, ok(reply), !reply);
  };
  if (const auto* ban = std::get_if<Ban>(&update)) {
    const std::string field = ban_field(ban->ban.key, ban->ban.all);
    const std::string value = ban_value(ban->ban);
    const std::array<std::string_view, 4> hset{"HSET", bans_key_, field, value};
    const std::string message = ban_message(ban->ban);
    const std::array<std::string_view, 3> publish{"PUBLISH", channel_, message};
    return commands_->command(hset, [](const std::optional<Reply>&) {}) &&
           commands_->command(publish, done);
  }
  if (const auto* unban = std::get_if<Unban>(&update)) {
    lift_in_store(*unban);
    const std::string message = unban_message(unban->block, id_);
    const std::array<std::string_view, 3> publish{"PUBLISH", channel_, message};
    return commands_->command(publish, done);
  }
  if (const auto* strike = std::get_if<Strike>(&update)) {
    const std::string key =
        strike_key(settings_.key_prefix, strike->stage, strike->key, strike->all);
    const std::string window = std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(strike->window).count());
    const std::string weight = std::to_string(strike->weight);
    // The window starts with the first strike anywhere (NX); INCRBY keeps its expiry.
    const std::array<std::string_view, 6> start{"SET", key, "0", "PX", window, "NX"};
    const std::array<std::string_view, 3> incr{"INCRBY", key, weight};
    return commands_->command(start, [](const std::optional<Reply>&) {}) &&
           commands_->command(incr, [this, update, s = *strike](const std::optional<Reply>& reply) {
             sent(update, ok(reply), !reply);
             if (!ok(reply) || reply->type != Reply::Type::Integer) return;
             // The replica whose strikes crossed the limit bans; the others hear the ban.
             const long long limit = s.limit, count = reply->integer;
             if (count >= limit && count - s.weight < limit && handlers_.strikes_exceeded)
               handlers_.strikes_exceeded(s.key, s.stage, s.reason, s.all);
           });
  }
  if (const auto* heavy = std::get_if<Heavy>(&update)) return send_heavy(update, *heavy);
  return true;
}

// This worker drains the bucket now: its member of the bucket's sorted set, scored by wall-clock
// time; members older than kHeavyFresh go, the rest are counted (the set expires when nobody
// reports any more).
bool FleetStore::send_heavy(const Update& update, const Heavy& heavy) {
  const std::string key =
      heavy_key(settings_.key_prefix, heavy.stage, heavy.bucket, heavy.key, heavy.all);
  const std::string now = std::to_string(wall_ms());
  const std::string stale = std::to_string(wall_ms() - kHeavyFresh.count());
  const std::string member = std::to_string(id_) + "/" + std::to_string(heavy.worker);
  const std::string expiry = std::to_string(kHeavyFresh.count() + 1000);
  const std::array<std::string_view, 4> add{"ZADD", key, now, member};
  const std::array<std::string_view, 4> prune{"ZREMRANGEBYSCORE", key, "-inf", stale};
  const std::array<std::string_view, 3> expire{"PEXPIRE", key, expiry};
  const std::array<std::string_view, 2> count{"ZCARD", key};
  auto ignore = [](const std::optional<Reply>&) {};
  return commands_->command(add, ignore) && commands_->command(prune, ignore) &&
         commands_->command(expire, ignore) &&
         commands_->command(count, [this, update, heavy](const std::optional<Reply>& reply) {
           sent(update, ok(reply), !reply);
           if (!ok(reply) || reply->type != Reply::Type::Integer || reply->integer < 2) return;
           if (handlers_.spread)
             handlers_.spread(heavy,
                              static_cast<unsigned>(std::min<long long>(reply->integer, 255)));
         });
}

// An update's fate: taken, refused, or lost with the connection (then queued again, for the
// store after the reconnect; a strike whose answer was lost may then count twice; a drained
// bucket is old news by then, counted failed).
void FleetStore::sent(const Update& update, bool taken, bool lost_with_connection) {
  if (lost_with_connection && !std::holds_alternative<Heavy>(update)) {
    outbox_.push_front(update);
    flush();
    return;
  }
  queued_.fetch_sub(1, std::memory_order_relaxed);
  (taken ? written_ : failed_).fetch_add(1, std::memory_order_relaxed);
  if (taken) heard();
}

// Lifting bans in the store: the hash's fields inside the block go (the published message lifts
// them on the replicas).
void FleetStore::lift_in_store(const Unban& unban) {
  const auto block = sbc::parse_cidr(unban.block);
  if (!block) return;
  const std::array<std::string_view, 2> args{"HGETALL", bans_key_};
  commands_->command(args, [this, block = *block](const std::optional<Reply>& reply) {
    if (!ok(reply) || !commands_) return;
    delete_fields(fields_where(*reply, [&](const std::optional<FleetBan>& ban) {
      return ban && sbc::overlaps(block, ban->key, settings_.ipv6_prefix);
    }));
  });
}

void FleetStore::ping() {
  ping_.expires_after(kPingEvery);
  ping_.async_wait([this](boost::system::error_code ec) {
    if (ec || !up_ || !commands_) return;
    announce();
    if (steady_clock::now() - pruned_ >= kPruneEvery) prune();
    ping();
  });
}

// Expired bans out of the hash (bans carry their expiry; Redis 7.0 has no expiry per field).
void FleetStore::prune() {
  pruned_ = steady_clock::now();
  const std::array<std::string_view, 2> args{"HGETALL", bans_key_};
  const std::uint64_t attempt = attempt_;
  commands_->command(args, [this, attempt](const std::optional<Reply>& reply) {
    if (attempt != attempt_ || !ok(reply) || !commands_) return;
    const std::int64_t now = wall_ms();
    delete_fields(fields_where(
        *reply, [now](const std::optional<FleetBan>& ban) { return spent(ban, now); }));
  });
}

void FleetStore::delete_fields(const std::vector<std::string>& fields) {
  if (fields.empty() || !commands_) return;
  std::vector<std::string_view> args{"HDEL", bans_key_};
  for (const std::string& field : fields) args.emplace_back(field);
  commands_->command(args, [](const std::optional<Reply>&) {});
}

// This replica is alive (a member of <prefix>replicas scored by its wall-clock time); members
// silent for 3 s are dropped, and the rest counted: the global rate limits' split.
void FleetStore::announce() {
  const std::string now = std::to_string(wall_ms());
  const std::string stale = std::to_string(wall_ms() - kReplicaSilence.count());
  const std::string me = std::to_string(id_);
  const std::string key = settings_.key_prefix + "replicas";
  const std::array<std::string_view, 4> add{"ZADD", key, now, me};
  const std::array<std::string_view, 4> prune{"ZREMRANGEBYSCORE", key, "-inf", stale};
  const std::array<std::string_view, 2> count{"ZCARD", key};
  const std::uint64_t attempt = attempt_;
  commands_->command(add, [](const std::optional<Reply>&) {});
  commands_->command(prune, [](const std::optional<Reply>&) {});
  commands_->command(count, [this, attempt](const std::optional<Reply>& reply) {
    if (attempt != attempt_ || !ok(reply) || reply->type != Reply::Type::Integer) return;
    heard();
    replicas_.store(static_cast<unsigned>(std::clamp<long long>(reply->integer, 1, 4096)),
                    std::memory_order_relaxed);
  });
}

void FleetStore::heard() noexcept {
  heard_ms_.store(steady_ms(), std::memory_order_relaxed);
}

double FleetStore::sync_lag_seconds() const noexcept {
  const std::int64_t heard = heard_ms_.load(std::memory_order_relaxed);
  if (heard == 0) return 0;
  return static_cast<double>(steady_ms() - heard) / 1000.0;
}

FleetStore::Counts FleetStore::counts() const noexcept {
  return {written_.load(std::memory_order_relaxed), failed_.load(std::memory_order_relaxed),
          dropped_.load(std::memory_order_relaxed), received_.load(std::memory_order_relaxed)};
}

}  // namespace sbc::cluster
