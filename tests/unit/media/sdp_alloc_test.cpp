// Proves the SDP reader's zero-allocation promise: the global operator new is replaced with one
// that counts (alloc_counter.cpp, in sbc_alloc_tests with the SIP parser's test), and parsing a
// body (and walking its addresses) must not call it.

#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "sbc/media/sdp.hpp"
#include "tests/unit/alloc_counter.hpp"

TEST_CASE("sdp: parsing allocates nothing, accepted or refused", "[media]") {
  using namespace sbc::media;
  std::string offer =
      "v=0\r\no=- 1 1 IN IP4 192.0.2.7\r\ns=-\r\nc=IN IP4 192.0.2.7\r\nt=0 0\r\n"
      "m=audio 4000 RTP/SAVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 "
      "telephone-event/8000\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 "
      "inline:PS1uQCVeeCFCanVmcjkpPywjNWhcYD0mXXtxaVBR|2^20|1:32\r\na=rtcp:4001 IN IP4 "
      "192.0.2.7\r\na=candidate:1 1 UDP 2130706431 192.0.2.7 4000 typ host\r\na=sendonly\r\n"
      "m=video 0 RTP/AVP 96\r\n";
  const std::string refused = offer + "m=audio 70000 RTP/AVP 0\r\n";
  const auto sdp = std::make_unique<Sdp>();
  const std::size_t before = allocations_so_far();
  const auto accepted = parse_sdp(offer, *sdp);
  std::size_t addresses = 0;
  for_each_address(*sdp, [&](const SdpAddress&) { ++addresses; });
  const bool sending = direction(*sdp, sdp->media[0]) == Direction::SendOnly;
  const auto pcmu = rtpmap(*sdp, sdp->media[0], "0");
  const auto error = parse_sdp(refused, *sdp);
  const std::size_t during = allocations_so_far() - before;
  CHECK_FALSE(accepted);
  CHECK(addresses == 4);
  CHECK(sending);
  CHECK(pcmu);
  REQUIRE(error);
  CHECK(error->what == "port out of range");
  CHECK(during == 0);
}
