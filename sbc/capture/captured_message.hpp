#pragma once
// One SIP message as it crossed the edge: when, over what, between which addresses, and its
// bytes. The unit the writer writes, the reader reads and the replay replays.

#include <cstdint>
#include <string>

#include "sbc/common/flow.hpp"

namespace sbc::capture {

struct CapturedMessage {
  std::int64_t time_us = 0;  // microseconds since the Unix epoch
  sbc::Protocol protocol = sbc::Protocol::Udp;
  std::string source_ip;  // textual IPv4 or IPv6
  std::uint16_t source_port = 0;
  std::string destination_ip;
  std::uint16_t destination_port = 0;
  std::string bytes;
  // False for a UDP payload that does not start like a SIP message (the reader hands those over
  // only when asked: junk sent to a SIP port is what the edge rejects first).
  bool looks_like_sip = true;
};

}  // namespace sbc::capture
