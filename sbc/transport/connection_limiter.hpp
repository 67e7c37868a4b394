#pragma once
// Caps stream connections in total and per source address, across all workers. It is consulted
// on accept and on close only, never per message, so its mutex is off the message path. Its
// table is bounded: it never holds more entries than there are connections.

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sbc::transport {

class ConnectionLimiter {
 public:
  ConnectionLimiter(std::size_t max_total, std::size_t max_per_source)
      : max_total_(max_total), max_per_source_(max_per_source) {}

  bool try_acquire(const std::string& source) {
    const std::lock_guard lock(mutex_);
    if (total_ >= max_total_) return false;
    std::size_t& n = per_source_[source];
    if (n >= max_per_source_) {
      if (n == 0) per_source_.erase(source);
      return false;
    }
    ++n;
    ++total_;
    return true;
  }
  void release(const std::string& source) {
    const std::lock_guard lock(mutex_);
    auto it = per_source_.find(source);
    if (it == per_source_.end()) return;
    if (--it->second == 0) per_source_.erase(it);
    --total_;
  }
  std::size_t total() const {
    const std::lock_guard lock(mutex_);
    return total_;
  }

 private:
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::size_t> per_source_;
  std::size_t total_ = 0;
  std::size_t max_total_;
  std::size_t max_per_source_;
};

// Releases its slot when the connection that holds it goes away.
class ConnectionTicket {
 public:
  ConnectionTicket() = default;
  ConnectionTicket(ConnectionLimiter* limiter, std::string source)
      : limiter_(limiter), source_(std::move(source)) {}
  ConnectionTicket(ConnectionTicket&& other) noexcept
      : limiter_(std::exchange(other.limiter_, nullptr)), source_(std::move(other.source_)) {}
  ConnectionTicket& operator=(ConnectionTicket&&) = delete;
  ConnectionTicket(const ConnectionTicket&) = delete;
  ~ConnectionTicket() {
    if (limiter_ != nullptr) limiter_->release(source_);
  }

 private:
  ConnectionLimiter* limiter_ = nullptr;
  std::string source_;
};

}  // namespace sbc::transport
