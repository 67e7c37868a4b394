#pragma once
// Log lines in logfmt (ts=... level=... msg="..." key=value), one per event, and the daemon's log
// that writes them below a configured level threshold. The daemon's Log takes a lock: it is for
// the control plane (start-up, signals, certificate reloads). The message path formats its rare
// lines with format_line() and writes them itself (sbc/transport/reject_log.hpp).

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace sbc::logging {

enum class LogLevel : std::uint8_t { Debug, Info, Warn, Error };
std::string_view to_string(LogLevel level) noexcept;
// "debug", "info", "warn", "error"
std::optional<LogLevel> parse_log_level(std::string_view text) noexcept;

// A logfmt value: bare when it is a plain word, else quoted, with quotes, backslashes and control
// characters escaped, so that no value (a file name, a peer's text) can forge a line or a field.
std::string logfmt_value(std::string_view value);

using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;
// One whole line, newline included, stamped with the current UTC time (milliseconds). Keys are
// the caller's constants (snake_case); values are escaped; the message is always quoted.
std::string format_line(LogLevel level, std::string_view message, Fields fields = {});

class Log {
 public:
  Log(std::ostream& out, LogLevel threshold) : out_(out), threshold_(threshold) {}

  bool enabled(LogLevel level) const noexcept {
    return level >= threshold_.load(std::memory_order_relaxed);
  }
  // log.level on a reload.
  void set_threshold(LogLevel threshold) noexcept {
    threshold_.store(threshold, std::memory_order_relaxed);
  }
  LogLevel threshold() const noexcept { return threshold_.load(std::memory_order_relaxed); }
  void operator()(LogLevel level, std::string_view message, Fields fields = {});
  // The level by name ("info", "warn" ...; anything else is logged as error, never lost).
  void operator()(std::string_view level, std::string_view message, Fields fields = {}) {
    (*this)(parse_log_level(level).value_or(LogLevel::Error), message, fields);
  }

 private:
  std::ostream& out_;
  std::atomic<LogLevel> threshold_;
  std::mutex mutex_;  // lines from several threads never interleave
};

}  // namespace sbc::logging
