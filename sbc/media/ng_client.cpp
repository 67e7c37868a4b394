#include "sbc/media/ng_client.hpp"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <charconv>
#include <cmath>
#include <random>
#include <utility>

#include "sbc/common/keyed_hash.hpp"

namespace sbc::media {

namespace {

// Larger than any answer rtpengine sends over UDP (a datagram is at most 64 KiB).
constexpr std::size_t kReceiveBuffer = 65536;
// Failover remembers instances tried in a 32-bit mask.
constexpr std::size_t kMaxInstances = 32;

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

void put_list(bencode::Writer& writer, std::string_view key,
              std::span<const std::string_view> items) {
  if (items.empty()) return;
  writer.key(key).list();
  for (const auto item : items) writer.string(item);
  writer.end();
}

void put_options(bencode::Writer& writer, const NgOptions& options) {
  if (!options.from_interface.empty() || !options.to_interface.empty())
    writer.key("direction")
        .list()
        .string(options.from_interface)
        .string(options.to_interface)
        .end();
  put_list(writer, "flags", options.flags);
  put_list(writer, "replace", options.replace);
  put_list(writer, "rtcp-mux", options.rtcp_mux);
  if (!options.ice.empty()) writer.entry("ICE", options.ice);
  if (!options.transport_protocol.empty())
    writer.entry("transport-protocol", options.transport_protocol);
  if (!options.dtls.empty()) writer.entry("DTLS", options.dtls);
  if (!options.received_from.empty())
    writer.key("received-from")
        .list()
        .string(options.received_from.find(':') == std::string_view::npos ? "IP4" : "IP6")
        .string(options.received_from)
        .end();
  put_list(writer, "SDES", options.sdes);
}

}  // namespace

std::string_view to_string(NgCommand command) {
  static constexpr std::array<std::string_view, kNgCommands> names = {"offer", "answer", "delete",
                                                                      "query", "list",   "ping"};
  return names[static_cast<std::size_t>(command)];
}

std::string_view to_string(NgError error) {
  static constexpr std::array<std::string_view, kNgErrors> names = {
      "ok", "timeout", "refused", "malformed", "overloaded", "no_instance"};
  return names[static_cast<std::size_t>(error)];
}

struct NgClient::Instance {
  NgInstanceConfig config;
  std::uint64_t name_hash = 0;
  boost::asio::ip::udp::socket socket;
  std::vector<char> buffer;
  bool up = true;  // until a request times out
  bool ping_pending = false;
};

// One slot of the bounded table of requests in flight; slots and their buffers are reused.
struct NgClient::Request {
  explicit Request(boost::asio::io_context& io) : timer(io) {
    message.reserve(4096);
    call_id.reserve(128);
  }
  bool busy = false;
  std::uint32_t slot = 0;
  std::uint64_t serial = 0;
  NgCommand command = NgCommand::Ping;
  bool may_fail_over = false;
  std::string message;  // "COOKIE <dict>", resent as is
  std::string call_id;
  std::uint32_t instance = 0;
  std::uint32_t tried = 0;  // mask of instances tried
  unsigned attempts = 0;
  std::chrono::steady_clock::time_point started;
  boost::asio::steady_timer timer;
  NgDone done;
};

// Call-IDs are the caller's choice: a keyed hash, so nobody can aim calls at one bucket of the
// call table or at one rtpengine instance.
std::size_t NgClient::StringHash::operator()(std::string_view text) const noexcept {
  return static_cast<std::size_t>(sbc::common::siphash24(sbc::common::process_hash_key(), text));
}

NgClient::NgClient(boost::asio::io_context& io, NgSettings settings)
    : io_(io), settings_(std::move(settings)), ping_timer_(io) {
  if (settings_.instances.size() > kMaxInstances) settings_.instances.resize(kMaxInstances);
  instances_.reserve(settings_.instances.size());
  for (const auto& config : settings_.instances) {
    instances_.push_back(
        Instance{config,
                 mix(sbc::common::siphash24(sbc::common::process_hash_key(), config.name)),
                 boost::asio::ip::udp::socket(io_),
                 {},
                 true,
                 false});
    instances_.back().buffer.resize(kReceiveBuffer);
  }
  const std::size_t slots = std::max<std::size_t>(1, settings_.max_outstanding);
  requests_.reserve(slots);
  free_.reserve(slots);
  for (std::size_t i = 0; i < slots; ++i) {
    requests_.push_back(std::make_unique<Request>(io_));
    requests_.back()->slot = static_cast<std::uint32_t>(i);
    free_.push_back(static_cast<std::uint32_t>(slots - 1 - i));
  }
  // Cookies differ between runs, so that a late answer to an earlier process is not taken for
  // one of ours.
  serial_ = std::random_device{}();
  serial_ = (serial_ << 32) ^ std::random_device{}();
}

NgClient::~NgClient() = default;

bool NgClient::start(std::string& error) {
  for (std::size_t i = 0; i < instances_.size(); ++i) {
    auto& instance = instances_[i];
    boost::system::error_code ec;
    instance.socket.open(instance.config.endpoint.protocol(), ec);
    if (!ec) instance.socket.non_blocking(true, ec);
    if (!ec) instance.socket.connect(instance.config.endpoint, ec);
    if (ec) {
      error = "ng instance " + instance.config.name + ": " + ec.message();
      return false;
    }
  }
  running_ = true;
  for (std::size_t i = 0; i < instances_.size(); ++i) receive(i);
  schedule_pings();
  return true;
}

void NgClient::stop() {
  running_ = false;
  ping_timer_.cancel();
  for (auto& instance : instances_) {
    boost::system::error_code ignored;
    instance.socket.close(ignored);
  }
  for (auto& request : requests_) {
    if (!request->busy) continue;
    NgResult result;
    result.error = NgError::NoInstance;
    result.reason = "client stopped";
    complete(*request, result);
  }
}

void NgClient::schedule_pings() {
  if (settings_.ping_interval_s == 0 || !running_) return;
  ping_timer_.expires_after(std::chrono::seconds(settings_.ping_interval_s));
  ping_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || !running_) return;
    for (std::size_t i = 0; i < instances_.size(); ++i) {
      // One health ping at a time per instance: a dead one does not fill the table.
      if (instances_[i].ping_pending || free_.empty()) continue;
      instances_[i].ping_pending = true;
      ping(i, [this, i](const NgResult&) { instances_[i].ping_pending = false; });
    }
    schedule_pings();
  });
}

// Weighted rendezvous hashing: each instance scores -weight / ln(u), u uniform in (0, 1) from the
// hash of (call, instance); the highest score wins. Removing an instance moves only its calls.
int NgClient::next_instance(std::string_view call_id, std::uint32_t tried) const {
  const std::uint64_t call_hash = sbc::common::siphash24(sbc::common::process_hash_key(), call_id);
  int best = -1;
  bool best_up = false;
  double best_score = 0;
  for (std::size_t i = 0; i < instances_.size(); ++i) {
    if ((tried >> i) & 1u) continue;
    const auto& instance = instances_[i];
    const std::uint64_t h = mix(call_hash ^ instance.name_hash);
    const double u = (static_cast<double>(h >> 11) + 0.5) / 9007199254740992.0;  // 2^53
    const double score = -static_cast<double>(std::max(1u, instance.config.weight)) / std::log(u);
    // Up instances first; among instances all down, still the hashing's choice (marks go stale).
    if (best < 0 || (instance.up && !best_up) || (instance.up == best_up && score > best_score)) {
      best = static_cast<int>(i);
      best_up = instance.up;
      best_score = score;
    }
  }
  return best;
}

std::size_t NgClient::instance_count() const {
  return instances_.size();
}

bool NgClient::instance_up(std::size_t instance) const {
  return instances_[instance].up;
}

std::size_t NgClient::route(std::string_view call_id) const {
  if (const auto known = calls_.find(call_id); known != calls_.end()) return known->second;
  const int chosen = next_instance(call_id, 0);
  return chosen < 0 ? 0 : static_cast<std::size_t>(chosen);
}

template <typename Body>
void NgClient::submit(NgCommand command, std::string_view call_id, int instance, NgDone& done,
                      const Body& body) {
  NgResult refused;
  if (!running_ || instances_.empty()) {
    refused.error = NgError::NoInstance;
    refused.reason = running_ ? "no ng instance configured" : "client stopped";
  } else if (free_.empty()) {
    refused.error = NgError::Overloaded;
    refused.reason = "too many ng requests in flight";
  } else if (command == NgCommand::Offer && settings_.ping_interval_s != 0 &&
             std::none_of(instances_.begin(), instances_.end(),
                          [](const Instance& i) { return i.up; })) {
    // Every instance failed its last request or ping: a call fails now rather than after
    // timeout x (retries + 1) on each, and a ping brings an instance back within its interval.
    refused.error = NgError::NoInstance;
    refused.reason = "every rtpengine instance is down";
  }
  if (!refused.ok()) {
    ++counters_
          .requests[static_cast<std::size_t>(command)][static_cast<std::size_t>(refused.error)];
    if (done) done(refused);
    return;
  }
  Request& request = *requests_[free_.back()];
  free_.pop_back();
  request.busy = true;
  request.serial = ++serial_;
  request.command = command;
  request.call_id.assign(call_id);
  request.done = std::move(done);
  const bool known = instance < 0 && calls_.find(call_id) != calls_.end();
  request.may_fail_over = command == NgCommand::Offer && !known;
  request.instance =
      static_cast<std::uint32_t>(instance >= 0 ? instance : static_cast<int>(route(call_id)));
  request.tried = 1u << request.instance;
  request.attempts = 0;
  // The cookie names its slot, so that an answer finds its request without a search:
  // <slot hex>_<serial hex>.
  request.message.clear();
  char digits[20];
  auto end = std::to_chars(digits, digits + sizeof digits, request.slot, 16).ptr;
  request.message.append(digits, end).push_back('_');
  end = std::to_chars(digits, digits + sizeof digits, request.serial, 16).ptr;
  request.message.append(digits, end).push_back(' ');
  bencode::Writer writer(request.message);
  writer.dict().entry("command", to_string(command));
  body(writer);
  writer.end();
  request.started = std::chrono::steady_clock::now();
  send(request);
}

void NgClient::send(Request& request) {
  ++request.attempts;
  boost::system::error_code ec;
  // A failed send (buffer full, ICMP refusal reported on the socket) is left to the deadline.
  instances_[request.instance].socket.send(boost::asio::buffer(request.message), 0, ec);
  arm(request);
}

void NgClient::arm(Request& request) {
  request.timer.expires_after(std::chrono::milliseconds(settings_.timeout_ms));
  request.timer.async_wait(
      [this, slot = request.slot, serial = request.serial](const boost::system::error_code& ec) {
        if (!ec) on_deadline(slot, serial);
      });
}

void NgClient::on_deadline(std::uint32_t slot, std::uint64_t serial) {
  Request& request = *requests_[slot];
  if (!request.busy || request.serial != serial) return;
  if (request.attempts <= settings_.retries) {
    ++counters_.resends;
    send(request);
    return;
  }
  instances_[request.instance].up = false;
  if (request.may_fail_over) {
    const int next = next_instance(request.call_id, request.tried);
    if (next >= 0) {
      ++counters_.failovers;
      request.instance = static_cast<std::uint32_t>(next);
      request.tried |= 1u << request.instance;
      request.attempts = 0;
      send(request);
      return;
    }
  }
  NgResult result;
  result.error = NgError::Timeout;
  result.reason = "no answer from rtpengine";
  complete(request, result);
}

void NgClient::receive(std::size_t index) {
  auto& instance = instances_[index];
  instance.socket.async_receive(
      boost::asio::buffer(instance.buffer),
      [this, index](const boost::system::error_code& ec, std::size_t size) {
        if (!running_ || ec == boost::asio::error::operation_aborted) return;
        // Errors (an ICMP refusal from a dead instance) leave the request to its deadline.
        if (!ec) on_datagram(index, std::string_view(instances_[index].buffer.data(), size));
        receive(index);
      });
}

void NgClient::on_datagram(std::size_t index, std::string_view datagram) {
  const auto space = datagram.find(' ');
  const auto underscore = datagram.substr(0, space).find('_');
  std::uint32_t slot = 0;
  std::uint64_t serial = 0;
  bool parsed = space != std::string_view::npos && underscore != std::string_view::npos;
  if (parsed) {
    const char* first = datagram.data();
    const auto slot_end = std::from_chars(first, first + underscore, slot, 16);
    const auto serial_end = std::from_chars(first + underscore + 1, first + space, serial, 16);
    parsed = slot_end.ec == std::errc() && slot_end.ptr == first + underscore &&
             serial_end.ec == std::errc() && serial_end.ptr == first + space;
  }
  if (!parsed || slot >= requests_.size() || !requests_[slot]->busy ||
      requests_[slot]->serial != serial || requests_[slot]->instance != index) {
    ++counters_.stray_answers;
    return;
  }
  Request& request = *requests_[slot];
  instances_[index].up = true;
  NgResult result;
  const auto status = document_.decode(datagram.substr(space + 1));
  const auto root = document_.root();
  if (!status.ok) {
    result.error = NgError::Malformed;
    result.reason = status.reason;
  } else if (!root.is(bencode::Kind::Dict)) {
    result.error = NgError::Malformed;
    result.reason = "answer is not a dictionary";
  } else {
    result.response = root;
    const auto verdict = root.get_string("result");
    result.sdp = root.get_string("sdp");
    if (verdict == "error" || verdict == "load limit") {
      result.error = NgError::Refused;
      result.reason = root.get_string("error-reason");
      if (result.reason.empty()) result.reason = verdict;
    } else if (verdict != (request.command == NgCommand::Ping ? "pong" : "ok")) {
      result.error = NgError::Malformed;
      result.reason = "unexpected result";
    } else if ((request.command == NgCommand::Offer || request.command == NgCommand::Answer) &&
               result.sdp.empty()) {
      result.error = NgError::Malformed;
      result.reason = "no sdp in the answer";
    }
  }
  const auto latency = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - request.started);
  result.latency = latency;
  const auto us = static_cast<std::uint64_t>(latency.count());
  counters_.latency_sum_us += us;
  ++counters_.latency_count;
  const auto bucket = std::lower_bound(kNgLatencyBoundsUs.begin(), kNgLatencyBoundsUs.end(), us);
  ++counters_.latency_buckets[static_cast<std::size_t>(bucket - kNgLatencyBoundsUs.begin())];
  if (result.ok() && request.command == NgCommand::Offer && calls_.size() < settings_.max_calls)
    calls_.try_emplace(request.call_id, request.instance);
  complete(request, result);
}

void NgClient::complete(Request& request, NgResult& result) {
  result.instance = static_cast<int>(request.instance);
  if (result.latency.count() == 0)
    result.latency = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - request.started);
  ++counters_.requests[static_cast<std::size_t>(request.command)]
                      [static_cast<std::size_t>(result.error)];
  // A deleted call is forgotten whatever the answer: rtpengine drops calls it no longer hears of.
  if (request.command == NgCommand::Delete) {
    if (const auto known = calls_.find(std::string_view(request.call_id)); known != calls_.end())
      calls_.erase(known);
  }
  request.timer.cancel();
  request.busy = false;
  NgDone done = std::move(request.done);
  request.done = nullptr;
  // The slot is free before the callback runs: the callback may send the next request.
  free_.push_back(request.slot);
  if (done) done(result);
}

void NgClient::offer(std::string_view call_id, std::string_view from_tag, std::string_view sdp,
                     const NgOptions& options, NgDone done) {
  submit(NgCommand::Offer, call_id, -1, done, [&](bencode::Writer& writer) {
    writer.entry("call-id", call_id).entry("from-tag", from_tag).entry("sdp", sdp);
    put_options(writer, options);
  });
}

void NgClient::answer(std::string_view call_id, std::string_view from_tag, std::string_view to_tag,
                      std::string_view sdp, const NgOptions& options, NgDone done) {
  submit(NgCommand::Answer, call_id, -1, done, [&](bencode::Writer& writer) {
    writer.entry("call-id", call_id).entry("from-tag", from_tag).entry("to-tag", to_tag);
    writer.entry("sdp", sdp);
    put_options(writer, options);
  });
}

void NgClient::remove(std::string_view call_id, std::string_view from_tag, NgDone done) {
  submit(NgCommand::Delete, call_id, -1, done, [&](bencode::Writer& writer) {
    writer.entry("call-id", call_id);
    if (!from_tag.empty()) writer.entry("from-tag", from_tag);
  });
}

void NgClient::query(std::string_view call_id, NgDone done) {
  submit(NgCommand::Query, call_id, -1, done,
         [&](bencode::Writer& writer) { writer.entry("call-id", call_id); });
}

void NgClient::list(std::size_t instance, NgDone done) {
  submit(NgCommand::List, {}, instance < instances_.size() ? static_cast<int>(instance) : 0, done,
         [](bencode::Writer&) {});
}

void NgClient::ping(std::size_t instance, NgDone done) {
  submit(NgCommand::Ping, {}, instance < instances_.size() ? static_cast<int>(instance) : 0, done,
         [](bencode::Writer&) {});
}

}  // namespace sbc::media
