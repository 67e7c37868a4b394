// Proves the SDP reader's zero-allocation promise: the global operator new is replaced with one
// that counts, and parsing a body (and walking its addresses) must not call it. An executable of
// its own, like tests/unit/sip/alloc_test.cpp, since it replaces operator new for the program.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>

#include "sbc/media/sdp.hpp"

namespace {
std::atomic<std::size_t> g_allocations{0};
}

#if defined(__SANITIZE_ADDRESS__)
extern "C" const char* __asan_default_options() {
  return "alloc_dealloc_mismatch=0";
}
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  return ::operator new(size);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}

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
  const std::size_t before = g_allocations.load();
  const auto accepted = parse_sdp(offer, *sdp);
  std::size_t addresses = 0;
  for_each_address(*sdp, [&](const SdpAddress&) { ++addresses; });
  const bool sending = direction(*sdp, sdp->media[0]) == Direction::SendOnly;
  const auto pcmu = rtpmap(*sdp, sdp->media[0], "0");
  const auto error = parse_sdp(refused, *sdp);
  const std::size_t during = g_allocations.load() - before;
  CHECK_FALSE(accepted);
  CHECK(addresses == 4);
  CHECK(sending);
  CHECK(pcmu);
  REQUIRE(error);
  CHECK(error->what == "port out of range");
  CHECK(during == 0);
}
