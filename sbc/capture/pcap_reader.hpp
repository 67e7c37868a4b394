#pragma once
// Reads SIP messages out of a capture: pcap or pcapng (libpcap), link types Ethernet, Linux
// cooked (SLL, SLL2: `tcpdump -i any`), raw IP and BSD loopback; IPv4 and IPv6; UDP datagrams as
// they are, TCP streams reassembled per direction of each connection by sequence number (out of
// order and retransmitted segments handled, memory bounded) and cut into messages by the edge's
// own StreamFramer. What cannot be used (IP fragments, other protocols, non-SIP payloads, gaps
// in a stream) is skipped and counted, never fatal: arbitrary bytes in, counted results out.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "sbc/capture/captured_message.hpp"

namespace sbc::capture {

struct ReadStats {
  std::uint64_t packets = 0;
  std::uint64_t messages = 0;
  std::uint64_t non_ip = 0;       // ARP and other link-layer payloads
  std::uint64_t not_udp_tcp = 0;  // ICMP and other IP protocols
  std::uint64_t fragments = 0;    // IP fragments: not reassembled
  std::uint64_t truncated = 0;    // captured shorter than the packet (snap length)
  std::uint64_t malformed = 0;    // headers that do not add up
  std::uint64_t not_sip = 0;      // payloads or streams that are not SIP (DNS, TLS records, ...)
  std::uint64_t keepalives = 0;   // CRLF keep-alives
  std::uint64_t tcp_retransmitted = 0;
  std::uint64_t tcp_out_of_order = 0;
  std::uint64_t tcp_gaps = 0;            // streams given up for missing data
  std::uint64_t tcp_framing_errors = 0;  // streams given up for broken framing
  std::uint64_t tcp_incomplete = 0;      // streams that ended inside a message
  std::uint64_t tcp_evicted = 0;         // streams forgotten to bound memory
};

struct ReaderLimits {
  std::uint32_t max_message_bytes = 1u << 20;
  std::size_t max_streams = 4096;
  std::size_t max_pending_bytes_per_stream = 1u << 20;  // out-of-order data waiting for a gap
  std::size_t max_pending_segments_per_stream = 1024;
  // All streams' buffered and pending bytes together; above it the least recently used streams
  // are forgotten (counted as evicted).
  std::size_t max_buffered_bytes = 64u << 20;
  // Hand over UDP payloads that do not look like SIP too (marked; still counted as not_sip).
  bool keep_non_sip_udp = false;
};

using MessageSink = std::function<void(const CapturedMessage&)>;

// Packets in, messages out to the sink. Link types are libpcap's DLT_ values.
class PacketDecoder {
 public:
  PacketDecoder(MessageSink sink, ReaderLimits limits = {});
  ~PacketDecoder();
  // False when the link type is not one this decoder knows.
  static bool supported_link_type(int link_type) noexcept;
  void packet(int link_type, std::int64_t time_us, std::span<const std::uint8_t> data,
              std::uint32_t original_length);
  // End of the capture: streams still inside a message are counted as incomplete.
  void finish();
  const ReadStats& stats() const noexcept { return stats_; }

 private:
  struct Stream;
  void ip(std::int64_t time_us, std::span<const std::uint8_t> data, bool truncated);
  void udp(const CapturedMessage& meta, std::span<const std::uint8_t> segment);
  void tcp(CapturedMessage& meta, std::span<const std::uint8_t> segment);
  void deliver(Stream& stream, const CapturedMessage& meta);
  void evict_until_within_budget(const Stream* keep);

  MessageSink sink_;
  ReaderLimits limits_;
  ReadStats stats_;
  std::map<std::string, std::unique_ptr<Stream>> streams_;
  std::uint64_t clock_ = 0;   // packet counter: when each stream was last used
  std::size_t buffered_ = 0;  // data and pending bytes of all streams
};

struct ReadResult {
  bool ok = false;
  std::string error;  // when not ok: why the file cannot be read
  int link_type = 0;
  ReadStats stats;
};

ReadResult read_capture_file(const std::string& path, const MessageSink& sink,
                             ReaderLimits limits = {});
// The same from bytes in memory (the fuzz target).
ReadResult read_capture_bytes(std::string_view bytes, const MessageSink& sink,
                              ReaderLimits limits = {});

}  // namespace sbc::capture
