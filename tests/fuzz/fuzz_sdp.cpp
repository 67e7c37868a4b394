// The SDP reader on arbitrary bytes: a body comes from whoever sends an INVITE and is checked
// before the relay hands it on. What parses is walked by every accessor and the address
// enumeration, whose results must lie inside the body (the reader is zero-copy).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "sbc/media/sdp.hpp"

namespace {

void inside(std::string_view body, std::string_view part) {
  if (part.empty()) return;
  if (part.data() < body.data() || part.data() + part.size() > body.data() + body.size())
    std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sbc::media;
  static const auto sdp = std::make_unique<Sdp>();
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  if (const auto error = parse_sdp(body, *sdp)) {
    if (error->what.empty() || error->phrase().empty()) std::abort();
    return 0;
  }
  std::size_t addresses = 0;
  for_each_address(*sdp, [&](const SdpAddress& a) {
    if (a.address.empty()) std::abort();
    inside(body, a.address);
    ++addresses;
  });
  if (addresses == 0) std::abort();  // o= always names one
  for (const SdpAttribute& a : sdp->attributes()) inside(body, a.value);
  for (const SdpMedia& m : sdp->media_list()) {
    if (m.port != 0 && sdp->connection_of(m) == nullptr) std::abort();
    for (const std::string_view format : m.format_list()) {
      inside(body, format);
      if (const auto map = rtpmap(*sdp, m, format)) inside(body, map->encoding);
    }
    (void)to_string(direction(*sdp, m));
    (void)rtcp(*sdp, m);
    for (const SdpAttribute& a : sdp->attributes(m)) {
      inside(body, a.name);
      if (a.name == "crypto" && !parse_crypto(a.value)) std::abort();  // checked while parsing
      if (a.name == "rtpmap" && !parse_rtpmap(a.value)) std::abort();
    }
  }
  return 0;
}
