#include "sbc/capture/redact.hpp"

#include <string_view>

#include "sbc/sip/chars.hpp"

namespace sbc::capture {
namespace {

bool is_lws(char c) noexcept {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

using sip::chars::is_token;

bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

void blank(char* from, char* to) noexcept {
  for (; from < to; ++from)
    if (!is_lws(*from)) *from = '0';
}

// The value of one Authorization or Proxy-Authorization field: credentials = auth-scheme LWS
// auth-param *(COMMA auth-param), auth-param = token EQUAL (token / quoted-string).
std::size_t redact_value(char* p, char* const end) noexcept {
  auto skip_lws = [&p, end] {
    while (p < end && is_lws(*p)) ++p;
  };
  auto token = [&p, end] {
    const char* start = p;
    while (p < end && is_token(*p)) ++p;
    return std::string_view(start, static_cast<std::size_t>(p - start));
  };
  skip_lws();
  const std::string_view scheme = token();
  const bool digest = iequals(scheme, "Digest");
  std::size_t redacted = 0;
  while (true) {
    skip_lws();
    if (p == end) return redacted;
    char* const name_start = p;
    const std::string_view name = token();
    skip_lws();
    if (name.empty() || p == end || *p != '=') {
      blank(name_start, end);
      return redacted + 1;
    }
    ++p;
    skip_lws();
    char* value = p;
    char* value_end = nullptr;
    if (p < end && *p == '"') {
      value = ++p;
      while (p < end && *p != '"') p += (*p == '\\' && p + 1 < end) ? 2 : 1;
      if (p >= end) {
        blank(name_start, end);
        return redacted + 1;
      }
      value_end = p++;
    } else {
      (void)token();
      value_end = p;
      if (value_end == value) {
        blank(name_start, end);
        return redacted + 1;
      }
    }
    if (!digest || iequals(name, "response")) {
      for (char* c = value; c < value_end; ++c) *c = '0';
      ++redacted;
    }
    skip_lws();
    if (p == end) return redacted;
    if (*p != ',') {
      blank(p, end);
      return redacted + 1;
    }
    ++p;
  }
}

}  // namespace

std::size_t redact_credentials(std::string& message) noexcept {
  char* p = message.data();
  char* const end = p + message.size();
  std::size_t redacted = 0;
  while (p < end) {
    // One field: a line and the lines folded into it (they start with white space).
    char* const line = p;
    char* field_end = line;
    while (true) {
      while (field_end < end && *field_end != '\n') ++field_end;
      if (field_end + 1 < end && (field_end[1] == ' ' || field_end[1] == '\t')) {
        ++field_end;
        continue;
      }
      break;
    }
    p = field_end < end ? field_end + 1 : end;
    if (field_end == line || (field_end == line + 1 && *line == '\r')) break;  // the empty line
    char* q = line;
    while (q < field_end && is_token(*q)) ++q;
    const std::string_view name(line, static_cast<std::size_t>(q - line));
    while (q < field_end && (*q == ' ' || *q == '\t')) ++q;
    if (q == field_end || *q != ':') continue;
    if (iequals(name, "Authorization") || iequals(name, "Proxy-Authorization"))
      redacted += redact_value(q + 1, field_end);
  }
  return redacted;
}

}  // namespace sbc::capture
