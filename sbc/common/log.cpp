#include "sbc/common/log.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <ctime>

#include "sbc/common/hex.hpp"

namespace sbc::logging {

std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::Debug:
      return "debug";
    case LogLevel::Info:
      return "info";
    case LogLevel::Warn:
      return "warn";
    case LogLevel::Error:
      return "error";
  }
  return "info";
}

std::optional<LogLevel> parse_log_level(std::string_view text) noexcept {
  for (const LogLevel l : {LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error})
    if (text == to_string(l)) return l;
  return std::nullopt;
}

namespace {

void append_quoted(std::string& out, std::string_view value) {
  out += '"';
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += "\\x";
      common::append_hex(out, u);
    } else {
      out += c;  // UTF-8 passes through
    }
  }
  out += '"';
}

}  // namespace

std::string logfmt_value(std::string_view value) {
  bool plain = !value.empty();
  for (const char c : value)
    plain = plain && c > ' ' && c != '"' && c != '=' && c != '\\' && c < 0x7f;
  if (plain) return std::string(value);
  std::string out;
  out.reserve(value.size() + 2);
  append_quoted(out, value);
  return out;
}

std::string format_line(LogLevel level, std::string_view message, Fields fields) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis = std::chrono::duration_cast<std::chrono::milliseconds>(
                          now.time_since_epoch() - std::chrono::seconds(seconds))
                          .count();
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  std::array<char, 40> ts{};
  const std::size_t n = std::strftime(ts.data(), ts.size(), "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(ts.data() + n, ts.size() - n, ".%03dZ", static_cast<int>(millis));

  std::string line = "ts=";
  line += ts.data();
  line += " level=";
  line += to_string(level);
  line += " msg=";
  append_quoted(line, message);  // always quoted: messages are sentences
  for (const auto& [key, value] : fields) {
    line += ' ';
    line += key;
    line += '=';
    line += logfmt_value(value);
  }
  line += '\n';
  return line;
}

void Log::operator()(LogLevel level, std::string_view message, Fields fields) {
  if (!enabled(level)) return;
  const std::string line = format_line(level, message, fields);
  const std::lock_guard lock(mutex_);
  out_ << line << std::flush;
}

}  // namespace sbc::logging
