#include "sbc/sip/header_id.hpp"

#include <array>

#include "sbc/sip/scanner.hpp"

namespace sbc::sip {
namespace {

struct Entry {
  std::string_view name;
  HeaderId id;
};

constexpr std::array<Entry, 32> kNames{{
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

}  // namespace

HeaderId lookup_header(std::string_view name) noexcept {
  if (name.empty() || name.size() > 19) return HeaderId::Other;
  const char first = chars::lower(name.front());
  for (const Entry& e : kNames) {
    if (e.name.size() == name.size() && chars::lower(e.name.front()) == first &&
        iequals(e.name, name))
      return e.id;
  }
  return HeaderId::Other;
}

std::string_view header_name(HeaderId id) noexcept {
  for (const Entry& e : kNames)
    if (e.id == id) return e.name;
  return {};
}

}  // namespace sbc::sip
