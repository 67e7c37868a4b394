#include "sbc/transport/stream_framer.hpp"

#include <algorithm>

#include "sbc/sip/chars.hpp"
#include "sbc/sip/scanner.hpp"

namespace sbc::transport {
namespace {

using sip::chars::lower;

// Finds Content-Length (long or compact name) in a header section; -1 absent, -2 malformed or
// repeated.
long content_length(std::string_view headers) noexcept {
  long found = -1;
  std::size_t pos = 0;
  while (pos < headers.size()) {
    std::size_t eol = headers.find("\r\n", pos);
    if (eol == std::string_view::npos) eol = headers.size();
    const std::string_view line = headers.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty() || line[0] == ' ' || line[0] == '\t') continue;  // folds
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    if (!sip::iequals(name, "Content-Length") && !(name.size() == 1 && lower(name[0]) == 'l'))
      continue;
    if (found != -1) return -2;
    sip::Scanner value(line.substr(colon + 1));
    value.skip_sws();
    std::uint64_t n = 0;
    if (!value.number(0x7FFFFFFF, n) || n > 0x7FFFFFFF) return -2;
    value.skip_sws();
    if (!value.at_end()) return -2;
    found = static_cast<long>(n);
  }
  return found;
}

}  // namespace

StreamFramer::Result StreamFramer::next(std::string_view buf) const noexcept {
  if (buf.empty()) return {};
  if (buf[0] == '\n') return {Kind::Error, 0, 400, "Bare CR or LF between messages", 0};
  if (buf[0] == '\r') {
    if (buf.size() < 2) return {};
    if (buf[0] != '\r' || buf[1] != '\n')
      return {Kind::Error, 0, 400, "Bare CR or LF between messages", 0};
    if (buf.size() < 4) {
      if (buf.size() == 3 && buf[2] != '\r') return {Kind::Skip, 2, 0, {}, 0};
      return {};  // may become a CRLFCRLF ping
    }
    if (buf.substr(0, 4) == "\r\n\r\n") return {Kind::KeepAlive, 4, 0, {}, 0};
    return {Kind::Skip, 2, 0, {}, 0};
  }
  const std::size_t window = std::min<std::size_t>(buf.size(), max_);
  const std::size_t end = buf.substr(0, window).find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (buf.size() >= max_) return {Kind::Error, 0, 513, "Message too large", 0};
    return {};
  }
  const std::size_t header_length = end + 4;
  const long length = content_length(buf.substr(0, end + 2));
  if (length == -1)
    return {Kind::Error, 0, 400, "Missing Content-Length (required over TCP and TLS)",
            header_length};
  if (length == -2) return {Kind::Error, 0, 400, "Malformed Content-Length header", header_length};
  const std::size_t total = header_length + static_cast<std::size_t>(length);
  if (total > max_) return {Kind::Error, 0, 513, "Message too large", header_length};
  if (buf.size() < total) return {};
  return {Kind::Message, total, 0, {}, header_length};
}

}  // namespace sbc::transport
