#pragma once
// The daemon's log: one line per event in logfmt (ts=... level=... msg="..." key=value), below a
// configured level threshold dropped. For the control plane (start-up, signals, certificate
// reloads): it formats into a string and takes a lock, so it is not for the message path.

#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>

namespace sbc::app {

enum class LogLevel : std::uint8_t { Debug, Info, Warn, Error };
std::string_view to_string(LogLevel level) noexcept;
// "debug", "info", "warn", "error"
std::optional<LogLevel> parse_log_level(std::string_view text) noexcept;

// A logfmt value: bare when it is a plain word, else quoted, with quotes, backslashes and control
// characters escaped, so that no value (a file name, a peer's text) can forge a line or a field.
std::string logfmt_value(std::string_view value);

class Log {
 public:
  using Fields = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  Log(std::ostream& out, LogLevel threshold) : out_(out), threshold_(threshold) {}

  bool enabled(LogLevel level) const noexcept { return level >= threshold_; }
  // Keys are the caller's constants (snake_case); values are escaped.
  void operator()(LogLevel level, std::string_view message, Fields fields = {});
  // The level by name ("info", "warn" ...; anything else is logged as error, never lost).
  void operator()(std::string_view level, std::string_view message, Fields fields = {}) {
    (*this)(parse_log_level(level).value_or(LogLevel::Error), message, fields);
  }

 private:
  std::ostream& out_;
  const LogLevel threshold_;
  std::mutex mutex_;  // lines from several threads never interleave
};

}  // namespace sbc::app
