#pragma once
// Hexadecimal text, written lower case and read back, without allocating: the branches, tags
// and tokens the SBC mints, Digest hashes and nonces, keys in the configuration, the escapes of
// log lines. The one copy: every layer writes and reads hex through these.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sbc::common {

inline constexpr std::string_view kHexDigits = "0123456789abcdef";

// The lower-case digit of the low four bits of `nibble`.
constexpr char hex_char(unsigned nibble) noexcept {
  return kHexDigits[nibble & 0xF];
}

// `digits` lower-case hex digits of `value` into `out`, most significant first (fixed width:
// leading zeros written, higher bits ignored).
constexpr void put_hex(char* out, std::uint64_t value, int digits) noexcept {
  for (int i = 0; i < digits; ++i)
    out[i] = hex_char(static_cast<unsigned>(value >> (4 * (digits - 1 - i))));
}

// `size` bytes as 2 * `size` lower-case hex digits into `out`.
constexpr void encode_hex(const std::uint8_t* bytes, std::size_t size, char* out) noexcept {
  for (std::size_t i = 0; i < size; ++i) {
    out[2 * i] = hex_char(bytes[i] >> 4);
    out[2 * i + 1] = hex_char(bytes[i]);
  }
}

// A byte as two lower-case hex digits at the end of `out`.
inline void append_hex(std::string& out, std::uint8_t byte) {
  out += hex_char(byte >> 4);
  out += hex_char(byte);
}

// Which digits a reader accepts: either case (keys, nonces, nonce counts) or only the lower case
// the SBC writes (its own branches and tokens, HA1 in the credentials file).
enum class HexCase : bool { Any, Lower };

// One hex digit's value, or -1.
constexpr int hex_digit(char c, HexCase accepted = HexCase::Any) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (accepted == HexCase::Any && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Whether every character of `text` is a hex digit (true for an empty text).
constexpr bool is_hex(std::string_view text, HexCase accepted = HexCase::Any) noexcept {
  for (char c : text)
    if (hex_digit(c, accepted) < 0) return false;
  return true;
}

// The number 1 to 16 hex digits spell; false (out unchanged) for anything else.
constexpr bool parse_hex(std::string_view text, std::uint64_t& out,
                         HexCase accepted = HexCase::Any) noexcept {
  if (text.empty() || text.size() > 16) return false;
  std::uint64_t v = 0;
  for (char c : text) {
    const int d = hex_digit(c, accepted);
    if (d < 0) return false;
    v = (v << 4) | static_cast<std::uint64_t>(d);
  }
  out = v;
  return true;
}

// Pairs of hex digits (either case) into text.size() / 2 bytes at `out`; false for an odd size
// or a character that is not a digit (some bytes may have been written).
constexpr bool decode_hex(std::string_view text, std::uint8_t* out) noexcept {
  if (text.size() % 2 != 0) return false;
  for (std::size_t i = 0; i < text.size(); i += 2) {
    const int hi = hex_digit(text[i]);
    const int lo = hex_digit(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i / 2] = static_cast<std::uint8_t>(hi * 16 + lo);
  }
  return true;
}

}  // namespace sbc::common
