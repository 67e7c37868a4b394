#pragma once
// The SDP reader (RFC 8866, which obsoletes RFC 4566): a body is checked line by line before the
// relay hands it to rtpengine or the core, and refused with a reason naming the line and the
// defect ("m= line 7: port out of range") when it breaks the grammar or a bound. The result holds
// views into the body (which must outlive it) in fixed-capacity arrays: parsing never allocates.
//
// Bounds (each exceeded bound is an error that names it):
//   body size           SdpLimits::max_body (default 16 KiB)
//   m= sections         kMaxMedia (16)
//   a= lines            kMaxSectionAttributes per section (64), kMaxAttributes in all (256)
//   formats of an m=    kMaxFormats (32)
//
// Stricter than the grammar on purpose, since the SBC must understand whatever it passes on:
// nettype IN only; one c= per media section; no control characters but the line ends (CRLF, or a
// bare LF as RFC 8866 5 allows), no TAB, text in UTF-8; a= lines the SBC reads (rtpmap, crypto,
// rtcp, candidate, the direction attributes) are checked at parse time, so the accessors below
// only read what has been checked. The last line may lack its terminator (some UAs omit it).

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace sbc::media {

inline constexpr std::size_t kMaxMedia = 16;
inline constexpr std::size_t kMaxSectionAttributes = 64;
inline constexpr std::size_t kMaxAttributes = 256;
inline constexpr std::size_t kMaxFormats = 32;

struct SdpLimits {
  std::size_t max_body = std::size_t{16} * 1024;
};

// Why a body was refused. `what` is a static phrase; `type` is the letter of the offending line
// (0 when the defect is the body's, e.g. its size or a missing line), `line` counts from 1 (0: no
// line), `limit` the bound that was exceeded (0: none).
struct SdpError {
  std::string_view what;
  char type = 0;
  unsigned line = 0;
  std::size_t limit = 0;
  // "m= line 7: port out of range", "a= line 9: too many a= lines in a section (limit 64)",
  // "t= missing": the text after "SDP: " in a SIP reason phrase.
  std::string phrase() const;
};

enum class AddrType : std::uint8_t { IP4, IP6 };

// c= (and the address part of o= and a=rtcp). `address` is an IPv4 or IPv6 literal or a name.
struct SdpConnection {
  AddrType addrtype = AddrType::IP4;
  std::string_view address;
  std::optional<std::uint8_t> ttl;  // IPv4 multicast only
  std::uint32_t count = 1;          // multicast "/<number of addresses>"
  unsigned line = 0;
};

struct SdpOrigin {
  std::string_view username, session_id, session_version;
  AddrType addrtype = AddrType::IP4;
  std::string_view address;
  unsigned line = 0;
};

struct SdpAttribute {
  std::string_view name;
  std::string_view value;  // empty for a property attribute ("a=sendonly")
  bool has_value = false;
  unsigned line = 0;
};

// Where a section's attributes lie in Sdp::attribute_pool (they are contiguous, in body order).
struct AttributeRange {
  std::uint16_t first = 0, count = 0;
};

struct SdpMedia {
  std::string_view media;  // "audio", "video", "application", ...
  std::uint16_t port = 0;
  std::uint32_t port_count = 1;
  std::string_view proto;  // "RTP/AVP", "UDP/TLS/RTP/SAVPF", ...
  std::array<std::string_view, kMaxFormats> formats{};
  std::size_t format_count = 0;
  std::optional<SdpConnection> connection;  // its own c=
  AttributeRange attributes;
  unsigned line = 0;  // of its m=
  std::span<const std::string_view> format_list() const noexcept {
    return {formats.data(), format_count};
  }
  bool rtp() const noexcept;  // an RTP profile (RTP/AVP, RTP/SAVPF, UDP/TLS/RTP/SAVP, ...)
};

struct Sdp {
  SdpOrigin origin;
  std::string_view session_name;
  std::optional<SdpConnection> connection;  // session-level c=
  AttributeRange session_attributes;
  std::array<SdpMedia, kMaxMedia> media{};
  std::size_t media_count = 0;
  std::array<SdpAttribute, kMaxAttributes> attribute_pool{};
  std::size_t attribute_count = 0;

  std::span<const SdpMedia> media_list() const noexcept { return {media.data(), media_count}; }
  std::span<const SdpAttribute> attributes(AttributeRange range) const noexcept {
    return {attribute_pool.data() + range.first, range.count};
  }
  std::span<const SdpAttribute> attributes() const noexcept {
    return attributes(session_attributes);
  }
  std::span<const SdpAttribute> attributes(const SdpMedia& m) const noexcept {
    return attributes(m.attributes);
  }
  // The media's c=, or the session's (nothing only for a rejected stream, port 0).
  const SdpConnection* connection_of(const SdpMedia& m) const noexcept {
    if (m.connection) return &*m.connection;
    return connection ? &*connection : nullptr;
  }
};

// Parses `body` into `out`; nothing when it is a valid SDP within the bounds, else the defect.
// `out` views `body`. On error `out` holds whatever was read so far and must not be used.
std::optional<SdpError> parse_sdp(std::string_view body, Sdp& out,
                                  const SdpLimits& limits = {}) noexcept;

// a=rtpmap:<payload type> <encoding name>/<clock rate>[/<encoding parameters>]
struct Rtpmap {
  std::uint8_t payload_type = 0;
  std::string_view encoding;
  std::uint32_t clock_rate = 0;
  std::string_view parameters;  // e.g. channels; empty when absent
};
std::optional<Rtpmap> parse_rtpmap(std::string_view value) noexcept;
// The rtpmap of payload type `format` in media `m` (nothing for a static type without one).
std::optional<Rtpmap> rtpmap(const Sdp& sdp, const SdpMedia& m, std::string_view format) noexcept;

// a=crypto:<tag> <crypto-suite> <key-params> [<session-params>] (RFC 4568 SDES).
struct Crypto {
  std::uint32_t tag = 0;
  std::string_view suite;           // "AES_CM_128_HMAC_SHA1_80", ...
  std::string_view key_params;      // "inline:<key||salt>[|lifetime][|MKI:length]" (;-separated)
  std::string_view session_params;  // the rest, empty when absent
};
std::optional<Crypto> parse_crypto(std::string_view value) noexcept;

enum class Direction : std::uint8_t { SendRecv, SendOnly, RecvOnly, Inactive };
// The media's direction attribute, else the session's, else sendrecv (RFC 8866 6.7). A hold
// written the RFC 2543 way (c= 0.0.0.0) is for the caller to see in the connection address.
Direction direction(const Sdp& sdp, const SdpMedia& m) noexcept;
std::string_view to_string(Direction direction) noexcept;

// a=rtcp:<port> [IN <addrtype> <address>] (RFC 3605).
struct Rtcp {
  std::uint16_t port = 0;
  std::optional<AddrType> addrtype;
  std::string_view address;  // empty when absent
};
std::optional<Rtcp> parse_rtcp(std::string_view value) noexcept;
std::optional<Rtcp> rtcp(const Sdp& sdp, const SdpMedia& m) noexcept;

// Every address the SDP names, for the check that no inside address leaves the SBC: the o=
// address, the session and media c= addresses, a=rtcp addresses and a=candidate addresses (the
// connection address and raddr of ICE candidates, RFC 8839), in body order.
struct SdpAddress {
  std::string_view address;
  std::string_view where;  // "o=", "c=", "a=rtcp", "a=candidate", "a=candidate raddr"
  unsigned line = 0;
};
// Calls visit(const SdpAddress&) for each address.
template <class Visit>
void for_each_address(const Sdp& sdp, Visit&& visit);

// The addresses of an ICE candidate's value (connection address, then raddr when present).
struct CandidateAddresses {
  std::string_view address, related;
};
std::optional<CandidateAddresses> parse_candidate(std::string_view value) noexcept;

template <class Visit>
void for_each_address(const Sdp& sdp, Visit&& visit) {
  visit(SdpAddress{sdp.origin.address, "o=", sdp.origin.line});
  const auto section = [&](std::span<const SdpAttribute> attributes) {
    for (const SdpAttribute& a : attributes) {
      if (a.name == "rtcp") {
        if (const auto r = parse_rtcp(a.value); r && !r->address.empty())
          visit(SdpAddress{r->address, "a=rtcp", a.line});
      } else if (a.name == "candidate") {
        if (const auto c = parse_candidate(a.value)) {
          visit(SdpAddress{c->address, "a=candidate", a.line});
          if (!c->related.empty()) visit(SdpAddress{c->related, "a=candidate raddr", a.line});
        }
      }
    }
  };
  if (sdp.connection) visit(SdpAddress{sdp.connection->address, "c=", sdp.connection->line});
  section(sdp.attributes());
  for (const SdpMedia& m : sdp.media_list()) {
    if (m.connection) visit(SdpAddress{m.connection->address, "c=", m.connection->line});
    section(sdp.attributes(m));
  }
}

}  // namespace sbc::media
