#pragma once
// A cursor over a header value (or a part of one) with the lexical rules of RFC 3261 section 25.1.
// Header values handed to it may contain line folds (CRLF followed by WSP); the message parser has
// already checked that every CR and LF in a value is part of such a fold, so any run of SP, HT,
// CR and LF here is linear white space.

#include <cstdint>
#include <string_view>

#include "sbc/sip/chars.hpp"

namespace sbc::sip {

class Scanner {
 public:
  constexpr explicit Scanner(std::string_view text) noexcept
      : begin_(text.data()), p_(text.data()), end_(text.data() + text.size()) {}

  constexpr bool at_end() const noexcept { return p_ == end_; }
  constexpr char peek() const noexcept { return p_ < end_ ? *p_ : '\0'; }
  constexpr char peek(std::size_t ahead) const noexcept {
    return static_cast<std::size_t>(end_ - p_) > ahead ? p_[ahead] : '\0';
  }
  constexpr const char* begin() const noexcept { return begin_; }
  constexpr const char* position() const noexcept { return p_; }
  constexpr void reset(const char* to) noexcept { p_ = to; }
  constexpr std::string_view rest() const noexcept {
    return {p_, static_cast<std::size_t>(end_ - p_)};
  }
  constexpr std::string_view since(const char* from) const noexcept {
    return {from, static_cast<std::size_t>(p_ - from)};
  }
  constexpr void advance(std::size_t n = 1) noexcept { p_ += n; }

  // SWS = [LWS]. Returns whether anything was skipped.
  constexpr bool skip_sws() noexcept {
    const char* start = p_;
    while (p_ < end_ && is_lws_char(*p_)) ++p_;
    return p_ != start;
  }
  // LWS: at least one white space character (possibly a fold).
  constexpr bool skip_lws() noexcept { return skip_sws(); }

  constexpr bool consume(char c) noexcept {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  // Case-insensitive literal.
  constexpr bool consume_ci(std::string_view lit) noexcept {
    if (static_cast<std::size_t>(end_ - p_) < lit.size()) return false;
    for (std::size_t i = 0; i < lit.size(); ++i)
      if (chars::lower(p_[i]) != chars::lower(lit[i])) return false;
    p_ += lit.size();
    return true;
  }
  // SWS c SWS: the separators SEMI, COMMA, EQUAL, SLASH, COLON, LAQUOT/RAQUOT ...
  constexpr bool separator(char c) noexcept {
    const char* start = p_;
    skip_sws();
    if (!consume(c)) {
      p_ = start;
      return false;
    }
    skip_sws();
    return true;
  }

  constexpr std::string_view take_while(std::uint16_t cls) noexcept {
    const char* start = p_;
    // Four bytes per bounds check while they last.
    while (end_ - p_ >= 4) {
      if (!chars::is(p_[0], cls)) return since(start);
      if (!chars::is(p_[1], cls)) return advance_since(start, 1);
      if (!chars::is(p_[2], cls)) return advance_since(start, 2);
      if (!chars::is(p_[3], cls)) return advance_since(start, 3);
      p_ += 4;
    }
    while (p_ < end_ && chars::is(*p_, cls)) ++p_;
    return since(start);
  }
  constexpr std::string_view token() noexcept { return take_while(chars::kToken); }

  // 1*DIGIT into a value saturated at `cap`; false when there is no digit.
  constexpr bool number(std::uint64_t cap, std::uint64_t& out,
                        std::size_t* ndigits = nullptr) noexcept {
    const char* start = p_;
    std::uint64_t v = 0;
    while (p_ < end_ && chars::is_digit(*p_)) {
      v = v * 10 + static_cast<std::uint64_t>(*p_ - '0');
      if (v > cap) v = cap + 1;  // saturate, but remember it overflowed
      ++p_;
    }
    if (ndigits) *ndigits = static_cast<std::size_t>(p_ - start);
    out = v;
    return p_ != start;
  }

  // quoted-string = SWS DQUOTE *(qdtext / quoted-pair) DQUOTE. Returns the string with its quotes,
  // or an empty view if there is none or it is not closed (the cursor is then unchanged).
  constexpr std::string_view quoted_string() noexcept {
    const char* start = p_;
    skip_sws();
    const char* open = p_;
    if (!consume('"')) {
      p_ = start;
      return {};
    }
    while (p_ < end_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        ++p_;
        return since(open);
      }
      if (c == '\\') {
        // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
        if (p_ + 1 >= end_) break;
        const auto q = static_cast<unsigned char>(p_[1]);
        if (q == 0x0A || q == 0x0D || q > 0x7F) break;
        p_ += 2;
        continue;
      }
      // qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n' || (c >= 0x21 && c <= 0x7E) ||
          c >= 0x80) {
        if (c > 0xFD) break;  // not a UTF-8 lead or continuation byte
        ++p_;
        continue;
      }
      break;
    }
    p_ = start;
    return {};
  }

 private:
  // SP, HT, CR or LF: one test of a bit in a mask.
  static constexpr bool is_lws_char(char c) noexcept {
    constexpr std::uint64_t kMask =
        (1ull << ' ') | (1ull << '\t') | (1ull << '\r') | (1ull << '\n');
    const auto u = static_cast<unsigned char>(c);
    return u <= ' ' && ((kMask >> u) & 1) != 0;
  }
  constexpr std::string_view advance_since(const char* from, std::size_t n) noexcept {
    p_ += n;
    return since(from);
  }

  const char* begin_;
  const char* p_;
  const char* end_;
};

// Case-insensitive equality of ASCII strings.
constexpr bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (chars::lower(a[i]) != chars::lower(b[i])) return false;
  return true;
}

}  // namespace sbc::sip
