#pragma once
// The relay's seam toward a media relay (rtpengine, sbc/media/ng_client.hpp, adapted by the
// daemon): the relay asks it to anchor an SDP offer or answer and waits for the rewritten body
// before the message goes on; it deletes the session when the call ends. Pure interface, so the
// relay's media paths are unit-tested with a fake.

#include <functional>
#include <string_view>

namespace sbc::proxy {

enum class MediaOp : unsigned char { Offer, Answer, Delete };

struct MediaCall {
  // The media relay's name of the session: one per leg (the inside Call-ID, and the side the
  // leg's INVITE came from: a call the core sends back out is two legs with one Call-ID).
  std::string_view session;
  std::string_view from_tag, to_tag;  // of the request carrying the offer (or answered)
  std::string_view sdp;               // Offer, Answer
  bool from_outside = true;           // the SDP's sender is outside (outside -> inside)
  // The address the SDP's sender sent its SIP from, when it is outside: its media goes there
  // (a phone behind NAT names its private address), the ports as its SDP says, and rtpengine
  // latches on to where its RTP comes from.
  std::string_view received_from;
  // The profile the other side gets ("RTP/AVP": SRTP bridged to RTP; "RTP/SAVP": RTP to SDES-SRTP);
  // empty: the sender's own.
  std::string_view transport_protocol;
};

struct MediaResult {
  bool ok = false;
  std::string_view sdp;    // the rewritten SDP (Offer, Answer); valid during the callback
  std::string_view error;  // why not, for the log
};
using MediaDone = std::function<void(const MediaResult&)>;

class MediaPort {
 public:
  virtual ~MediaPort() = default;
  // `done` runs later on the relay's thread, never within this call; exactly once (a deadline
  // bounds it).
  virtual void request(MediaOp op, const MediaCall& call, MediaDone done) noexcept = 0;
};

}  // namespace sbc::proxy
