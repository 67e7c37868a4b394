#pragma once
// Cuts SIP messages out of a TCP or TLS byte stream (RFC 3261 18.3): leading CRLFs are skipped,
// a CRLFCRLF between messages is an RFC 5626 keep-alive ping (answered with CRLF), and a message
// ends Content-Length octets after the empty line. Pure: it looks at buffered bytes and says
// what they hold; the connection owns the buffer.

#include <cstdint>
#include <string_view>

namespace sbc::transport {

class StreamFramer {
 public:
  enum class Kind : std::uint8_t {
    NeedMore,   // no complete unit yet: read more
    Skip,       // `length` stray CRLF octets before a message: discard them
    KeepAlive,  // a CRLFCRLF ping of `length` octets: answer CRLF
    Message,    // a complete message of `length` octets
    Error,      // unrecoverable framing; `reason` says why; the connection must close
  };
  struct Result {
    Kind kind = Kind::NeedMore;
    std::size_t length = 0;
    // For Error: the status to answer with if the headers allow an answer (400 or 513).
    std::uint16_t status = 0;
    std::string_view reason;
    // For Error: the header section, when it was complete, so the caller can build an answer.
    std::size_t header_length = 0;
  };

  explicit StreamFramer(std::uint32_t max_message_bytes) noexcept : max_(max_message_bytes) {}

  Result next(std::string_view buffered) const noexcept;

 private:
  std::uint32_t max_;
};

}  // namespace sbc::transport
