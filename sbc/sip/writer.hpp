#pragma once
// Writes SIP text into a caller's fixed buffer, without allocating: the answers the edge builds,
// the requests and entries the relay rewrites, the challenges of the auth stage. Once a piece
// does not fit, nothing more is written and ok() stays false; the caller then refuses (513) or
// drops instead of sending a truncated message.

#include <charconv>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "sbc/common/address.hpp"
#include "sbc/common/hex.hpp"

namespace sbc::sip {

class Writer {
 public:
  explicit Writer(std::span<char> out) noexcept
      : begin_(out.data()), p_(out.data()), end_(out.data() + out.size()) {}

  Writer& operator<<(std::string_view s) noexcept {
    if (ok_ && static_cast<std::size_t>(end_ - p_) >= s.size()) {
      if (!s.empty()) std::memcpy(p_, s.data(), s.size());
      p_ += s.size();
    } else {
      ok_ = false;
    }
    return *this;
  }
  Writer& operator<<(unsigned value) noexcept {
    char digits[12];
    const auto [ptr, ec] = std::to_chars(digits, digits + sizeof digits, value);
    if (ec != std::errc{}) ok_ = false;
    return *this << std::string_view(digits, static_cast<std::size_t>(ptr - digits));
  }
  // An IP address as a URI or Via host: an IPv6 literal goes in brackets (RFC 3261 25.1).
  Writer& host(std::string_view ip) noexcept {
    if (sbc::needs_brackets(ip)) return *this << "[" << ip << "]";
    return *this << ip;
  }
  // `digits` lower-case hex digits of v, most significant first.
  Writer& hex(std::uint64_t v, int digits) noexcept {
    if (!ok_ || digits < 0 || end_ - p_ < digits) {
      ok_ = false;
      return *this;
    }
    common::put_hex(p_, v, digits);
    p_ += digits;
    return *this;
  }
  void fail() noexcept { ok_ = false; }
  bool ok() const noexcept { return ok_; }
  const char* position() const noexcept { return p_; }
  std::string_view view() const noexcept { return {begin_, static_cast<std::size_t>(p_ - begin_)}; }

 private:
  char* begin_;
  char* p_;
  char* end_;
  bool ok_ = true;
};

}  // namespace sbc::sip
