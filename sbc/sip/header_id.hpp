#pragma once
// The header fields the edge interprets, recognised by long or compact name, case-insensitively.

#include <array>
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

// Every name lookup_header() recognises: long forms first, then the compact ones.
struct HeaderName {
  std::string_view name;
  HeaderId id;
};
inline constexpr std::array<HeaderName, 32> kHeaderNames{{
    {"Via", HeaderId::Via},
    {"v", HeaderId::Via},
    {"From", HeaderId::From},
    {"f", HeaderId::From},
    {"To", HeaderId::To},
    {"t", HeaderId::To},
    {"Call-ID", HeaderId::CallId},
    {"i", HeaderId::CallId},
    {"CSeq", HeaderId::CSeq},
    {"Max-Forwards", HeaderId::MaxForwards},
    {"Contact", HeaderId::Contact},
    {"m", HeaderId::Contact},
    {"Route", HeaderId::Route},
    {"Record-Route", HeaderId::RecordRoute},
    {"Path", HeaderId::Path},
    {"Content-Length", HeaderId::ContentLength},
    {"l", HeaderId::ContentLength},
    {"Content-Type", HeaderId::ContentType},
    {"c", HeaderId::ContentType},
    {"Expires", HeaderId::Expires},
    {"Require", HeaderId::Require},
    {"Proxy-Require", HeaderId::ProxyRequire},
    {"Supported", HeaderId::Supported},
    {"k", HeaderId::Supported},
    {"Unsupported", HeaderId::Unsupported},
    {"User-Agent", HeaderId::UserAgent},
    {"Authorization", HeaderId::Authorization},
    {"Proxy-Authorization", HeaderId::ProxyAuthorization},
    {"WWW-Authenticate", HeaderId::WwwAuthenticate},
    {"Proxy-Authenticate", HeaderId::ProxyAuthenticate},
    {"P-Asserted-Identity", HeaderId::PAssertedIdentity},
    {"Date", HeaderId::Date},
}};

// Recognises a header name (long or compact form, any case). Unknown names give HeaderId::Other.
HeaderId lookup_header(std::string_view name) noexcept;

// The canonical long name, e.g. "Call-ID" (empty for Other).
std::string_view header_name(HeaderId id) noexcept;

}  // namespace sbc::sip
