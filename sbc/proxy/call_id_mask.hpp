#pragma once
// relay.mask_call_id: the Call-IDs the core chooses (often naming its host) are sealed
// deterministically on the legs toward the outside, so that every message of a dialog, sent at
// any time by any worker, carries the same masked one, and opened on what comes back. Internal
// to sbc/proxy.

#include <array>
#include <cstdint>
#include <string_view>

#include "sbc/crypto/token_sealer.hpp"
#include "sbc/sip/editor.hpp"
#include "sbc/sip/message.hpp"

namespace sbc::proxy::detail {

class CallIdMask {
 public:
  CallIdMask(const sbc::crypto::TokenSealer& sealer, bool enabled) noexcept
      : sealer_(sealer), enabled_(enabled) {}

  bool enabled() const noexcept { return enabled_; }

  // The Call-ID as the outside sees it (valid until the next call). Empty if it cannot be
  // sealed.
  std::string_view masked(std::string_view call_id) noexcept;

  // A Call-ID from the outside as the core knows it: one we masked opened, any other (the
  // outside's own, or one that does not open) as it is. The same view when unchanged.
  std::string_view inside(std::string_view call_id) noexcept;

  // A masked Call-ID that the outside quotes to name a dialog — Replaces and Join (RFC 3891,
  // 3911: attended transfer, conference) and the Replaces embedded in a Refer-To URI — names it
  // by the Call-ID the core knows. One of each per request (the RFCs allow one Replaces). False
  // when an edit does not fit.
  bool open_quoted(const sip::Message& m, sip::MessageEditor& editor) noexcept;

 private:
  using Plain = std::array<std::uint8_t, sbc::crypto::TokenSealer::kMaxPlain>;
  // The inside Call-ID of a masked one (without the prefix), opened into `buffer`; empty if it
  // does not open as a Call-ID.
  std::string_view open(std::string_view sealed, Plain& buffer) const noexcept;

  const sbc::crypto::TokenSealer& sealer_;
  bool enabled_;
  Plain opened_{};
  Plain opened_quoted_{};
  Plain opened_refer_{};
  std::array<char, 3 * sbc::crypto::TokenSealer::kMaxPlain> escaped_refer_{};
  std::array<char, 4 + sbc::crypto::TokenSealer::sealed_size(sbc::crypto::TokenSealer::kMaxPlain)>
      masked_{};
};

}  // namespace sbc::proxy::detail
