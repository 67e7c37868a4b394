#include "sbc/sip/message.hpp"

// Message::parse_start_line: the Request-Line or the Status-Line (RFC 3261 7.1, 7.2).

namespace sbc::sip {
namespace {

// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT. Returns 0 malformed, 1 SIP/2.0, 2 other version.
int classify_version(std::string_view v) noexcept {
  if (v.size() < 7 || !iequals(v.substr(0, 4), "SIP/")) return 0;
  const std::string_view number = v.substr(4);
  const std::size_t dot = number.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == number.size()) return 0;
  for (std::size_t i = 0; i < number.size(); ++i)
    if (i != dot && !chars::is_digit(number[i])) return 0;
  return number == "2.0" ? 1 : 2;
}

}  // namespace

Verdict Message::parse_start_line(std::string_view line) noexcept {
  if (!is_request_) {
    request_uri_ = Uri{};
    // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
    const std::size_t sp = line.find(' ');
    if (sp == std::string_view::npos) return Verdict::drop("Malformed status line");
    const int version = classify_version(line.substr(0, sp));
    if (version != 1) return Verdict::drop("Bad SIP-Version in status line");
    const std::string_view after = line.substr(sp + 1);
    if (after.size() < 4 || after[3] != ' ') return Verdict::drop("Malformed status code");
    unsigned code = 0;
    for (int i = 0; i < 3; ++i) {
      if (!chars::is_digit(after[i])) return Verdict::drop("Malformed status code");
      code = code * 10 + static_cast<unsigned>(after[i] - '0');
    }
    if (code < 100 || code > 699) return Verdict::drop("Status code out of range");
    status_code_ = static_cast<std::uint16_t>(code);
    reason_phrase_ = after.substr(4);
    for (char c : reason_phrase_) {
      const auto u = static_cast<unsigned char>(c);
      if ((u < 0x20 && c != '\t') || u == 0x7F || u > 0xFD)
        return Verdict::drop("Invalid character in reason phrase");
    }
    return Verdict::valid();
  }
  // Request-Line = Method SP Request-URI SP SIP-Version
  // The method is scanned as a token: when the first byte that is not a token character is the
  // first SP, that is what find(' ') and the token check below would conclude.
  std::size_t method_end = 0;
  while (method_end < line.size() && chars::is_token(line[method_end])) ++method_end;
  const std::size_t sp1 = method_end != 0 && method_end < line.size() && line[method_end] == ' '
                              ? method_end
                              : line.find(' ');
  if (sp1 == std::string_view::npos || sp1 == 0) return reject(400, "Malformed request line");
  method_name_ = line.substr(0, sp1);
  if (sp1 != method_end) {
    for (char c : method_name_)
      if (!chars::is_token(c)) return reject(400, "Malformed method");
  }
  const std::size_t sp2 = line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || sp2 == sp1 + 1) return reject(400, "Malformed request line");
  request_uri_text_ = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (version != "SIP/2.0") {  // the common case needs none of these checks
    if (version.find(' ') != std::string_view::npos || version.find('\t') != std::string_view::npos)
      return reject(400, "Malformed request line");
    switch (classify_version(version)) {
      case 0:
        return reject(400, "Malformed SIP-Version");
      case 2:
        return reject(505, "SIP version not supported");
      default:
        break;
    }
  }
  method_ = method_from_name(method_name_);
  switch (parse_uri(request_uri_text_, request_uri_, UriContext::RequestUri)) {
    case UriError::Malformed:
      return reject(400, "Malformed Request-URI");
    case UriError::HeadersNotAllowed:
      return reject(400, "Request-URI must not carry headers");
    case UriError::None:
      break;
  }
  return Verdict::valid();
}

}  // namespace sbc::sip
