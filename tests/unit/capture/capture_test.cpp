#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <system_error>
#include <vector>

#include "sbc/capture/packet.hpp"
#include "sbc/capture/pcap_reader.hpp"
#include "sbc/capture/pcap_writer.hpp"

using namespace sbc;
using namespace sbc::capture;
using sbc::Protocol;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sbc-capture-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::string sip_message(const std::string& method, std::size_t body = 0, char fill = 'x') {
  std::string m = method +
                  " sip:bob@192.0.2.1 SIP/2.0\r\n"
                  "Via: SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bK-" +
                  method +
                  "\r\n"
                  "Max-Forwards: 70\r\nFrom: <sip:alice@192.0.2.7>;tag=1\r\n"
                  "To: <sip:bob@192.0.2.1>\r\nCall-ID: c1@192.0.2.7\r\nCSeq: 1 " +
                  method + "\r\n";
  if (body > 0) m += "Content-Type: text/plain\r\n";
  m += "Content-Length: " + std::to_string(body) + "\r\n\r\n" + std::string(body, fill);
  return m;
}

CapturedMessage message(Protocol protocol, std::string source, std::string destination,
                        std::string bytes, std::int64_t time_us = 1700000000123456) {
  CapturedMessage m;
  m.time_us = time_us;
  m.protocol = protocol;
  m.source_ip = std::move(source);
  m.source_port = 40001;
  m.destination_ip = std::move(destination);
  m.destination_port = protocol == Protocol::Tls ? 5061 : 5060;
  m.bytes = std::move(bytes);
  return m;
}

std::vector<CapturedMessage> read_all(const std::string& path, ReadStats* stats = nullptr) {
  std::vector<CapturedMessage> out;
  const ReadResult r = read_capture_file(path, [&](const CapturedMessage& m) { out.push_back(m); });
  REQUIRE(r.ok);
  if (stats != nullptr) *stats = r.stats;
  return out;
}

// A TCP segment as a raw IP packet.
std::string segment(std::uint32_t sequence, std::string_view payload,
                    std::uint8_t flags = kTcpPsh | kTcpAck, bool v6 = false) {
  PacketSpec spec;
  spec.protocol = Protocol::Tcp;
  spec.source = *parse_ip(v6 ? "2001:db8::7" : "192.0.2.7");
  spec.destination = *parse_ip(v6 ? "2001:db8::1" : "192.0.2.1");
  spec.source_port = 40001;
  spec.destination_port = 5060;
  spec.sequence = sequence;
  spec.tcp_flags = flags;
  spec.payload = payload;
  return build_packet(spec);
}

}  // namespace

TEST_CASE("messages written come back from the file: UDP, TCP and TLS, IPv4 and IPv6",
          "[capture]") {
  TempDir dir;
  std::vector<CapturedMessage> written = {
      message(Protocol::Udp, "192.0.2.7", "192.0.2.1", sip_message("OPTIONS")),
      message(Protocol::Udp, "2001:db8::7", "2001:db8::1", sip_message("REGISTER")),
      message(Protocol::Tcp, "192.0.2.7", "192.0.2.1", sip_message("INVITE", 100)),
      message(Protocol::Tcp, "2001:db8::7", "2001:db8::1", sip_message("BYE")),
      message(Protocol::Tcp, "192.0.2.7", "192.0.2.1", sip_message("MESSAGE", 20)),
      message(Protocol::Tls, "192.0.2.8", "192.0.2.1", sip_message("SUBSCRIBE")),
  };
  written[1].time_us += 250;
  {
    PcapWriter writer({dir.path, "sbc", 1u << 20, 4});
    for (const auto& m : written) REQUIRE(writer.write(m));
    // A listener on a wildcard address shows "::" as the local address of IPv4 peers.
    REQUIRE(writer.write(message(Protocol::Udp, "192.0.2.9", "::", sip_message("INFO"))));
    CHECK_FALSE(writer.write(message(Protocol::Udp, "192.0.2.9", "2001:db8::1", "x")));
    CHECK_FALSE(writer.write(message(Protocol::Udp, "not-an-ip", "192.0.2.1", "x")));
    REQUIRE(writer.files().size() == 1);
  }
  ReadStats stats;
  const auto read = read_all(dir.path + "/sbc-00000001.pcap", &stats);
  REQUIRE(read.size() == written.size() + 1);
  for (std::size_t i = 0; i < written.size(); ++i) {
    INFO("message " << i);
    CHECK(read[i].bytes == written[i].bytes);
    CHECK(read[i].protocol == written[i].protocol);
    CHECK(read[i].source_ip == written[i].source_ip);
    CHECK(read[i].source_port == written[i].source_port);
    CHECK(read[i].destination_ip == written[i].destination_ip);
    CHECK(read[i].destination_port == written[i].destination_port);
    CHECK(read[i].time_us == written[i].time_us);
  }
  CHECK(read.back().destination_ip == "0.0.0.0");
  CHECK(stats.messages == 7);
  CHECK(stats.tcp_retransmitted == 0);
  CHECK(stats.tcp_incomplete == 0);
}

TEST_CASE("a message larger than one IP packet is split into segments and reassembled",
          "[capture]") {
  TempDir dir;
  const std::string big = sip_message("MESSAGE", 200000, 'b');
  for (const char* address : {"192.0.2.7", "2001:db8::7"}) {
    INFO(address);
    const std::string destination =
        std::string(address).find(':') != std::string::npos ? "2001:db8::1" : "192.0.2.1";
    const std::string prefix = std::string("big") + (destination.size() > 9 ? "6" : "4");
    {
      PcapWriter writer({dir.path, prefix, 1u << 22, 2});
      REQUIRE(writer.write(message(Protocol::Tcp, address, destination, big)));
      REQUIRE(writer.write(message(Protocol::Tcp, address, destination, sip_message("BYE"))));
    }
    // Every packet's IP datagram stays within 65535 bytes: a real reader (libpcap's snapshot
    // length aside) takes each one whole.
    ReadStats stats;
    const auto read = read_all(dir.path + "/" + prefix + "-00000001.pcap", &stats);
    CHECK(stats.packets == 5);  // 200 kB in 4 segments, and the BYE
    REQUIRE(read.size() == 2);
    CHECK(read[0].bytes == big);
    CHECK(read[1].bytes == sip_message("BYE"));
  }
}

TEST_CASE("synthesized packets respect the IP size limit", "[capture]") {
  PacketSpec spec;
  spec.protocol = Protocol::Tcp;
  spec.source = *parse_ip("192.0.2.7");
  spec.destination = *parse_ip("192.0.2.1");
  const std::string payload(max_payload(spec), 'a');
  spec.payload = payload;
  CHECK(build_packet(spec).size() == 65535);
  const std::string too_big(max_payload(spec) + 1, 'a');
  spec.payload = too_big;
  CHECK(build_packet(spec).empty());
  spec.source = *parse_ip("2001:db8::7");
  spec.destination = *parse_ip("2001:db8::1");
  const std::string v6(max_payload(spec), 'a');
  spec.payload = v6;
  CHECK(build_packet(spec).size() == 65535 + 40);  // IPv6's length excludes its own header
  CHECK(parse_ip("::ffff:192.0.2.1")->v6 == false);
  CHECK(ip_text(*parse_ip("::ffff:192.0.2.1")) == "192.0.2.1");
}

TEST_CASE("rotation bounds the number and the size of the files", "[capture]") {
  TempDir dir;
  const std::uint64_t max_bytes = 4096;
  {
    PcapWriter writer({dir.path, "sbc", max_bytes, 3});
    for (int i = 0; i < 100; ++i) {
      auto m = message(i % 2 ? Protocol::Udp : Protocol::Tcp, "192.0.2.7", "192.0.2.1",
                       sip_message("OPTIONS", 0));
      m.bytes.replace(m.bytes.find("Call-ID: c1"), 11, "Call-ID: " + std::to_string(1000 + i));
      REQUIRE(writer.write(m));
    }
    REQUIRE(writer.files().size() == 3);
  }
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir.path)) {
    names.push_back(e.path().filename().string());
    CHECK(std::filesystem::file_size(e.path()) <= max_bytes);
    // Only the SBC's user reads them.
    CHECK(std::filesystem::status(e.path()).permissions() ==
          (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  }
  std::sort(names.begin(), names.end());
  REQUIRE(names.size() == 3);
  // The newest three survive, and the last message is in the last file.
  const auto last = read_all(dir.path + "/" + names.back());
  REQUIRE_FALSE(last.empty());
  CHECK(last.back().bytes.find("Call-ID: 1099") != std::string::npos);
  CHECK(names.front() != "sbc-00000001.pcap");

  // A restart continues the numbering and keeps counting the old files.
  {
    PcapWriter writer({dir.path, "sbc", max_bytes, 3});
    REQUIRE(writer.files().size() == 3);
    REQUIRE(writer.write(message(Protocol::Udp, "192.0.2.7", "192.0.2.1", sip_message("BYE"))));
    CHECK(writer.files().size() == 3);
    CHECK(writer.files().back() > dir.path + "/" + names.back());
  }
  CHECK_THROWS(PcapWriter({dir.path + "/missing", "sbc", max_bytes, 3}));
}

TEST_CASE("TCP reassembly: out of order, retransmitted, overlapping and split segments",
          "[capture]") {
  TempDir dir;
  const std::string a = sip_message("INVITE", 300, 'a');
  const std::string b = sip_message("ACK");
  const std::string stream = a + b;
  const std::uint32_t isn = 0xfffffff0;  // sequence numbers wrap inside the stream
  const std::uint32_t start = isn + 1;
  // Cut the stream in three; the middle one straddles the boundary between the messages.
  const std::uint32_t cut1 = 100, cut2 = static_cast<std::uint32_t>(a.size()) + 10;
  const std::string path = dir.path + "/tcp.pcap";
  {
    PcapFile file(path);
    std::int64_t t = 1700000000000000;
    file.write(t++, segment(isn, "", kTcpSyn));
    file.write(t++, segment(start, stream.substr(0, cut1)));
    file.write(t++, segment(start + cut2, stream.substr(cut2)));  // early
    file.write(t++, segment(start, stream.substr(0, cut1)));      // retransmitted
    // Overlaps what we have by 20 bytes and brings the missing part.
    file.write(t++, segment(start + cut1 - 20, stream.substr(cut1 - 20, cut2 - cut1 + 20)));
    file.write(t++, segment(start + cut2, stream.substr(cut2)));  // retransmitted after all
    file.write(t++, segment(start + static_cast<std::uint32_t>(stream.size()), "", kTcpFin));
  }
  ReadStats stats;
  const auto read = read_all(path, &stats);
  REQUIRE(read.size() == 2);
  CHECK(read[0].bytes == a);
  CHECK(read[1].bytes == b);
  CHECK(read[0].protocol == Protocol::Tcp);
  CHECK(stats.tcp_out_of_order == 1);
  CHECK(stats.tcp_retransmitted == 3);
  CHECK(stats.tcp_incomplete == 0);
  CHECK(stats.tcp_gaps == 0);
}

TEST_CASE("TCP reassembly gives up on a stream with a gap and on broken framing", "[capture]") {
  TempDir dir;
  const std::string path = dir.path + "/gap.pcap";
  const std::string a = sip_message("OPTIONS");
  {
    PcapFile file(path);
    // Captured mid-connection (no SYN): the first data starts the stream.
    file.write(1, segment(1000, a));
    // A hole of 10 bytes that never fills, with data after it beyond the pending bound.
    std::uint32_t seq = 1000 + static_cast<std::uint32_t>(a.size()) + 10;
    for (int i = 0; i < 4; ++i) {
      const std::string chunk(40000, 'z');
      file.write(2 + i, segment(seq, chunk));
      seq += static_cast<std::uint32_t>(chunk.size());
    }
    // Another connection whose framing breaks (no Content-Length).
    PacketSpec spec;
    spec.protocol = Protocol::Tcp;
    spec.source = *parse_ip("192.0.2.9");
    spec.destination = *parse_ip("192.0.2.1");
    spec.source_port = 1234;
    spec.destination_port = 5060;
    spec.sequence = 5;
    spec.payload = "OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
    file.write(10, build_packet(spec));
    // And one that is not SIP at all.
    spec.source_port = 1235;
    spec.payload = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
    file.write(11, build_packet(spec));
    // A stream still inside a message at the end of the capture.
    spec.source_port = 1236;
    const std::string half = a.substr(0, 50);
    spec.payload = half;
    file.write(12, build_packet(spec));
  }
  std::vector<CapturedMessage> read;
  ReaderLimits limits;
  limits.max_pending_bytes_per_stream = 100000;
  const ReadResult r = read_capture_file(
      path, [&](const CapturedMessage& m) { read.push_back(m); }, limits);
  REQUIRE(r.ok);
  REQUIRE(read.size() == 1);
  CHECK(read[0].bytes == a);
  CHECK(r.stats.tcp_gaps == 1);
  CHECK(r.stats.tcp_framing_errors == 1);
  CHECK(r.stats.not_sip == 1);
  CHECK(r.stats.tcp_incomplete == 1);
}

TEST_CASE("the reader takes the link types tcpdump writes, and skips what it cannot use",
          "[capture]") {
  std::vector<CapturedMessage> read;
  PacketDecoder decoder([&](const CapturedMessage& m) { read.push_back(m); });
  const std::string msg = sip_message("OPTIONS");
  PacketSpec spec;
  spec.source = *parse_ip("192.0.2.7");
  spec.destination = *parse_ip("192.0.2.1");
  spec.source_port = 5070;
  spec.destination_port = 5060;
  spec.payload = msg;
  const std::string ip4 = build_packet(spec);
  spec.source = *parse_ip("2001:db8::7");
  spec.destination = *parse_ip("2001:db8::1");
  const std::string ip6 = build_packet(spec);
  auto bytes = [](const std::string& s) {
    return std::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  };
  auto feed = [&](int link, const std::string& frame) {
    decoder.packet(link, 1, bytes(frame), static_cast<std::uint32_t>(frame.size()));
  };
  const std::string mac(12, '\x02');
  feed(1 /* DLT_EN10MB */, mac + std::string("\x08\x00", 2) + ip4);
  feed(1, mac + std::string("\x81\x00\x00\x05\x86\xdd", 6) + ip6);  // VLAN tag
  feed(113 /* DLT_LINUX_SLL */, std::string(14, '\0') + std::string("\x08\x00", 2) + ip4);
  feed(276 /* DLT_LINUX_SLL2 */, std::string("\x86\xdd", 2) + std::string(18, '\0') + ip6);
  feed(0 /* DLT_NULL */, std::string("\x02\x00\x00\x00", 4) + ip4);
  feed(12 /* DLT_RAW */, ip6);
  REQUIRE(read.size() == 6);
  for (const auto& m : read) CHECK(m.bytes == msg);
  CHECK(read[1].source_ip == "2001:db8::7");

  // Skipped and counted: ARP, ICMP, an IPv4 fragment, an IPv6 fragment, a truncated packet.
  feed(1, mac + std::string("\x08\x06", 2) + std::string(28, '\0'));
  std::string icmp = ip4;
  icmp[9] = 1;
  feed(12, icmp);
  std::string fragment = ip4;
  fragment[6] = 0x20;  // more fragments
  feed(12, fragment);
  std::string fragment6 = ip6;
  fragment6[6] = 44;
  feed(12, fragment6);
  const std::string cut = ip4.substr(0, 60);
  decoder.packet(12, 1, bytes(cut), static_cast<std::uint32_t>(ip4.size()));
  CHECK(read.size() == 6);
  const ReadStats& s = decoder.stats();
  CHECK(s.non_ip == 1);
  CHECK(s.not_udp_tcp == 1);
  CHECK(s.fragments == 2);
  CHECK(s.truncated == 1);
  CHECK(PacketDecoder::supported_link_type(1));
  CHECK_FALSE(PacketDecoder::supported_link_type(105));
}

TEST_CASE("garbage never crashes the reader", "[capture]") {
  std::mt19937 rng(42);
  std::size_t messages = 0;
  auto sink = [&](const CapturedMessage&) { ++messages; };
  // Not a capture at all.
  CHECK_FALSE(read_capture_bytes("hello, this is not a pcap file at all.........", sink).ok);
  CHECK_FALSE(read_capture_bytes("", sink).ok);
  CHECK_FALSE(read_capture_file("/nonexistent/file.pcap", sink).ok);
  // A valid header with random records after it: read until libpcap gives up.
  TempDir dir;
  const std::string path = dir.path + "/valid.pcap";
  {
    PcapFile file(path);
    file.write(1, segment(1, sip_message("OPTIONS")));
  }
  std::ifstream in(path, std::ios::binary);
  const std::string valid((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (int round = 0; round < 200; ++round) {
    std::string bytes = valid;
    const std::size_t flips = 1 + rng() % 20;
    for (std::size_t i = 0; i < flips; ++i)
      bytes[24 + rng() % (bytes.size() - 24)] = static_cast<char>(rng());
    (void)read_capture_bytes(bytes, sink);
  }
  // Random packets on every link type straight into the decoder.
  PacketDecoder decoder(sink);
  for (int link : {0, 1, 12, 101, 108, 113, 228, 229, 276}) {
    for (int round = 0; round < 500; ++round) {
      std::string frame(rng() % 120, '\0');
      for (char& c : frame) c = static_cast<char>(rng());
      if (round % 3 == 0 && frame.size() > 20) frame[link == 12 ? 0 : 14] = 0x45;
      decoder.packet(link, round,
                     std::span<const std::uint8_t>(
                         reinterpret_cast<const std::uint8_t*>(frame.data()), frame.size()),
                     static_cast<std::uint32_t>(frame.size()));
    }
  }
  decoder.finish();
  CHECK(decoder.stats().packets == 9 * 500);
}

TEST_CASE("TCP reassembly keeps its memory bounded", "[capture]") {
  ReaderLimits limits;
  limits.max_buffered_bytes = 1000;
  limits.max_pending_segments_per_stream = 16;
  std::size_t messages = 0;
  PacketDecoder decoder([&](const CapturedMessage&) { ++messages; }, limits);
  auto feed = [&](const std::string& packet) {
    decoder.packet(12, 1,
                   std::span<const std::uint8_t>(
                       reinterpret_cast<const std::uint8_t*>(packet.data()), packet.size()),
                   static_cast<std::uint32_t>(packet.size()));
  };
  // Ten connections, each inside a message of 300 bytes: only about three fit at a time.
  const std::string head = sip_message("INVITE", 1000).substr(0, 300);
  PacketSpec spec;
  spec.protocol = Protocol::Tcp;
  spec.source = *parse_ip("192.0.2.7");
  spec.destination = *parse_ip("192.0.2.1");
  spec.destination_port = 5060;
  spec.payload = head;
  for (std::uint16_t port = 1000; port < 1010; ++port) {
    spec.source_port = port;
    feed(build_packet(spec));
  }
  CHECK(decoder.stats().tcp_evicted == 7);
  // Many tiny segments after a hole: the stream is given up, not grown without end.
  feed(segment(1, "O"));
  for (std::uint32_t i = 0; i < 40; ++i) feed(segment(10 + 2 * i, "x"));
  CHECK(decoder.stats().tcp_gaps == 1);
  CHECK(decoder.stats().tcp_out_of_order == 17);
  decoder.finish();
  CHECK(messages == 0);
  CHECK(decoder.stats().tcp_incomplete == 3);
}

TEST_CASE("capture files are new files of mode 0600, never written through a symlink",
          "[capture]") {
  namespace fs = std::filesystem;
  TempDir dir;
  const std::string victim = dir.path + "/victim";
  std::ofstream(victim) << "precious\n";
  // PcapFile: an existing name (file or symlink, dangling or not) is refused with EEXIST.
  fs::create_symlink(victim, dir.path + "/link.pcap");
  fs::create_symlink(dir.path + "/nowhere", dir.path + "/dangling.pcap");
  for (const char* name : {"/victim", "/link.pcap", "/dangling.pcap"}) {
    INFO(name);
    try {
      PcapFile file(dir.path + name);
      FAIL("opened");
    } catch (const std::system_error& e) {
      CHECK(e.code() == std::errc::file_exists);
    }
  }
  CHECK_FALSE(fs::exists(dir.path + "/nowhere"));
  {
    const mode_t old = umask(0);  // the mode is the file's from its creation, whatever the umask
    PcapFile file(dir.path + "/new.pcap");
    umask(old);
    CHECK((fs::status(dir.path + "/new.pcap").permissions() & fs::perms::all) ==
          (fs::perms::owner_read | fs::perms::owner_write));
  }

  // PcapWriter: a name planted after start is skipped and counted, the next one used.
  const std::string writer_dir = dir.path + "/w";
  fs::create_directory(writer_dir);
  PcapWriter writer({writer_dir, "sbc", 4096, 8});
  const auto m = message(Protocol::Udp, "192.0.2.7", "192.0.2.1", sip_message("OPTIONS", 1500));
  REQUIRE(writer.write(m));
  REQUIRE(writer.files().size() == 1);
  fs::create_symlink(victim, writer_dir + "/sbc-00000002.pcap");
  fs::create_symlink(dir.path + "/nowhere", writer_dir + "/sbc-00000003.pcap");
  for (int i = 0; i < 3; ++i) REQUIRE(writer.write(m));  // the second write needs a new file
  writer.flush();
  CHECK(writer.refused() == 2);
  CHECK(writer.last_refused() == writer_dir + "/sbc-00000003.pcap");
  CHECK(writer.files().back() == writer_dir + "/sbc-00000004.pcap");
  std::ifstream in(victim);
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(content == "precious\n");
  CHECK_FALSE(fs::exists(dir.path + "/nowhere"));
  CHECK(fs::is_symlink(writer_dir + "/sbc-00000002.pcap"));  // not ours: left alone
}
