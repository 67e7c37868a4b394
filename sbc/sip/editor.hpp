#pragma once
// Edits a parsed message for relaying and serialises the result. Every byte that is not edited is
// copied verbatim; Content-Length is kept right. Edits are recorded as (range, replacement) pairs
// over the original bytes, so nothing is copied until write(), and nothing is allocated: new
// values are views the caller keeps alive until write().

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "sbc/sip/message.hpp"

namespace sbc::sip {

class MessageEditor {
 public:
  static constexpr std::size_t kMaxEdits = 32;

  explicit MessageEditor(const Message& message) noexcept : message_(message) {}

  // Each edit returns false when it cannot be applied (no such header, or too many edits).
  bool prepend_via(std::string_view value) noexcept;
  bool remove_top_via() noexcept;
  bool remove_top_route() noexcept;
  bool add_record_route(std::string_view value) noexcept;  // becomes the topmost Record-Route
  bool add_path(std::string_view value) noexcept;          // becomes the topmost Path
  bool set_request_uri(std::string_view uri) noexcept;
  bool rewrite_contact_uri(std::string_view uri) noexcept;  // the first Contact value's URI
  // The URI of `value`, a name-addr or addr-spec parsed from this message (any Contact of a
  // list, for instance).
  bool rewrite_uri(const NameAddr& value, std::string_view uri) noexcept;
  // Decrements Max-Forwards, from at most `ceiling` (a clamp: a request that comes in with a
  // huge value leaves with ceiling - 1); adds "Max-Forwards: 70" (or the ceiling, if lower) to a
  // request that has none (RFC 3261 16.6).
  bool decrement_max_forwards(int ceiling = 255) noexcept;
  bool add_header(std::string_view name, std::string_view value) noexcept;  // after the last header
  bool remove_headers(HeaderId id) noexcept;
  bool remove_headers(std::string_view name) noexcept;  // any header, by long/compact/other name
  // Removes every header of that name (long, compact or other, any case): true when none is
  // left, also when there was none; false when some could not be removed (too many edits), so a
  // caller that must not let one through refuses the message. Adjacent lines cost one edit.
  bool strip_headers(HeaderId id) noexcept;
  bool strip_headers(std::string_view name) noexcept;
  bool set_body(std::string_view body) noexcept;
  // Replaces `part`, which must be a view into the message's bytes (a header value, a parameter).
  bool replace(std::string_view part, std::string_view value) noexcept;

  // Size of the edited message.
  std::size_t size() const noexcept;
  // Writes the edited message into `out`; returns its size, or 0 if the edits overlap or it does
  // not fit.
  std::size_t write(std::span<char> out) const noexcept;
  // Convenience for callers that keep a reusable string (its capacity is reused).
  bool write(std::string& out) const;
  // As above with one plan of the edits for both the size and the bytes; false (and `out`
  // unchanged) when the result is empty, over `max_size`, or the edits overlap.
  bool write(std::string& out, std::size_t max_size) const;

 private:
  struct Edit {
    std::uint32_t begin = 0;
    std::uint32_t end = 0;
    std::array<std::string_view, 4> pieces{};
  };
  std::uint32_t offset_of(const char* p) const noexcept {
    return static_cast<std::uint32_t>(p - message_.bytes().data());
  }
  bool add(std::uint32_t begin, std::uint32_t end, std::string_view a, std::string_view b = {},
           std::string_view c = {}, std::string_view d = {}) noexcept;
  bool insert_line_before(HeaderId id, std::string_view name, std::string_view value) noexcept;
  // Removes header line `h`; `extend`: this removal already took out a line (see the .cpp).
  bool remove_line(const HeaderField& h, bool extend) noexcept;
  template <class Value>
  bool remove_first_value(HeaderId id) noexcept;
  // Sorted copy of the edits plus the Content-Length fix-up; false if edits overlap.
  std::size_t plan(std::array<Edit, kMaxEdits + 1>& out) const noexcept;
  std::size_t planned_size(const std::array<Edit, kMaxEdits + 1>& edits,
                           std::size_t n) const noexcept;
  std::size_t write_planned(const std::array<Edit, kMaxEdits + 1>& edits, std::size_t n,
                            std::span<char> out) const noexcept;

  const Message& message_;
  std::array<Edit, kMaxEdits> edits_{};
  std::size_t edit_count_ = 0;
  bool body_replaced_ = false;
  std::string_view new_body_;
  std::array<char, 12> max_forwards_text_{};
  mutable std::array<char, 24> content_length_text_{};
};

}  // namespace sbc::sip
