#pragma once
// The RFC 3261 section 24.2 INVITE (message F1 of the session setup example), the message every
// parse benchmark of bench/ times: bench_sip_parse (wall clock) and instr_harness (instructions).

#include <cstddef>
#include <string_view>

namespace sbc::bench {

// With CRLF line endings. It already has everything our parser insists on for a request: From
// tag, a z9hG4bK branch, Max-Forwards, and a Content-Type for its body. 151 = the SDP's 137
// characters plus 7 CRLFs.
constexpr std::string_view kF1Invite =
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
// that an edit of the literal above cannot silently turn it into a truncated message.
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
static_assert(content_length_matches(kF1Invite), "kF1Invite: Content-Length does not match");
static_assert(kF1Invite.size() == 563, "kF1Invite: F1 is 563 bytes");

}  // namespace sbc::bench
