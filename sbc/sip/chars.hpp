#pragma once
// Character classes of RFC 3261 section 25.1, as constexpr lookup tables.

#include <array>
#include <cstdint>
#include <string_view>

namespace sbc::sip::chars {

enum Class : std::uint16_t {
  kAlnum = 1 << 0,
  kMark = 1 << 1,             // - _ . ! ~ * ' ( )
  kToken = 1 << 2,            // alphanum - . ! % * _ + ` ' ~
  kUserUnreserved = 1 << 3,   // & = + $ , ; ? /
  kPasswordExtra = 1 << 4,    // & = + $ ,
  kParamUnreserved = 1 << 5,  // [ ] / : & + $
  kHnvUnreserved = 1 << 6,    // [ ] / ? : + $
  kReserved = 1 << 7,         // ; / ? : @ & = + $ ,
  kWord = 1 << 8,             // token chars plus ( ) < > : \ " / [ ] ? { }
  kHex = 1 << 9,
  kDigit = 1 << 10,
  kAlpha = 1 << 11,
};

constexpr std::array<std::uint16_t, 256> make_table() {
  std::array<std::uint16_t, 256> t{};
  auto add = [&t](const char* s, std::uint16_t cls) {
    for (; *s; ++s) t[static_cast<unsigned char>(*s)] |= cls;
  };
  for (int c = '0'; c <= '9'; ++c) t[c] |= kAlnum | kToken | kWord | kHex | kDigit;
  for (int c = 'a'; c <= 'z'; ++c) t[c] |= kAlnum | kToken | kWord | kAlpha;
  for (int c = 'A'; c <= 'Z'; ++c) t[c] |= kAlnum | kToken | kWord | kAlpha;
  add("abcdefABCDEF", kHex);
  add("-_.!~*'()", kMark);
  add("-.!%*_+`'~", kToken | kWord);
  add("()<>:\\\"/[]?{}", kWord);
  add("&=+$,;?/", kUserUnreserved);
  add("&=+$,", kPasswordExtra);
  add("[]/:&+$", kParamUnreserved);
  add("[]/?:+$", kHnvUnreserved);
  add(";/?:@&=+$,", kReserved);
  return t;
}

inline constexpr std::array<std::uint16_t, 256> kTable = make_table();

constexpr bool is(char c, std::uint16_t cls) noexcept {
  return (kTable[static_cast<unsigned char>(c)] & cls) != 0;
}
constexpr bool is_digit(char c) noexcept {
  return c >= '0' && c <= '9';
}
constexpr bool is_alpha(char c) noexcept {
  return is(c, kAlpha);
}
constexpr bool is_alnum(char c) noexcept {
  return is(c, kAlnum);
}
constexpr bool is_hex(char c) noexcept {
  return is(c, kHex);
}
constexpr bool is_token(char c) noexcept {
  return is(c, kToken);
}
// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~"): a method, a
// transport, an option tag, a qop value.
constexpr bool is_token(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (!is_token(c)) return false;
  return true;
}
constexpr bool is_wsp(char c) noexcept {
  return c == ' ' || c == '\t';
}
constexpr bool is_unreserved(char c) noexcept {
  return is(c, kAlnum | kMark);
}

constexpr char lower(char c) noexcept {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

}  // namespace sbc::sip::chars
