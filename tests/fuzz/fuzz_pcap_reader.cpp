// The capture reader on arbitrary bytes. First byte even: the rest is a capture file (pcap or
// pcapng, through libpcap). Odd: the second byte picks a link type and the rest is a sequence of
// packets, each a 16-bit big-endian length and that many bytes, straight into the decoder (so the
// fuzzer reaches IP, UDP and TCP reassembly without first having to build a file).
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sbc/capture/pcap_reader.hpp"

using namespace sbc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Small bounds, so eviction and gap handling run too.
  capture::ReaderLimits limits;
  limits.max_message_bytes = 4096;
  limits.max_streams = 8;
  limits.max_pending_bytes_per_stream = 4096;
  auto sink = [](const capture::CapturedMessage& m) {
    if (m.bytes.empty() || m.bytes.size() > 65535) std::abort();
  };
  if (data[0] % 2 == 0) {
    const std::string_view file(reinterpret_cast<const char*>(data + 1), size - 1);
    (void)capture::read_capture_bytes(file, sink, limits);
    return 0;
  }
  // DLT_NULL, EN10MB, RAW, LOOP, LINUX_SLL, IPV4, IPV6, LINUX_SLL2, and one not supported.
  static constexpr int kLinkTypes[] = {0, 1, 12, 108, 113, 228, 229, 276, 105};
  const int link_type = kLinkTypes[data[1] % std::size(kLinkTypes)];
  capture::PacketDecoder decoder(sink, limits);
  std::size_t at = 2;
  std::int64_t time_us = 0;
  while (at + 2 <= size) {
    std::size_t length = static_cast<std::size_t>((data[at] << 8) | data[at + 1]);
    at += 2;
    if (length > size - at) length = size - at;
    // The captured length may be shorter than the packet was (snap length).
    const auto original = static_cast<std::uint32_t>(length + (data[at - 1] & 1) * 100);
    decoder.packet(link_type, time_us++, {data + at, length}, original);
    at += length;
  }
  decoder.finish();
  return 0;
}
