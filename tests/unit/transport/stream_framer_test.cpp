#include <catch2/catch.hpp>

#include <string>

#include "sbc/transport/stream_framer.hpp"

using sbc::transport::StreamFramer;
using Kind = StreamFramer::Kind;

namespace {
const std::string kMessage =
    "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\nl: 5\r\n\r\nhello";
}

TEST_CASE("stream framing by Content-Length", "[framer]") {
  const StreamFramer framer(65535);
  auto r = framer.next(kMessage + "OPTIONS");
  CHECK(r.kind == Kind::Message);
  CHECK(r.length == kMessage.size());
  // Every strict prefix needs more bytes.
  for (std::size_t n = 0; n < kMessage.size(); ++n) {
    INFO(n);
    const auto partial = framer.next(kMessage.substr(0, n));
    CHECK((partial.kind == Kind::NeedMore || partial.kind == Kind::Skip));
  }
  // Long name, any case, white space around the value.
  r = framer.next("X sip:a SIP/2.0\r\ncontent-LENGTH :  3 \r\n\r\nabc");
  CHECK(r.kind == Kind::Message);
  CHECK(r.length == 44);
}

TEST_CASE("keep-alives and stray CRLFs between messages", "[framer]") {
  const StreamFramer framer(65535);
  CHECK(framer.next("\r\n\r\n").kind == Kind::KeepAlive);
  CHECK(framer.next("\r\n\r\n").length == 4);
  CHECK(framer.next("\r\nOPTIONS").kind == Kind::Skip);
  CHECK(framer.next("\r\n").kind == Kind::NeedMore);
  CHECK(framer.next("\r\n\r").kind == Kind::NeedMore);
  CHECK(framer.next("\n").kind == Kind::Error);
}

TEST_CASE("unrecoverable framing is an error with the status to answer", "[framer]") {
  const StreamFramer framer(200);
  auto r = framer.next("OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n");
  CHECK(r.kind == Kind::Error);
  CHECK(r.status == 400);
  CHECK(r.reason == "Missing Content-Length (required over TCP and TLS)");
  CHECK(r.header_length > 0);
  r = framer.next("OPTIONS sip:a SIP/2.0\r\nl: 1\r\nContent-Length: 1\r\n\r\nx");
  CHECK(r.reason == "Malformed Content-Length header");
  r = framer.next("OPTIONS sip:a SIP/2.0\r\nl: -1\r\n\r\n");
  CHECK(r.reason == "Malformed Content-Length header");
  r = framer.next("OPTIONS sip:a SIP/2.0\r\nl: 500\r\n\r\n");
  CHECK(r.status == 513);
  // A header section that never ends within the limit.
  r = framer.next(std::string(200, 'a'));
  CHECK(r.kind == Kind::Error);
  CHECK(r.status == 513);
  CHECK(r.header_length == 0);
}
