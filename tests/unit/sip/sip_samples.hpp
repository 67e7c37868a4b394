#pragma once
// Messages shared by the unit tests and the allocation test.

#include <string>
#include <string_view>

namespace sbc::test {

// RFC 3261 section 24.2, F1: Alice's INVITE to Bob.
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
