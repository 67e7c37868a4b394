#pragma once
// SIP, SIPS and tel URIs (RFC 3261 section 19.1 and 25, RFC 3966), parsed in place: every field is
// a view into the message. Percent-escapes are validated but never decoded here.

#include <cstdint>
#include <string_view>

namespace sbc::sip {

enum class HostKind : std::uint8_t { None, Name, IPv4, IPv6 };
enum class Scheme : std::uint8_t { Sip, Sips, Tel, Other };

// host = hostname / IPv4address / IPv6reference. IPv6 must be bracketed. Returns None if invalid.
HostKind classify_host(std::string_view host) noexcept;
bool is_ipv4(std::string_view text) noexcept;
// RFC 4291 text form, and also RFC 3261's "hexpart::IPv4" with one colon too many (RFC 5118 4.10).
bool is_ipv6(std::string_view text) noexcept;
bool is_hostname(std::string_view text) noexcept;
// The host at the start of `text` (an IPv6reference up to its ']', else the longest run of
// hostname characters), its kind and its length. None when it is not a valid host. `lo`, when not
// null, is where the bytes before `text` that may be read start (the scan reads 16 at a time).
HostKind scan_host(std::string_view text, std::size_t& length, const char* lo = nullptr) noexcept;
// 1*DIGIT in 1..65535.
bool parse_port(std::string_view text, std::uint16_t& port) noexcept;

// A parameter found by name: absent, present without value (a flag such as ;lr), or with a value.
struct ParamValue {
  bool present = false;
  std::string_view value;
  explicit constexpr operator bool() const noexcept { return present; }
};

struct Uri {
  Scheme scheme = Scheme::Other;
  HostKind host_kind = HostKind::None;
  std::uint16_t port = 0;  // 0: no port given
  std::string_view text;   // the whole URI
  std::string_view scheme_name;
  std::string_view user;      // SIP/SIPS: user part; tel: the number
  std::string_view password;  // SIP/SIPS only
  std::string_view host;      // as written (IPv6 with its brackets)
  std::string_view params;    // after the first ';', without it ("transport=tcp;lr")
  std::string_view headers;   // after '?', without it
  std::string_view opaque;    // other schemes: everything after "scheme:"

  bool has_user() const noexcept { return !user.empty(); }
  // URI parameters: names compared case-insensitively, values returned as written.
  ParamValue param(std::string_view name) const noexcept;
};

enum class UriContext : std::uint8_t {
  RequestUri,  // no headers component allowed (RFC 3261 19.1.1 table)
  HeaderUri,   // inside a name-addr or addr-spec
};

enum class UriError : std::uint8_t { None, Malformed, HeadersNotAllowed };

// Parses the whole of `text` as a URI of any scheme. SIP/SIPS/tel are validated fully; other
// schemes only against the absoluteURI grammar (the caller decides whether it supports them).
UriError parse_uri(std::string_view text, Uri& out, UriContext context) noexcept;

// Looks a parameter up in a ";"-separated list (URI parameters, no white space).
ParamValue find_uri_param(std::string_view params, std::string_view name) noexcept;

}  // namespace sbc::sip
