#pragma once
// What the SBC does with a message after validation: pass it on, answer it, or drop it.

#include <cstdint>
#include <string_view>

namespace sbc::sip {

struct Verdict {
  enum class Kind : std::uint8_t { Valid, Respond, Drop };

  Kind kind = Kind::Valid;
  // For Respond: the status an RFC 3261 element answers with (400, 416, 420, 483, 505, 513 ...).
  std::uint16_t status = 0;
  // Names the defect. Always a string with static storage duration, so it can be counted and
  // logged after the receive buffer is gone.
  std::string_view reason;
  // Optional view into the message that explains the verdict further (for 420: the option tags
  // to list in Unsupported). Valid only while the message bytes are.
  std::string_view detail;

  static constexpr Verdict valid() noexcept { return {}; }
  static constexpr Verdict respond(std::uint16_t code, std::string_view why,
                                   std::string_view what = {}) noexcept {
    return {Kind::Respond, code, why, what};
  }
  static constexpr Verdict drop(std::string_view why) noexcept { return {Kind::Drop, 0, why, {}}; }

  constexpr bool is_valid() const noexcept { return kind == Kind::Valid; }
};

}  // namespace sbc::sip
