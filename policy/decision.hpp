#pragma once
// What a policy stage decides about one message: let it go on, answer it, or drop it silently.
// `reason` indexes the stage's own fixed list of reasons (a bounded metric label).

#include <cstdint>
#include <string_view>

namespace sbc::policy {

struct Decision {
  enum class Kind : std::uint8_t { Continue, Respond, Drop };
  Kind kind = Kind::Continue;
  std::uint16_t status = 0;  // Respond
  std::string_view phrase;   // Respond: the reason phrase
  // Respond: whole header lines separated by CRLF, without the last CRLF; or empty.
  std::string_view extra_header;
  std::uint8_t reason = 0;  // index into the deciding stage's reasons()

  static Decision next() noexcept { return {}; }
  static Decision drop(std::uint8_t reason) noexcept { return {Kind::Drop, 0, {}, {}, reason}; }
  static Decision respond(std::uint16_t status, std::string_view phrase, std::uint8_t reason,
                          std::string_view extra_header = {}) noexcept {
    return {Kind::Respond, status, phrase, extra_header, reason};
  }
  bool proceeds() const noexcept { return kind == Kind::Continue; }
};

}  // namespace sbc::policy
