// The relay reads an SDP body from the outside before it goes anywhere (sbc/media/sdp.hpp): a
// malformed one is refused with 400 naming the defect (a request) or dropped (an ACK, a
// response), and never reaches the core.
#include <catch2/catch.hpp>

#include <string>

#include "relay_harness.hpp"

using namespace sbc;
using namespace sbc::test;

namespace {

constexpr std::string_view kGoodSdp =
    "v=0\r\n"
    "o=alice 1 1 IN IP4 192.168.1.20\r\n"
    "s=-\r\n"
    "c=IN IP4 192.168.1.20\r\n"
    "t=0 0\r\n"
    "m=audio 4000 RTP/AVP 0\r\n";

// The port of the m= line (line 6) is out of range.
constexpr std::string_view kBadSdp =
    "v=0\r\n"
    "o=alice 1 1 IN IP4 192.168.1.20\r\n"
    "s=-\r\n"
    "c=IN IP4 192.168.1.20\r\n"
    "t=0 0\r\n"
    "m=audio 99999 RTP/AVP 0\r\n";

// `message` (ending in "Content-Length: 0" and the empty line) with a body of `type`.
std::string with_body(std::string message, std::string_view type, std::string_view body) {
  const std::string empty = "Content-Length: 0\r\n\r\n";
  const std::size_t at = message.rfind(empty);
  REQUIRE(at != std::string::npos);
  message.replace(at, empty.size(),
                  "Content-Type: " + std::string(type) + "\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + std::string(body));
  return message;
}

std::size_t sent_inside(const std::vector<FakeWire::Sent>& sent) {
  std::size_t n = 0;
  for (const auto& s : sent) n += s.outside ? 0 : 1;
  return n;
}

}  // namespace

TEST_CASE("relay: a request's malformed SDP gets 400 naming the defect, never the core",
          "[relay][sdp]") {
  Harness h;
  h.from_outside(with_body(alice_invite(), "application/sdp", kBadSdp), alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  const sip::Message& answer = h.parse(sent[0]);
  CHECK(answer.status_code() == 400);
  CHECK(answer.reason_phrase() == "Bad Request (SDP: m= line 6: port out of range)");
  CHECK(h.relay->stats().sdp_refused.value() == 1);
  CHECK(h.relay->stats().requests_to_core.value() == 0);
  // The type is matched in any case and with parameters.
  h.from_outside(with_body(alice_invite("z9hG4bKinv2"), "Application/SDP ; x=1", kBadSdp),
                 alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 400);
  CHECK(h.relay->stats().sdp_refused.value() == 2);
  // A good SDP, and a body of another type (not read), go on to the core.
  h.from_outside(with_body(alice_invite("z9hG4bKinv3"), "application/sdp", kGoodSdp), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent_inside(sent) == 1);
  for (const auto& s : sent)
    if (!s.outside) CHECK(s.bytes.find("m=audio 4000 RTP/AVP 0") != std::string::npos);
  h.from_outside(with_body(alice_invite("z9hG4bKinv4"), "text/plain", "m=audio 99999\r\n"),
                 alice_flow());
  CHECK(sent_inside(h.wire.take()) == 1);
  CHECK(h.relay->stats().sdp_refused.value() == 2);
}

TEST_CASE("relay: an ACK or a response with a malformed SDP is dropped, never relayed",
          "[relay][sdp]") {
  Harness h;
  // The core calls Alice; her 200 carries a malformed answer: the core never sees it.
  h.from_core(core_invite());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  const sip::Message& down = h.parse(sent[0]);
  std::string ok = "SIP/2.0 200 OK\r\n";
  ok += "Via: " + header(down, sip::HeaderId::Via) + "\r\n";
  ok +=
      "From: <sip:carol@example.com>;tag=c1\r\n"
      "To: <sip:alice@example.com>;tag=a9\r\n"
      "Call-ID: call-2@10.0.0.20\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_outside(with_body(ok, "application/sdp", kBadSdp), alice_flow());
  CHECK(h.wire.take().empty());
  CHECK(h.relay->stats().sdp_dropped.value() == 1);
  CHECK(h.relay->stats().responses_to_core.value() == 0);
  // The same answer well formed goes through.
  h.from_outside(with_body(ok, "application/sdp", kGoodSdp), alice_flow());
  CHECK(sent_inside(h.wire.take()) == 1);
  CHECK(h.relay->stats().responses_to_core.value() == 1);
  // An ACK (a late offer's answer) cannot be answered: dropped.
  std::string ack = alice_invite("z9hG4bKack1");
  ack.replace(0, ack.find("\r\n"), "ACK sip:bob@example.com SIP/2.0");
  ack.replace(ack.find("CSeq: 10 INVITE"), 15, "CSeq: 10 ACK");
  h.from_outside(with_body(ack, "application/sdp", kBadSdp), alice_flow());
  CHECK(h.wire.take().empty());
  CHECK(h.relay->stats().sdp_dropped.value() == 2);
}
