#pragma once
// The packets of a capture file: synthesized IPv4/IPv6 + UDP/TCP packets (what the writer puts in
// a file) and a raw pcap file handle. Exposed so tests can build captures packet by packet (out of
// order, retransmitted, split) and read them back.

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "sbc/common/flow.hpp"

namespace sbc::capture {

// Messages that arrived over TLS are written after decryption, as TCP on the TLS port, with this
// DSCP in the IPv4 TOS / IPv6 Traffic Class byte (3: the "experimental or local use" pool of
// RFC 2474), so the reader gives them back as TLS. tshark needs `-d tcp.port==PORT,sip` to decode
// them: it takes the TLS port for TLS.
inline constexpr std::uint8_t kTlsDscp = 3;

inline constexpr std::uint8_t kTcpFin = 0x01;
inline constexpr std::uint8_t kTcpSyn = 0x02;
inline constexpr std::uint8_t kTcpRst = 0x04;
inline constexpr std::uint8_t kTcpPsh = 0x08;
inline constexpr std::uint8_t kTcpAck = 0x10;

// IPv4 and IPv6 addresses alike, as 16 bytes (IPv4 in the first four).
struct IpAddress {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
};
// Text to address; IPv4-mapped IPv6 becomes IPv4.
std::optional<IpAddress> parse_ip(std::string_view text) noexcept;
std::string ip_text(const IpAddress& address);

struct PacketSpec {
  sbc::Protocol protocol = sbc::Protocol::Udp;  // Tls: TCP with kTlsDscp
  IpAddress source;
  std::uint16_t source_port = 0;
  IpAddress destination;
  std::uint16_t destination_port = 0;
  std::uint32_t sequence = 0;  // TCP
  std::uint8_t tcp_flags = kTcpPsh | kTcpAck;
  std::string_view payload;
};

// The largest transport payload one packet carries (its IP datagram stays within 65535 bytes).
std::size_t max_payload(const PacketSpec& spec) noexcept;
// IP header + UDP or TCP header (checksums filled in) + payload; empty when the address families
// differ or the payload exceeds max_payload().
std::string build_packet(const PacketSpec& spec);

// A pcap file of raw IP packets (LINKTYPE_RAW), written through libpcap.
class PcapFile {
 public:
  static constexpr int kSnapLength = 262144;
  // Creates a new file (mode 0600; never an existing name or a symlink). Throws
  // std::system_error naming the file when it cannot be created (EEXIST when the name exists),
  // std::runtime_error when libpcap fails.
  explicit PcapFile(const std::string& path);
  ~PcapFile();
  PcapFile(const PcapFile&) = delete;
  PcapFile& operator=(const PcapFile&) = delete;

  void write(std::int64_t time_us, std::string_view packet) noexcept;
  void flush() noexcept;
  // Bytes in the file so far (the file header and every record).
  std::uint64_t bytes() const noexcept { return bytes_; }

 private:
  struct Handles;
  std::unique_ptr<Handles> handles_;
  std::uint64_t bytes_ = 0;
};

}  // namespace sbc::capture
