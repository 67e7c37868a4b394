#include "sbc/proxy/call_id_mask.hpp"

#include <cctype>
#include <cstring>

#include "sbc/proxy/route_tokens.hpp"
#include "sbc/sip/writer.hpp"

namespace sbc::proxy::detail {
namespace {

// A masked Call-ID: this prefix, then the inside Call-ID sealed.
constexpr std::string_view kMaskedCallIdPrefix = "sbc-";

}  // namespace

std::string_view CallIdMask::masked(std::string_view call_id) noexcept {
  static_assert(kMaskedCallIdPrefix.size() == 4);  // masked_'s size
  Plain plain;
  if (call_id.size() + 1 > plain.size()) return {};
  plain[0] = static_cast<std::uint8_t>(TokenKind::CallId);
  std::memcpy(plain.data() + 1, call_id.data(), call_id.size());
  std::memcpy(masked_.data(), kMaskedCallIdPrefix.data(), kMaskedCallIdPrefix.size());
  const std::size_t n =
      sealer_.seal_deterministic({plain.data(), call_id.size() + 1},
                                 std::span<char>(masked_).subspan(kMaskedCallIdPrefix.size()));
  if (n == 0) return {};
  return {masked_.data(), kMaskedCallIdPrefix.size() + n};
}

std::string_view CallIdMask::open(std::string_view sealed, Plain& buffer) const noexcept {
  const auto n = sealer_.open(sealed, buffer);
  if (!n || *n < 2 || buffer[0] != static_cast<std::uint8_t>(TokenKind::CallId)) return {};
  return {reinterpret_cast<const char*>(buffer.data() + 1), *n - 1};
}

std::string_view CallIdMask::inside(std::string_view call_id) noexcept {
  if (!enabled_ || !call_id.starts_with(kMaskedCallIdPrefix)) return call_id;
  const std::string_view opened = open(call_id.substr(kMaskedCallIdPrefix.size()), opened_);
  return opened.empty() ? call_id : opened;
}

bool CallIdMask::open_quoted(const sip::Message& m, sip::MessageEditor& editor) noexcept {
  if (!enabled_) return true;
  bool header_done = false, refer_done = false;
  for (const sip::HeaderField& h : m.headers()) {
    const bool refer = sip::iequals(h.name, "Refer-To") || sip::iequals(h.name, "r");
    std::string_view quoted;
    if (!header_done && (sip::iequals(h.name, "Replaces") || sip::iequals(h.name, "Join"))) {
      quoted = h.value;  // callid *( SEMI params ), RFC 3891 6.1
    } else if (!refer_done && refer) {
      const std::size_t at = h.value.find("Replaces=");
      if (at == std::string_view::npos) continue;
      quoted = h.value.substr(at + std::string_view("Replaces=").size());
    } else {
      continue;
    }
    quoted = quoted.substr(0, quoted.find_first_of(";%&>? \t\r\n"));
    if (!quoted.starts_with(kMaskedCallIdPrefix)) continue;
    std::string_view inside =
        open(quoted.substr(kMaskedCallIdPrefix.size()), refer ? opened_refer_ : opened_quoted_);
    if (inside.empty()) continue;
    if (refer) {
      // Inside a URI's headers the Call-ID is escaped (RFC 3261 25.1 hvalue: '@' is %40 …).
      sip::Writer escaped(escaped_refer_);
      for (const char c : inside) {
        if (std::isalnum(static_cast<unsigned char>(c)) != 0 ||
            std::string_view("-_.!~*'()[]/?:+$").find(c) != std::string_view::npos) {
          escaped << std::string_view(&c, 1);
        } else {
          escaped << "%";
          escaped.hex(static_cast<unsigned char>(c), 2);
        }
      }
      if (!escaped.ok()) return false;
      inside = escaped.view();
      refer_done = true;
    } else {
      header_done = true;
    }
    if (!editor.replace(quoted, inside)) return false;
  }
  return true;
}

}  // namespace sbc::proxy::detail
