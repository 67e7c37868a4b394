#include "sbc/sip/header_id.hpp"

#include "sbc/sip/scanner.hpp"

namespace sbc::sip {
HeaderId lookup_header(std::string_view name) noexcept {
  // Dispatch on length, then on the first letter: one or two comparisons per header line.
  // `name` holds token characters only, and for those OR-ing 0x20 lower-cases letters without
  // making any other token character equal to a letter, a digit or '-'.
  auto is = [name](std::string_view candidate) {
    if (name.size() != candidate.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
      if (static_cast<char>(name[i] | 0x20) != static_cast<char>(candidate[i] | 0x20)) return false;
    return true;
  };
  switch (name.size()) {
    case 1:
      switch (chars::lower(name[0])) {
        case 'v':
          return HeaderId::Via;
        case 'f':
          return HeaderId::From;
        case 't':
          return HeaderId::To;
        case 'i':
          return HeaderId::CallId;
        case 'm':
          return HeaderId::Contact;
        case 'l':
          return HeaderId::ContentLength;
        case 'c':
          return HeaderId::ContentType;
        case 'k':
          return HeaderId::Supported;
        default:
          return HeaderId::Other;
      }
    case 2:
      return is("To") ? HeaderId::To : HeaderId::Other;
    case 3:
      return is("Via") ? HeaderId::Via : HeaderId::Other;
    case 4:
      switch (chars::lower(name[0])) {
        case 'f':
          return is("From") ? HeaderId::From : HeaderId::Other;
        case 'c':
          return is("CSeq") ? HeaderId::CSeq : HeaderId::Other;
        case 'p':
          return is("Path") ? HeaderId::Path : HeaderId::Other;
        case 'd':
          return is("Date") ? HeaderId::Date : HeaderId::Other;
        default:
          return HeaderId::Other;
      }
    case 5:
      return is("Route") ? HeaderId::Route : HeaderId::Other;
    case 7:
      switch (chars::lower(name[0])) {
        case 'c':
          if (is("Call-ID")) return HeaderId::CallId;
          return is("Contact") ? HeaderId::Contact : HeaderId::Other;
        case 'e':
          return is("Expires") ? HeaderId::Expires : HeaderId::Other;
        case 'r':
          return is("Require") ? HeaderId::Require : HeaderId::Other;
        default:
          return HeaderId::Other;
      }
    case 9:
      return is("Supported") ? HeaderId::Supported : HeaderId::Other;
    case 10:
      return is("User-Agent") ? HeaderId::UserAgent : HeaderId::Other;
    case 11:
      return is("Unsupported") ? HeaderId::Unsupported : HeaderId::Other;
    case 12:
      switch (chars::lower(name[0])) {
        case 'm':
          return is("Max-Forwards") ? HeaderId::MaxForwards : HeaderId::Other;
        case 'r':
          return is("Record-Route") ? HeaderId::RecordRoute : HeaderId::Other;
        case 'c':
          return is("Content-Type") ? HeaderId::ContentType : HeaderId::Other;
        default:
          return HeaderId::Other;
      }
    case 13:
      if (is("Authorization")) return HeaderId::Authorization;
      return is("Proxy-Require") ? HeaderId::ProxyRequire : HeaderId::Other;
    case 14:
      return is("Content-Length") ? HeaderId::ContentLength : HeaderId::Other;
    case 16:
      return is("WWW-Authenticate") ? HeaderId::WwwAuthenticate : HeaderId::Other;
    case 18:
      return is("Proxy-Authenticate") ? HeaderId::ProxyAuthenticate : HeaderId::Other;
    case 19:
      if (is("Proxy-Authorization")) return HeaderId::ProxyAuthorization;
      return is("P-Asserted-Identity") ? HeaderId::PAssertedIdentity : HeaderId::Other;
    default:
      return HeaderId::Other;
  }
}

std::string_view header_name(HeaderId id) noexcept {
  for (const HeaderName& e : kHeaderNames)
    if (e.id == id) return e.name;
  return {};
}

}  // namespace sbc::sip
