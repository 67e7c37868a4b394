#pragma once
// SIP messages shared by the unit tests, the allocation test and the benchmarks (bench/: the F1
// INVITE is what bench_sip_parse and instr_harness time). Data and plain builders only: no test
// framework, so that bench/ can include it too.

#include <cstddef>
#include <string>
#include <string_view>

namespace sbc::test {

// RFC 3261 section 24.2, F1: Alice's INVITE to Bob, with CRLF line endings. It already has
// everything our parser insists on for a request: From tag, a z9hG4bK branch, Max-Forwards, and a
// Content-Type for its body. 151 = the SDP's 137 characters plus 7 CRLFs.
inline constexpr std::string_view kInvite =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/TCP client.atlanta.example.com:5060;branch=z9hG4bK74bf9\r\n"
    "Max-Forwards: 70\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@client.atlanta.example.com;transport=tcp>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 151\r\n"
    "\r\n"
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 client.atlanta.example.com\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.101\r\n"
    "t=0 0\r\n"
    "m=audio 49172 RTP/AVP 0\r\n"
    "a=rtpmap:0 PCMU/8000\r\n";

// Whether the Content-Length written in `msg` equals the size of what follows the empty line, so
// that an edit of a literal above cannot silently turn it into a truncated message.
constexpr bool content_length_matches(std::string_view msg) {
  constexpr std::string_view kField = "\r\nContent-Length: ";
  const std::size_t field = msg.find(kField);
  const std::size_t blank = msg.find("\r\n\r\n");
  if (field == std::string_view::npos || blank == std::string_view::npos) return false;
  std::size_t length = 0;
  for (std::size_t i = field + kField.size(); msg[i] >= '0' && msg[i] <= '9'; ++i)
    length = length * 10 + static_cast<std::size_t>(msg[i] - '0');
  return length == msg.size() - (blank + 4);
}
static_assert(content_length_matches(kInvite), "kInvite: Content-Length does not match");
static_assert(kInvite.size() == 563, "kInvite: F1 is 563 bytes");

// A request built from a header block, with the mandatory headers filled in unless overridden.
inline std::string request(std::string_view start_line, std::string_view extra_headers = "",
                           std::string_view body = "") {
  std::string m(start_line);
  m += "\r\n";
  m += extra_headers;
  m += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  m += body;
  return m;
}

inline constexpr std::string_view kBaseHeaders =
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.com>;tag=1\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: a@b\r\n";

}  // namespace sbc::test
