#pragma once
// The header fields the edge interprets, recognised by long or compact name, case-insensitively.

#include <cstdint>
#include <string_view>

namespace sbc::sip {

enum class HeaderId : std::uint8_t {
  Other = 0,  // kept opaque (still checked to be a well-formed header line)
  Via,
  From,
  To,
  CallId,
  CSeq,
  MaxForwards,
  Contact,
  Route,
  RecordRoute,
  Path,
  ContentLength,
  ContentType,
  Expires,
  Require,
  ProxyRequire,
  Supported,
  Unsupported,
  UserAgent,
  Authorization,
  ProxyAuthorization,
  WwwAuthenticate,
  ProxyAuthenticate,
  PAssertedIdentity,
  Date,
  kCount
};

inline constexpr std::size_t kHeaderIdCount = static_cast<std::size_t>(HeaderId::kCount);

// Recognises a header name (long or compact form, any case). Unknown names give HeaderId::Other.
HeaderId lookup_header(std::string_view name) noexcept;

// The canonical long name, e.g. "Call-ID" (empty for Other).
std::string_view header_name(HeaderId id) noexcept;

}  // namespace sbc::sip
