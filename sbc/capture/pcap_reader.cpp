#include "sbc/capture/pcap_reader.hpp"

#include <pcap/pcap.h>

#include <cstdio>
#include <cstring>

#include "sbc/capture/packet.hpp"
#include "sbc/transport/stream_framer.hpp"

#ifndef DLT_LINUX_SLL2
#define DLT_LINUX_SLL2 276
#endif
#ifndef DLT_IPV4
#define DLT_IPV4 228
#endif
#ifndef DLT_IPV6
#define DLT_IPV6 229
#endif

namespace sbc::capture {
namespace {

std::uint16_t get16(std::span<const std::uint8_t> d, std::size_t at) {
  return static_cast<std::uint16_t>((d[at] << 8) | d[at + 1]);
}
std::uint32_t get32(std::span<const std::uint8_t> d, std::size_t at) {
  return (static_cast<std::uint32_t>(get16(d, at)) << 16) | get16(d, at + 2);
}

std::string_view as_text(std::span<const std::uint8_t> d) {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

// A SIP message starts with a request line ending in SIP/2.0 or a status line starting with it.
// Anything else on the wire (DNS, TLS records, HTTP) is not replayed as SIP.
bool looks_like_sip(std::string_view bytes) {
  while (bytes.starts_with("\r\n")) bytes.remove_prefix(2);
  const std::string_view line = bytes.substr(0, std::min<std::size_t>(bytes.find('\n'), 2048));
  return line.starts_with("SIP/2.0 ") || line.find(" SIP/2.0") != std::string_view::npos;
}

bool only_crlf(std::string_view bytes) {
  return bytes.find_first_not_of("\r\n") == std::string_view::npos;
}

}  // namespace

struct PacketDecoder::Stream {
  bool synced = false;
  bool ignored = false;  // given up (gap, framing, not SIP): its bytes are skipped
  bool finished = false;
  std::uint32_t next = 0;
  std::string data;
  std::map<std::uint32_t, std::string> pending;  // out-of-order segments by sequence number
  std::size_t pending_bytes = 0;
  std::uint64_t last_used = 0;
  std::size_t buffered() const noexcept { return data.size() + pending_bytes; }
};

PacketDecoder::PacketDecoder(MessageSink sink, ReaderLimits limits)
    : sink_(std::move(sink)), limits_(limits) {}

PacketDecoder::~PacketDecoder() = default;

bool PacketDecoder::supported_link_type(int link_type) noexcept {
  switch (link_type) {
    case DLT_EN10MB:
    case DLT_LINUX_SLL:
    case DLT_LINUX_SLL2:
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
    case DLT_NULL:
    case DLT_LOOP:
      return true;
    default:
      return false;
  }
}

void PacketDecoder::packet(int link_type, std::int64_t time_us, std::span<const std::uint8_t> data,
                           std::uint32_t original_length) {
  ++stats_.packets;
  ++clock_;
  const bool truncated = original_length > data.size();
  std::size_t offset = 0;
  switch (link_type) {
    case DLT_EN10MB: {
      if (data.size() < 14) return void(++stats_.malformed);
      std::uint16_t type = get16(data, 12);
      offset = 14;
      // 802.1Q / 802.1ad tags
      while (type == 0x8100 || type == 0x88a8 || type == 0x9100) {
        if (data.size() < offset + 4) return void(++stats_.malformed);
        type = get16(data, offset + 2);
        offset += 4;
      }
      if (type != 0x0800 && type != 0x86dd) return void(++stats_.non_ip);
      break;
    }
    case DLT_LINUX_SLL: {
      if (data.size() < 16) return void(++stats_.malformed);
      const std::uint16_t type = get16(data, 14);
      if (type != 0x0800 && type != 0x86dd) return void(++stats_.non_ip);
      offset = 16;
      break;
    }
    case DLT_LINUX_SLL2: {
      if (data.size() < 20) return void(++stats_.malformed);
      const std::uint16_t type = get16(data, 0);
      if (type != 0x0800 && type != 0x86dd) return void(++stats_.non_ip);
      offset = 20;
      break;
    }
    case DLT_NULL:
    case DLT_LOOP:
      // The address family's byte order depends on the capturing host: the IP version nibble
      // says more reliably what follows.
      if (data.size() < 4) return void(++stats_.malformed);
      offset = 4;
      break;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6:
      break;
    default:
      return void(++stats_.non_ip);
  }
  ip(time_us, data.subspan(offset), truncated);
}

void PacketDecoder::ip(std::int64_t time_us, std::span<const std::uint8_t> d, bool truncated) {
  if (d.empty()) return void(++stats_.malformed);
  CapturedMessage meta;
  meta.time_us = time_us;
  IpAddress source, destination;
  std::uint8_t protocol = 0;
  std::uint8_t traffic_class = 0;
  std::span<const std::uint8_t> payload;
  const unsigned version = d[0] >> 4;
  if (version == 4) {
    if (d.size() < 20) return void(++(truncated ? stats_.truncated : stats_.malformed));
    const std::size_t header = static_cast<std::size_t>(d[0] & 0x0f) * 4;
    const std::size_t total = get16(d, 2);
    if (header < 20 || total < header) return void(++stats_.malformed);
    if (total > d.size()) return void(++(truncated ? stats_.truncated : stats_.malformed));
    const std::uint16_t fragment = get16(d, 6);
    if ((fragment & 0x2000) != 0 || (fragment & 0x1fff) != 0) return void(++stats_.fragments);
    traffic_class = d[1];
    protocol = d[9];
    std::memcpy(source.bytes.data(), d.data() + 12, 4);
    std::memcpy(destination.bytes.data(), d.data() + 16, 4);
    payload = d.subspan(header, total - header);
  } else if (version == 6) {
    if (d.size() < 40) return void(++(truncated ? stats_.truncated : stats_.malformed));
    const std::size_t length = get16(d, 4);
    if (length == 0) return void(++stats_.malformed);  // jumbogram or broken
    if (40 + length > d.size()) return void(++(truncated ? stats_.truncated : stats_.malformed));
    traffic_class = static_cast<std::uint8_t>(((d[0] & 0x0f) << 4) | (d[1] >> 4));
    source.v6 = destination.v6 = true;
    std::memcpy(source.bytes.data(), d.data() + 8, 16);
    std::memcpy(destination.bytes.data(), d.data() + 24, 16);
    payload = d.subspan(40, length);
    protocol = d[6];
    // Extension headers before the transport header.
    for (;;) {
      if (protocol == 44) return void(++stats_.fragments);
      if (protocol != 0 && protocol != 43 && protocol != 60 && protocol != 51) break;
      if (payload.size() < 8) return void(++stats_.malformed);
      const std::size_t size = protocol == 51 ? (static_cast<std::size_t>(payload[1]) + 2) * 4
                                              : (static_cast<std::size_t>(payload[1]) + 1) * 8;
      if (size > payload.size()) return void(++stats_.malformed);
      protocol = payload[0];
      payload = payload.subspan(size);
    }
  } else {
    return void(++stats_.non_ip);
  }
  meta.source_ip = ip_text(source);
  meta.destination_ip = ip_text(destination);
  if (protocol == 17) {
    meta.protocol = sbc::Protocol::Udp;
    return udp(meta, payload);
  }
  if (protocol == 6) {
    meta.protocol = (traffic_class >> 2) == kTlsDscp ? sbc::Protocol::Tls : sbc::Protocol::Tcp;
    return tcp(meta, payload);
  }
  ++stats_.not_udp_tcp;
}

void PacketDecoder::udp(const CapturedMessage& meta, std::span<const std::uint8_t> d) {
  if (d.size() < 8) return void(++stats_.malformed);
  const std::size_t length = get16(d, 4);
  if (length < 8 || length > d.size()) return void(++stats_.malformed);
  const std::string_view payload = as_text(d.subspan(8, length - 8));
  if (payload.empty() || only_crlf(payload)) return void(++stats_.keepalives);
  const bool sip = looks_like_sip(payload);
  if (!sip) {
    ++stats_.not_sip;
    if (!limits_.keep_non_sip_udp) return;
  }
  CapturedMessage m = meta;
  m.looks_like_sip = sip;
  m.source_port = get16(d, 0);
  m.destination_port = get16(d, 2);
  m.bytes.assign(payload);
  if (sip) ++stats_.messages;
  sink_(m);
}

void PacketDecoder::tcp(CapturedMessage& meta, std::span<const std::uint8_t> d) {
  if (d.size() < 20) return void(++stats_.malformed);
  const std::size_t header = static_cast<std::size_t>(d[12] >> 4) * 4;
  if (header < 20 || header > d.size()) return void(++stats_.malformed);
  meta.source_port = get16(d, 0);
  meta.destination_port = get16(d, 2);
  std::uint32_t sequence = get32(d, 4);
  const std::uint8_t flags = d[13];
  std::span<const std::uint8_t> payload = d.subspan(header);

  std::string key = meta.source_ip + '|' + std::to_string(meta.source_port) + '|' +
                    meta.destination_ip + '|' + std::to_string(meta.destination_port);
  auto it = streams_.find(key);
  if (it == streams_.end()) {
    if (payload.empty() && (flags & kTcpSyn) == 0) return;  // a bare ACK/FIN of an unknown stream
    if (streams_.size() >= limits_.max_streams) {
      auto oldest = streams_.begin();
      for (auto s = streams_.begin(); s != streams_.end(); ++s)
        if (s->second->last_used < oldest->second->last_used) oldest = s;
      if (oldest->second->buffered() != 0) ++stats_.tcp_evicted;
      buffered_ -= oldest->second->buffered();
      streams_.erase(oldest);
    }
    it = streams_.emplace(std::move(key), std::make_unique<Stream>()).first;
  }
  Stream& s = *it->second;
  s.last_used = clock_;
  buffered_ -= s.buffered();  // added back below with what the segment changed
  if ((flags & kTcpRst) != 0) {
    if (!s.data.empty() && !s.ignored) ++stats_.tcp_incomplete;
    streams_.erase(it);
    return;
  }
  if ((flags & kTcpSyn) != 0) {
    // A new connection on this 4-tuple: start over.
    s = Stream{};
    s.last_used = clock_;
    s.synced = true;
    s.next = sequence + 1;
    ++sequence;
  }
  if ((flags & kTcpFin) != 0) s.finished = true;
  if (!s.synced) {
    // Captured mid-connection: start at the first data seen.
    s.synced = true;
    s.next = sequence;
  }
  if (!payload.empty() && !s.ignored) {
    const auto offset = static_cast<std::int32_t>(sequence - s.next);
    const std::int64_t end =
        static_cast<std::int64_t>(offset) + static_cast<std::int64_t>(payload.size());
    if (end <= 0) {
      ++stats_.tcp_retransmitted;
    } else if (offset > 0) {
      ++stats_.tcp_out_of_order;
      std::string& slot = s.pending[sequence];
      if (slot.size() < payload.size()) {
        s.pending_bytes += payload.size() - slot.size();
        slot.assign(as_text(payload));
      }
      if (s.pending_bytes > limits_.max_pending_bytes_per_stream ||
          s.pending.size() > limits_.max_pending_segments_per_stream) {
        // The missing bytes are not coming (not captured): the message they belong to is lost,
        // and where the next one starts is unknown.
        ++stats_.tcp_gaps;
        s.ignored = true;
      }
    } else {
      if (offset < 0) {
        ++stats_.tcp_retransmitted;  // overlaps what we have: keep only the new part
        payload = payload.subspan(static_cast<std::size_t>(-offset));
      }
      s.data.append(as_text(payload));
      s.next += static_cast<std::uint32_t>(payload.size());
      // Segments that were waiting for this one.
      for (auto p = s.pending.begin(); p != s.pending.end();) {
        const auto o = static_cast<std::int32_t>(p->first - s.next);
        const std::int64_t e =
            static_cast<std::int64_t>(o) + static_cast<std::int64_t>(p->second.size());
        if (o > 0) {
          ++p;
          continue;
        }
        if (e > 0) {
          s.data.append(std::string_view(p->second).substr(static_cast<std::size_t>(-o)));
          s.next += static_cast<std::uint32_t>(e);
        }
        s.pending_bytes -= p->second.size();
        s.pending.erase(p);
        p = s.pending.begin();  // what just arrived may make an earlier-keyed entry fit
      }
      deliver(s, meta);
    }
  }
  if (s.ignored) {
    s.data.clear();
    s.pending.clear();
    s.pending_bytes = 0;
  }
  if (s.finished && s.pending.empty()) {
    if (!s.data.empty() && !s.ignored && !only_crlf(s.data)) ++stats_.tcp_incomplete;
    streams_.erase(it);
    return;
  }
  buffered_ += s.buffered();
  if (buffered_ > limits_.max_buffered_bytes) evict_until_within_budget(&s);
}

void PacketDecoder::evict_until_within_budget(const Stream* keep) {
  while (buffered_ > limits_.max_buffered_bytes && streams_.size() > 1) {
    auto oldest = streams_.end();
    for (auto s = streams_.begin(); s != streams_.end(); ++s) {
      if (s->second.get() == keep || s->second->buffered() == 0) continue;
      if (oldest == streams_.end() || s->second->last_used < oldest->second->last_used) oldest = s;
    }
    if (oldest == streams_.end()) return;
    ++stats_.tcp_evicted;
    buffered_ -= oldest->second->buffered();
    streams_.erase(oldest);
  }
}

void PacketDecoder::deliver(Stream& s, const CapturedMessage& meta) {
  const transport::StreamFramer framer(limits_.max_message_bytes);
  std::size_t used = 0;
  while (!s.ignored) {
    const std::string_view rest = std::string_view(s.data).substr(used);
    const transport::StreamFramer::Result r = framer.next(rest);
    switch (r.kind) {
      case transport::StreamFramer::Kind::NeedMore:
        s.data.erase(0, used);
        return;
      case transport::StreamFramer::Kind::Skip:
        used += r.length;
        break;
      case transport::StreamFramer::Kind::KeepAlive:
        ++stats_.keepalives;
        used += r.length;
        break;
      case transport::StreamFramer::Kind::Message: {
        const std::string_view bytes = rest.substr(0, r.length);
        used += r.length;
        if (!looks_like_sip(bytes)) {
          ++stats_.not_sip;
          s.ignored = true;
          break;
        }
        CapturedMessage m = meta;
        m.bytes.assign(bytes);
        ++stats_.messages;
        sink_(m);
        break;
      }
      case transport::StreamFramer::Kind::Error:
        if (!looks_like_sip(rest))
          ++stats_.not_sip;
        else
          ++stats_.tcp_framing_errors;
        s.ignored = true;
        break;
    }
  }
  s.data.clear();
}

void PacketDecoder::finish() {
  for (const auto& [key, s] : streams_)
    if (!s->ignored && (!s->data.empty() || s->pending_bytes != 0) && !only_crlf(s->data))
      ++stats_.tcp_incomplete;
  streams_.clear();
  buffered_ = 0;
}

namespace {

ReadResult read_from(pcap_t* pcap, const MessageSink& sink, ReaderLimits limits) {
  ReadResult result;
  result.link_type = pcap_datalink(pcap);
  if (!PacketDecoder::supported_link_type(result.link_type)) {
    const char* name = pcap_datalink_val_to_name(result.link_type);
    result.error = std::string("unsupported link type ") + (name != nullptr ? name : "?") + " (" +
                   std::to_string(result.link_type) + ")";
    return result;
  }
  // libpcap hands nanosecond files over in microseconds (its default precision).
  PacketDecoder decoder(sink, limits);
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  int status = 0;
  while ((status = pcap_next_ex(pcap, &header, &data)) == 1) {
    const std::int64_t time_us =
        static_cast<std::int64_t>(header->ts.tv_sec) * 1000000 + header->ts.tv_usec;
    decoder.packet(result.link_type, time_us, {data, header->caplen}, header->len);
  }
  decoder.finish();
  result.stats = decoder.stats();
  if (status == PCAP_ERROR) {
    // A file cut short (a capture still being written, a crash) keeps what was read.
    result.error = std::string("read error after ") + std::to_string(result.stats.packets) +
                   " packets: " + pcap_geterr(pcap);
  }
  result.ok = true;
  return result;
}

}  // namespace

ReadResult read_capture_file(const std::string& path, const MessageSink& sink,
                             ReaderLimits limits) {
  char error[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap = pcap_open_offline(path.c_str(), error);
  if (pcap == nullptr) {
    ReadResult result;
    result.error = error;
    return result;
  }
  ReadResult result = read_from(pcap, sink, limits);
  pcap_close(pcap);
  return result;
}

ReadResult read_capture_bytes(std::string_view bytes, const MessageSink& sink,
                              ReaderLimits limits) {
  ReadResult result;
  if (bytes.empty()) {
    result.error = "empty input";
    return result;
  }
  FILE* file = fmemopen(const_cast<char*>(bytes.data()), bytes.size(), "rb");
  if (file == nullptr) {
    result.error = "cannot open the bytes as a file";
    return result;
  }
  char error[PCAP_ERRBUF_SIZE] = {};
  pcap_t* pcap = pcap_fopen_offline(file, error);  // owns `file` from here on
  if (pcap == nullptr) {
    std::fclose(file);
    result.error = error;
    return result;
  }
  result = read_from(pcap, sink, limits);
  pcap_close(pcap);
  return result;
}

}  // namespace sbc::capture
