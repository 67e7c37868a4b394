#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "sbc/media/sdp.hpp"

using namespace sbc::media;

namespace {

// Holds no heap memory: parsing into it cannot allocate for its own storage.
static_assert(std::is_trivially_destructible_v<Sdp>);

std::string body(std::initializer_list<std::string_view> lines, std::string_view end = "\r\n") {
  std::string out;
  for (const std::string_view line : lines) {
    out += line;
    out += end;
  }
  return out;
}

// The reason phrase of a refusal, or "accepted".
std::string verdict(std::string_view text, const SdpLimits& limits = {}) {
  Sdp sdp;
  const auto error = parse_sdp(text, sdp, limits);
  return error ? error->phrase() : "accepted";
}

std::vector<std::string> addresses(const Sdp& sdp) {
  std::vector<std::string> out;
  for_each_address(sdp, [&](const SdpAddress& a) {
    out.push_back(std::string(a.where) + " " + std::string(a.address));
  });
  return out;
}

const std::string kOffer = body({
    "v=0",                                              // 1
    "o=alice 2890844526 2890844527 IN IP4 192.0.2.10",  // 2
    "s=-",                                              // 3
    "c=IN IP4 192.0.2.10",                              // 4
    "t=0 0",                                            // 5
    "m=audio 49170 RTP/AVP 0 8 101",                    // 6
    "a=rtpmap:0 PCMU/8000",                             // 7
    "a=rtpmap:8 PCMA/8000",                             // 8
    "a=rtpmap:101 telephone-event/8000",                // 9
    "a=fmtp:101 0-16",                                  // 10
    "a=rtcp:49171",                                     // 11
    "a=ptime:20",                                       // 12
    "a=sendrecv",                                       // 13
});

}  // namespace

TEST_CASE("sdp: a typical audio offer", "[media]") {
  Sdp sdp;
  REQUIRE_FALSE(parse_sdp(kOffer, sdp));
  CHECK(sdp.origin.username == "alice");
  CHECK(sdp.origin.session_id == "2890844526");
  CHECK(sdp.origin.session_version == "2890844527");
  CHECK(sdp.origin.address == "192.0.2.10");
  CHECK(sdp.origin.line == 2);
  CHECK(sdp.session_name == "-");
  REQUIRE(sdp.connection);
  CHECK(sdp.connection->address == "192.0.2.10");
  CHECK(sdp.connection->addrtype == AddrType::IP4);
  REQUIRE(sdp.media_count == 1);
  const SdpMedia& audio = sdp.media[0];
  CHECK(audio.media == "audio");
  CHECK(audio.port == 49170);
  CHECK(audio.proto == "RTP/AVP");
  CHECK(audio.rtp());
  REQUIRE(audio.format_count == 3);
  CHECK(audio.formats[2] == "101");
  CHECK(sdp.connection_of(audio) == &*sdp.connection);
  CHECK(sdp.attributes().empty());
  REQUIRE(sdp.attributes(audio).size() == 7);
  CHECK(sdp.attributes(audio)[3].name == "fmtp");
  CHECK(sdp.attributes(audio)[3].value == "101 0-16");
  CHECK(sdp.attributes(audio)[3].line == 10);
  CHECK_FALSE(sdp.attributes(audio)[6].has_value);

  const auto pcmu = rtpmap(sdp, audio, "0");
  REQUIRE(pcmu);
  CHECK(pcmu->payload_type == 0);
  CHECK(pcmu->encoding == "PCMU");
  CHECK(pcmu->clock_rate == 8000);
  CHECK(rtpmap(sdp, audio, "8")->encoding == "PCMA");
  CHECK(rtpmap(sdp, audio, "101")->encoding == "telephone-event");
  CHECK_FALSE(rtpmap(sdp, audio, "10"));  // "101" is not "10"
  CHECK(direction(sdp, audio) == Direction::SendRecv);
  const auto control = rtcp(sdp, audio);
  REQUIRE(control);
  CHECK(control->port == 49171);
  CHECK(control->address.empty());
  CHECK(addresses(sdp) == std::vector<std::string>{"o= 192.0.2.10", "c= 192.0.2.10"});
  // The views point into the body: zero-copy.
  CHECK(audio.media.data() >= kOffer.data());
  CHECK(audio.media.data() < kOffer.data() + kOffer.size());
}

TEST_CASE("sdp: bare LF line ends and a missing last terminator are read as CRLF", "[media]") {
  std::string lf = kOffer;
  for (std::size_t at = lf.find('\r'); at != std::string::npos; at = lf.find('\r')) lf.erase(at, 1);
  CHECK(verdict(lf) == "accepted");
  CHECK(verdict(kOffer.substr(0, kOffer.size() - 2)) == "accepted");
}

TEST_CASE("sdp: an SRTP offer with SDES keys", "[media]") {
  const std::string first_key =
      "a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
      "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32";
  const std::string second_key = std::string("a=crypto:2 AES_CM_128_HMAC_SHA1_32 ") +
                                 "inline:NzB4d1BINUAvLEw6UzF3WSJ+PSdFcGdUJShpX1Zj" +
                                 " KDR=1 UNENCRYPTED_SRTCP";
  const std::string text =
      body({"v=0", "o=- 20518 0 IN IP4 203.0.113.1", "s= ", "c=IN IP4 203.0.113.1", "t=0 0",
            "m=audio 5004 RTP/SAVP 0", first_key, second_key});
  Sdp sdp;
  REQUIRE_FALSE(parse_sdp(text, sdp));
  CHECK(sdp.session_name == " ");
  const auto attributes = sdp.attributes(sdp.media[0]);
  REQUIRE(attributes.size() == 2);
  const auto first = parse_crypto(attributes[0].value);
  REQUIRE(first);
  CHECK(first->tag == 1);
  CHECK(first->suite == "AES_CM_128_HMAC_SHA1_80");
  CHECK(first->key_params == "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32");
  CHECK(first->session_params.empty());
  const auto second = parse_crypto(attributes[1].value);
  REQUIRE(second);
  CHECK(second->tag == 2);
  CHECK(second->session_params == "KDR=1 UNENCRYPTED_SRTCP");

  CHECK(verdict(body({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
                      "m=audio 5004 RTP/SAVP 0", "a=crypto:1 AES_CM_128_HMAC_SHA1_80 key:abc"})) ==
        "a= line 7: malformed crypto");
  CHECK(
      verdict(body({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
                    "m=audio 5004 RTP/SAVP 0", "a=crypto:x AES_CM_128_HMAC_SHA1_80 inline:ab"})) ==
      "a= line 7: malformed crypto");
}

TEST_CASE("sdp: IPv6 addresses, and rtcp and ICE candidates among the addresses", "[media]") {
  const std::string text = body({
      "v=0",
      "o=bob 1 2 IN IP6 2001:db8::1",
      "s=call",
      "c=IN IP6 2001:db8::1",
      "t=0 0",
      "m=audio 6000 UDP/TLS/RTP/SAVPF 111",
      "a=rtpmap:111 opus/48000/2",
      "a=rtcp:6001 IN IP6 2001:db8::2",
      "a=candidate:1 1 udp 2130706431 2001:db8::3 6000 typ host",
      "a=candidate:2 1 udp 1694498815 198.51.100.9 6000 typ srflx raddr 10.0.0.9 rport 6000",
  });
  Sdp sdp;
  REQUIRE_FALSE(parse_sdp(text, sdp));
  CHECK(sdp.origin.addrtype == AddrType::IP6);
  CHECK(sdp.connection->addrtype == AddrType::IP6);
  const SdpMedia& audio = sdp.media[0];
  CHECK(audio.rtp());
  const auto opus = rtpmap(sdp, audio, "111");
  REQUIRE(opus);
  CHECK(opus->clock_rate == 48000);
  CHECK(opus->parameters == "2");
  CHECK(rtcp(sdp, audio)->address == "2001:db8::2");
  CHECK(rtcp(sdp, audio)->addrtype == AddrType::IP6);
  CHECK(addresses(sdp) == std::vector<std::string>{"o= 2001:db8::1", "c= 2001:db8::1",
                                                   "a=rtcp 2001:db8::2", "a=candidate 2001:db8::3",
                                                   "a=candidate 198.51.100.9",
                                                   "a=candidate raddr 10.0.0.9"});

  CHECK(verdict(body({"v=0", "o=- 1 1 IN IP6 192.0.2.1", "s=-", "t=0 0"})) ==
        "o= line 2: bad address");
  CHECK(verdict(body({"v=0", "o=- 1 1 IN IP4 2001:db8::1", "s=-", "t=0 0"})) ==
        "o= line 2: bad address");
  CHECK(verdict(body({"v=0", "o=- 1 1 IN IP6 [2001:db8::1]", "s=-", "t=0 0"})) ==
        "o= line 2: bad address");
}

TEST_CASE("sdp: only the SBC's outside address appears in a rewritten body", "[media]") {
  const auto only = [](const std::string& text, std::string_view allowed) {
    Sdp sdp;
    REQUIRE_FALSE(parse_sdp(text, sdp));
    std::vector<std::string> others;
    for_each_address(sdp, [&](const SdpAddress& a) {
      if (a.address != allowed)
        others.push_back(std::to_string(a.line) + " " + std::string(a.where));
    });
    return others;
  };
  const std::string rewritten =
      body({"v=0", "o=- 1 1 IN IP4 203.0.113.5", "s=-", "c=IN IP4 203.0.113.5", "t=0 0",
            "m=audio 30000 RTP/AVP 0", "a=rtcp:30001 IN IP4 203.0.113.5"});
  CHECK(only(rewritten, "203.0.113.5").empty());
  const std::string leaking =
      body({"v=0", "o=- 1 1 IN IP4 203.0.113.5", "s=-", "c=IN IP4 203.0.113.5", "t=0 0",
            "m=audio 30000 RTP/AVP 0", "c=IN IP4 10.1.2.3", "a=rtcp:30001 IN IP4 10.1.2.3"});
  CHECK(only(leaking, "203.0.113.5") == std::vector<std::string>{"7 c=", "8 a=rtcp"});
}

TEST_CASE("sdp: hold, the RFC 3264 way and the RFC 2543 way", "[media]") {
  const std::string text =
      body({"v=0", "o=- 1 2 IN IP4 192.0.2.10", "s=-", "c=IN IP4 0.0.0.0", "t=0 0", "a=inactive",
            "m=audio 49170 RTP/AVP 0", "a=sendonly", "m=audio 49172 RTP/AVP 0"});
  Sdp sdp;  // views `text`
  REQUIRE_FALSE(parse_sdp(text, sdp));
  CHECK(sdp.connection->address == "0.0.0.0");
  CHECK(direction(sdp, sdp.media[0]) == Direction::SendOnly);
  CHECK(to_string(direction(sdp, sdp.media[0])) == "sendonly");
  CHECK(direction(sdp, sdp.media[1]) == Direction::Inactive);  // the session's
  CHECK(verdict(body({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
                      "m=audio 1 RTP/AVP 0", "a=sendonly", "a=recvonly"})) ==
        "a= line 8: more than one direction attribute");
  CHECK(verdict(body({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0",
                      "m=audio 1 RTP/AVP 0", "a=sendonly:yes"})) ==
        "a= line 7: direction attribute with a value");
}

TEST_CASE("sdp: several m= sections, a rejected one without a connection", "[media]") {
  const std::string text =
      body({"v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "t=0 0", "m=audio 49170 RTP/AVP 0",
            "c=IN IP4 192.0.2.11", "a=sendrecv", "m=video 0 RTP/AVP 31",
            "m=application 5000/2 UDP/BFCP *", "c=IN IP4 224.2.1.1/127/3"});
  Sdp sdp;
  REQUIRE_FALSE(parse_sdp(text, sdp));
  REQUIRE(sdp.media_count == 3);
  CHECK_FALSE(sdp.connection);
  CHECK(sdp.connection_of(sdp.media[0])->address == "192.0.2.11");
  CHECK(sdp.media[1].port == 0);
  CHECK(sdp.connection_of(sdp.media[1]) == nullptr);
  CHECK(sdp.attributes(sdp.media[1]).empty());
  CHECK(sdp.media[2].port_count == 2);
  CHECK_FALSE(sdp.media[2].rtp());
  CHECK(sdp.media[2].formats[0] == "*");
  CHECK(sdp.media[2].connection->ttl == 127);
  CHECK(sdp.media[2].connection->count == 3);
}

TEST_CASE("sdp: refusals name the line and the defect", "[media]") {
  const std::string_view v = "v=0", o = "o=- 1 1 IN IP4 192.0.2.1", s = "s=-",
                         c = "c=IN IP4 192.0.2.1", t = "t=0 0", m = "m=audio 4000 RTP/AVP 0";
  // Missing lines.
  CHECK(verdict("") == "empty body");
  CHECK(verdict(body({o, s, c, t, m})) == "o= line 1: v= missing");
  CHECK(verdict(body({v, s, c, t, m})) == "s= line 2: o= missing");
  CHECK(verdict(body({v, o, c, t, m})) == "c= line 3: s= missing");
  CHECK(verdict(body({v, o, s, c, m})) == "m= line 5: t= missing");
  CHECK(verdict(body({v, o, s, c})) == "t= missing");
  CHECK(verdict(body({v, o, s, m})) == "m= line 4: t= missing");
  // Order and repetition.
  CHECK(verdict(body({v, o, s, t, c, m})) == "c= line 5: out of order");
  CHECK(verdict(body({v, o, s, c, t, m, "a=sendrecv", c})) == "c= line 8: out of order");
  CHECK(verdict(body({v, o, s, s, c, t})) == "s= line 4: repeated");
  CHECK(verdict(body({v, o, s, c, t, m, t})) == "t= line 7: not allowed in a media section");
  CHECK(verdict(body({v, o, s, c, t, "r=7d 1h 0 25h", t, "r=7d 1h 0"})) == "accepted");
  CHECK(verdict(body({v, o, s, c, t, "x=1"})) == "x= line 6: unknown line type");
  // Line syntax.
  CHECK(verdict(body({"V=0", o, s, c, t})) == "line 1: not a <type>=<value> line");
  CHECK(verdict(body({"v =0", o, s, c, t})) == "line 1: not a <type>=<value> line");
  CHECK(verdict(body({"v= 0", o, s, c, t})) == "v= line 1: space after '='");
  CHECK(verdict(body({"v=1", o, s, c, t})) == "v= line 1: version not 0");
  CHECK(verdict(body({v, o, "", s, c, t})) == "line 3: empty line");
  CHECK(verdict(body({v, o, "s=", c, t})) == "s= line 3: empty value");
  CHECK(verdict(body({v, "o=- 1 1 IN IP4", s, c, t})) == "o= line 2: malformed origin (6 fields)");
  CHECK(verdict(body({v, "o=- x 1 IN IP4 192.0.2.1", s, c, t})) ==
        "o= line 2: session id not numeric");
  CHECK(verdict(body({v, o, s, "c=ATM NSAP 47.0005", t})) == "c= line 4: network type not IN");
}

TEST_CASE("sdp: refusals of ports, formats and addresses", "[media]") {
  const auto with = [](std::string_view connection, std::string_view media) {
    return verdict(body({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", connection, "t=0 0", media}));
  };
  const std::string_view c = "c=IN IP4 192.0.2.1";
  CHECK(with(c, "m=audio 65535 RTP/AVP 0") == "accepted");
  CHECK(with(c, "m=audio 65536 RTP/AVP 0") == "m= line 6: port out of range");
  CHECK(with(c, "m=audio -1 RTP/AVP 0") == "m= line 6: port out of range");
  CHECK(with(c, "m=audio 4000/0 RTP/AVP 0") == "m= line 6: bad port count");
  CHECK(with(c, "m=audio 4000 RTP/AVP 128") == "m= line 6: payload type out of range");
  CHECK(with(c, "m=audio 4000 RTP/AVP") ==
        "m= line 6: malformed media (media port proto format...)");
  CHECK(with(c, "m=audio 4000  RTP/AVP 0") ==
        "m= line 6: malformed media (media port proto format...)");
  CHECK(with(c, "m=audio 4000 RTP//AVP 0") == "m= line 6: malformed proto");
  CHECK(with("c=IN IP4 192.0.2.256", "m=audio 4000 RTP/AVP 0") == "c= line 4: bad address");
  CHECK(with("c=IN IP4 192.0.2", "m=audio 4000 RTP/AVP 0") == "c= line 4: bad address");
  CHECK(with("c=IN IP4 192.0.2.01", "m=audio 4000 RTP/AVP 0") == "c= line 4: bad address");
  CHECK(with("c=IN IP4 -bad-.example", "m=audio 4000 RTP/AVP 0") == "c= line 4: bad address");
  CHECK(with("c=IN IP4 media.example.com", "m=audio 4000 RTP/AVP 0") == "accepted");
  CHECK(with("c=IN IP4 192.0.2.1/127", "m=audio 4000 RTP/AVP 0") ==
        "c= line 4: TTL or count on a unicast address");
  CHECK(with("c=IN IP4 233.252.0.1", "m=audio 4000 RTP/AVP 0") ==
        "c= line 4: multicast address without a TTL");
  CHECK(with("c=IN IP4 233.252.0.1/300", "m=audio 4000 RTP/AVP 0") == "c= line 4: bad TTL");
  CHECK(with("c=IN IP6 ff15::101/3", "m=audio 4000 RTP/AVP 0") == "accepted");
  CHECK(with("c=IN IP7 192.0.2.1", "m=audio 4000 RTP/AVP 0") ==
        "c= line 4: address type not IP4 or IP6");
  CHECK(with("c=IN IP4 192.0.2.1", "m=audio 4000 RTP/AVP 0\r\na=rtcp:4001 IN IP4 10.0.0") ==
        "a= line 7: malformed rtcp");
  CHECK(with("b=AS:64", "m=audio 4000 RTP/AVP 0") == "m= line 6: no connection address (c=)");
}

TEST_CASE("sdp: the bounds are errors that name them", "[media]") {
  const std::string head =
      body({"v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0"});
  std::string sixteen = head;
  for (std::size_t i = 0; i < kMaxMedia; ++i) sixteen += "m=audio 0 RTP/AVP 0\r\n";
  CHECK(verdict(sixteen) == "accepted");
  CHECK(verdict(sixteen + "m=audio 0 RTP/AVP 0\r\n") ==
        "m= line 22: too many m= sections (limit 16)");

  std::string attributes = head + "m=audio 4000 RTP/AVP 0\r\n";
  for (std::size_t i = 0; i < kMaxSectionAttributes; ++i) attributes += "a=x\r\n";
  CHECK(verdict(attributes) == "accepted");
  CHECK(verdict(attributes + "a=x\r\n") == "a= line 71: too many a= lines in a section (limit 64)");

  // 4 sections of 64 fill the body's pool of 256; the 257th a= line overflows it.
  std::string pool = head;
  for (std::size_t i = 0; i < kMaxAttributes / kMaxSectionAttributes; ++i) {
    pool += "m=audio 4000 RTP/AVP 0\r\n";
    for (std::size_t k = 0; k < kMaxSectionAttributes; ++k) pool += "a=x\r\n";
  }
  CHECK(verdict(pool) == "accepted");
  CHECK(verdict(pool + "m=audio 4000 RTP/AVP 0\r\na=x\r\n") ==
        "a= line 267: too many a= lines (limit 256)");

  std::string formats = head + "m=audio 4000 RTP/AVP";
  for (std::size_t i = 0; i < kMaxFormats; ++i) formats += " 0";
  CHECK(verdict(formats + "\r\n") == "accepted");
  CHECK(verdict(formats + " 0\r\n") == "m= line 6: too many formats (limit 32)");

  std::string large = head;
  while (large.size() <= SdpLimits{}.max_body) large += "a=padding:0123456789abcdef\r\n";
  CHECK(verdict(large) == "body too large (limit 16384)");
  CHECK(verdict(head, SdpLimits{head.size() - 1}) ==
        "body too large (limit " + std::to_string(head.size() - 1) + ")");
}

TEST_CASE("sdp: control characters and bytes that are not UTF-8 are refused", "[media]") {
  const auto with_name = [](std::string_view name) {
    std::string text = "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=";
    text += name;
    text += "\r\nt=0 0\r\n";
    return verdict(text);
  };
  CHECK(with_name("Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\x9e") == "accepted");
  CHECK(with_name("a\tb") == "line 3: control character");
  CHECK(with_name(std::string_view("a\0b", 3)) == "line 3: control character");
  CHECK(with_name("a\rb") == "line 3: control character");
  CHECK(with_name("a\x7f") == "line 3: control character");
  CHECK(with_name("\xff") == "line 3: invalid UTF-8");
  CHECK(with_name("\xc0\xaf") == "line 3: invalid UTF-8");      // overlong '/'
  CHECK(with_name("\xed\xa0\x80") == "line 3: invalid UTF-8");  // a surrogate
  CHECK(with_name("\xe2\x82") == "line 3: invalid UTF-8");      // cut short
}
