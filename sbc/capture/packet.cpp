#include "sbc/capture/packet.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "sbc/common/address.hpp"

namespace sbc::capture {
namespace {

constexpr std::size_t kIpv4Header = 20;
constexpr std::size_t kIpv6Header = 40;
constexpr std::size_t kUdpHeader = 8;
constexpr std::size_t kTcpHeader = 20;

void put16(std::string& out, std::size_t at, std::uint32_t value) {
  out[at] = static_cast<char>((value >> 8) & 0xff);
  out[at + 1] = static_cast<char>(value & 0xff);
}
void put32(std::string& out, std::size_t at, std::uint32_t value) {
  put16(out, at, value >> 16);
  put16(out, at + 2, value & 0xffff);
}

// RFC 1071 one's-complement sum, continued from `sum`.
std::uint32_t add_sum(std::uint32_t sum, const std::uint8_t* data, std::size_t size) {
  for (std::size_t i = 0; i + 1 < size; i += 2)
    sum += static_cast<std::uint32_t>((data[i] << 8) | data[i + 1]);
  if (size % 2 != 0) sum += static_cast<std::uint32_t>(data[size - 1] << 8);
  return sum;
}
std::uint16_t fold(std::uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<std::uint16_t>(~sum & 0xffff);
}

}  // namespace

std::optional<IpAddress> parse_ip(std::string_view text) noexcept {
  text = sbc::strip_brackets(text);
  char buffer[64];
  if (text.empty() || text.size() >= sizeof buffer) return std::nullopt;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  IpAddress address;
  if (inet_pton(AF_INET, buffer, address.bytes.data()) == 1) return address;
  if (inet_pton(AF_INET6, buffer, address.bytes.data()) != 1) return std::nullopt;
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(address.bytes.data(), kMapped, 12) == 0) {
    std::memmove(address.bytes.data(), address.bytes.data() + 12, 4);
    std::memset(address.bytes.data() + 4, 0, 12);
    return address;
  }
  address.v6 = true;
  return address;
}

std::string ip_text(const IpAddress& address) {
  char buffer[INET6_ADDRSTRLEN] = {};
  inet_ntop(address.v6 ? AF_INET6 : AF_INET, address.bytes.data(), buffer, sizeof buffer);
  return buffer;
}

std::size_t max_payload(const PacketSpec& spec) noexcept {
  const std::size_t transport = spec.protocol == sbc::Protocol::Udp ? kUdpHeader : kTcpHeader;
  // IPv4 counts its header in the 16-bit total length, IPv6 does not.
  return 65535 - transport - (spec.source.v6 ? 0 : kIpv4Header);
}

std::string build_packet(const PacketSpec& spec) {
  if (spec.source.v6 != spec.destination.v6 || spec.payload.size() > max_payload(spec)) return {};
  const bool udp = spec.protocol == sbc::Protocol::Udp;
  const bool v6 = spec.source.v6;
  const std::size_t ip_size = v6 ? kIpv6Header : kIpv4Header;
  const std::size_t transport_size = (udp ? kUdpHeader : kTcpHeader) + spec.payload.size();
  const std::uint8_t protocol = udp ? 17 : 6;
  const std::uint8_t traffic_class =
      spec.protocol == sbc::Protocol::Tls ? static_cast<std::uint8_t>(kTlsDscp << 2) : 0;
  const std::size_t address_size = v6 ? 16 : 4;

  std::string out(ip_size + transport_size, '\0');
  if (v6) {
    out[0] = static_cast<char>(0x60 | (traffic_class >> 4));
    out[1] = static_cast<char>((traffic_class & 0x0f) << 4);
    put16(out, 4, static_cast<std::uint32_t>(transport_size));
    out[6] = static_cast<char>(protocol);
    out[7] = 64;  // hop limit
    std::memcpy(out.data() + 8, spec.source.bytes.data(), 16);
    std::memcpy(out.data() + 24, spec.destination.bytes.data(), 16);
  } else {
    out[0] = 0x45;
    out[1] = static_cast<char>(traffic_class);
    put16(out, 2, static_cast<std::uint32_t>(out.size()));
    out[6] = 0x40;  // don't fragment
    out[8] = 64;    // TTL
    out[9] = static_cast<char>(protocol);
    std::memcpy(out.data() + 12, spec.source.bytes.data(), 4);
    std::memcpy(out.data() + 16, spec.destination.bytes.data(), 4);
    put16(out, 10, fold(add_sum(0, reinterpret_cast<const std::uint8_t*>(out.data()), 20)));
  }
  const std::size_t t = ip_size;
  put16(out, t, spec.source_port);
  put16(out, t + 2, spec.destination_port);
  if (udp) {
    put16(out, t + 4, static_cast<std::uint32_t>(transport_size));
  } else {
    put32(out, t + 4, spec.sequence);
    put32(out, t + 8, 1);  // acknowledgement: the other direction is not captured
    out[t + 12] = static_cast<char>((kTcpHeader / 4) << 4);
    out[t + 13] = static_cast<char>(spec.tcp_flags);
    put16(out, t + 14, 65535);  // window
  }
  std::memcpy(out.data() + t + (udp ? kUdpHeader : kTcpHeader), spec.payload.data(),
              spec.payload.size());
  // Checksum over the pseudo header (addresses, protocol, length) and the segment.
  std::uint32_t sum = 0;
  sum = add_sum(sum, spec.source.bytes.data(), address_size);
  sum = add_sum(sum, spec.destination.bytes.data(), address_size);
  sum += protocol;
  sum += static_cast<std::uint32_t>(transport_size & 0xffff) +
         static_cast<std::uint32_t>(transport_size >> 16);
  std::uint16_t checksum =
      fold(add_sum(sum, reinterpret_cast<const std::uint8_t*>(out.data()) + t, transport_size));
  if (udp && checksum == 0) checksum = 0xffff;  // 0 means "no checksum" for UDP
  put16(out, t + (udp ? 6 : 16), checksum);
  return out;
}

struct PcapFile::Handles {
  pcap_t* pcap = nullptr;
  pcap_dumper_t* dumper = nullptr;
  ~Handles() {
    if (dumper != nullptr) pcap_dump_close(dumper);
    if (pcap != nullptr) pcap_close(pcap);
  }
};

PcapFile::PcapFile(const std::string& path) : handles_(std::make_unique<Handles>()) {
  handles_->pcap = pcap_open_dead(DLT_RAW, kSnapLength);
  if (handles_->pcap == nullptr) throw std::runtime_error(path + ": cannot start libpcap");
  // SIP carries credentials and personal data: the file is the SBC's operators' only from its
  // first byte (mode 0600 at creation, not chmod after), and it is a new file of our own: never
  // one that exists, nor one a planted symlink points to (O_EXCL refuses any existing name,
  // symlinks included; O_NOFOLLOW says so twice).
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), path);
  FILE* file = ::fdopen(fd, "wb");
  if (file == nullptr) {
    const int error = errno;
    ::close(fd);
    throw std::system_error(error, std::generic_category(), path);
  }
  handles_->dumper = pcap_dump_fopen(handles_->pcap, file);
  if (handles_->dumper == nullptr) {
    std::fclose(file);
    throw std::runtime_error(path + ": " + pcap_geterr(handles_->pcap));
  }
  bytes_ = 24;  // the pcap file header
}

PcapFile::~PcapFile() = default;

void PcapFile::write(std::int64_t time_us, std::string_view packet) noexcept {
  pcap_pkthdr header{};
  header.ts.tv_sec = static_cast<time_t>(time_us / 1000000);
  header.ts.tv_usec = static_cast<suseconds_t>(time_us % 1000000);
  header.caplen = static_cast<bpf_u_int32>(packet.size());
  header.len = header.caplen;
  pcap_dump(reinterpret_cast<u_char*>(handles_->dumper), &header,
            reinterpret_cast<const u_char*>(packet.data()));
  bytes_ += 16 + packet.size();
}

void PcapFile::flush() noexcept {
  pcap_dump_flush(handles_->dumper);
}

}  // namespace sbc::capture
