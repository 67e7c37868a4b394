#pragma once
// The lexical rules of RFC 8866 the SDP reader (sdp.cpp) and its attribute readers
// (sdp_attributes.cpp) share: tokens, numbers, fields, addresses, UTF-8 text. Internal to
// sbc/media; inline, since every byte of a body goes through some of them.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "sbc/common/address.hpp"
#include "sbc/media/sdp.hpp"

namespace sbc::media::detail {

inline bool digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
inline bool alnum(char c) noexcept {
  return digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
inline bool all_digits(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), digit);
}
// token-char of RFC 8866 9: printable ASCII but space " ( ) , / : ; < = > ? @ [ \ ] (and ').
// A table: every byte of every token goes through it.
inline constexpr std::array<bool, 256> kTokenChars = [] {
  std::array<bool, 256> table{};
  for (unsigned c = 0x21; c < 0x7F; ++c) table[c] = true;
  for (const char c : std::string_view("\"(),/:;<=>?@[\\]"))
    table[static_cast<unsigned char>(c)] = false;
  return table;
}();
inline bool token_char(char c) noexcept {
  return kTokenChars[static_cast<unsigned char>(c)];
}
inline bool token(std::string_view s) noexcept {
  return !s.empty() && std::all_of(s.begin(), s.end(), token_char);
}

// A decimal number of at most `max_digits` digits, up to `max`.
inline std::optional<std::uint32_t> number(std::string_view s, std::size_t max_digits,
                                           std::uint32_t max) noexcept {
  if (!all_digits(s) || s.size() > max_digits) return std::nullopt;
  std::uint64_t n = 0;
  for (const char c : s) n = n * 10 + static_cast<std::uint64_t>(c - '0');
  if (n > max) return std::nullopt;
  return static_cast<std::uint32_t>(n);
}

// Fields separated by single spaces into `out`: their count, 0 when a field is empty (a leading,
// trailing or double space), out.size() + 1 when there are more fields than `out` holds.
inline std::size_t split(std::string_view s, std::span<std::string_view> out) noexcept {
  std::size_t n = 0;
  while (true) {
    const std::size_t space = s.find(' ');
    const std::string_view field = s.substr(0, space);
    if (field.empty()) return 0;
    if (n == out.size()) return out.size() + 1;
    out[n++] = field;
    if (space == std::string_view::npos) return n;
    s.remove_prefix(space + 1);
  }
}

// IP4-address of RFC 8866: four decimal-uchar without leading zeros.
inline bool ipv4(std::string_view s) noexcept {
  for (int part = 0; part < 4; ++part) {
    const std::size_t dot = s.find('.');
    if ((dot == std::string_view::npos) != (part == 3)) return false;
    const std::string_view octet = s.substr(0, dot);
    if ((octet.size() > 1 && octet.front() == '0') || !number(octet, 3, 255)) return false;
    if (part < 3) s.remove_prefix(dot + 1);
  }
  return true;
}
inline bool ipv6(std::string_view s) noexcept {
  return s.find(':') != std::string_view::npos && s.find('[') == std::string_view::npos &&
         sbc::parse_address(s).has_value();
}
// FQDN: labels of letters, digits and '-' (not at either end), 1 to 63 each, 253 in all; the last
// label not all digits, so that a malformed IPv4 literal is not taken for a name.
inline bool fqdn(std::string_view s) noexcept {
  if (s.empty() || s.size() > 253) return false;
  std::string_view last;
  while (!s.empty()) {
    const std::size_t dot = s.find('.');
    const std::string_view label = s.substr(0, dot);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-')
      return false;
    if (!std::all_of(label.begin(), label.end(), [](char c) { return alnum(c) || c == '-'; }))
      return false;
    last = label;
    if (dot == std::string_view::npos) break;
    s.remove_prefix(dot + 1);
    if (s.empty()) return false;
  }
  return !all_digits(last);
}
inline bool address_of(AddrType type, std::string_view s) noexcept {
  return type == AddrType::IP4 ? ipv4(s) || fqdn(s) : ipv6(s) || fqdn(s);
}
inline std::optional<AddrType> addrtype(std::string_view s) noexcept {
  if (s == "IP4") return AddrType::IP4;
  if (s == "IP6") return AddrType::IP6;
  return std::nullopt;
}
inline bool ipv4_multicast(std::string_view s) noexcept {
  const auto first = number(s.substr(0, s.find('.')), 3, 255);
  return first && *first >= 224 && *first <= 239;
}
inline bool ipv6_multicast(std::string_view s) noexcept {
  return s.size() >= 2 && (s[0] == 'f' || s[0] == 'F') && (s[1] == 'f' || s[1] == 'F');
}

// Bytes of a line's value: no control character (the line ends are already cut off), and UTF-8
// without overlong forms, surrogates or code points above U+10FFFF.
inline const char* text_defect(std::string_view s) noexcept {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return "control character";
    if (c < 0x80) {
      ++i;
      continue;
    }
    // The second byte's range excludes overlong forms (E0, F0), surrogates (ED) and code
    // points above U+10FFFF (F4).
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) {
      length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      length = 3;
      if (c == 0xE0) low = 0xA0;
      if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      length = 4;
      if (c == 0xF0) low = 0x90;
      if (c == 0xF4) high = 0x8F;
    } else {
      return "invalid UTF-8";
    }
    if (i + length > s.size()) return "invalid UTF-8";
    for (std::size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      const unsigned char lo = k == 1 ? low : 0x80, hi = k == 1 ? high : 0xBF;
      if (next < lo || next > hi) return "invalid UTF-8";
    }
    i += length;
  }
  return nullptr;
}

// "IN <addrtype> <address>" fields of o=, c= and a=rtcp; the address checked by the caller.
inline const char* nettype_defect(std::string_view nettype, std::string_view type) noexcept {
  if (nettype != "IN") return "network type not IN";
  if (!addrtype(type)) return "address type not IP4 or IP6";
  return nullptr;
}

// typed-time of RFC 8866: digits with an optional unit d, h, m or s.
inline bool typed_time(std::string_view s) noexcept {
  if (!s.empty() && std::string_view("dhms").find(s.back()) != std::string_view::npos)
    s.remove_suffix(1);
  return all_digits(s) && s.size() <= 20;
}

}  // namespace sbc::media::detail
