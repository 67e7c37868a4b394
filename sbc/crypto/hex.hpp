#pragma once
// One hex digit's value (either case), or -1: the parsing of keys, nonces and nonce counts.

namespace sbc::crypto {

constexpr int hex_digit(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace sbc::crypto
