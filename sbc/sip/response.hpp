#pragma once
// Builds the response a UAS or proxy sends to a request (RFC 3261 8.2.6): the status line, the
// request's Via, From, To, Call-ID and CSeq copied, a To tag added, the client's received/rport
// filled in (RFC 3261 18.2.1, RFC 3581), extra headers, Content-Length: 0. Pure and allocation
// free: it writes into the caller's buffer.

#include <cstdint>
#include <span>
#include <string_view>

#include "sbc/sip/message.hpp"

namespace sbc::sip {

struct ResponseSpec {
  std::uint16_t status = 500;
  std::string_view reason;
  // Added to To when it has no tag (every response but 100). Must be a token.
  std::string_view to_tag;
  // Where the request came from: `received` is added to the top Via when its sent-by differs,
  // and an empty `rport` parameter gets this port.
  std::string_view source_ip;
  std::uint16_t source_port = 0;
  // Whole header lines without CRLF, e.g. "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS".
  std::span<const std::string_view> extra_headers;
};

// Whether `request` carries what a response must copy (a Via, and exactly one From, To, Call-ID
// and CSeq line). Without them no client could match an answer: such requests are dropped.
bool can_answer(const Message& request) noexcept;

// The top Via value as a proxy forwards it and as answers carry it: `received` added when the
// sent-by differs from the source, an empty `rport` given the source port. Returns the size
// written into `out`, 0 if it does not fit.
std::size_t write_via_with_source(const Via& via, std::string_view source_ip,
                                  std::uint16_t source_port, std::span<char> out) noexcept;

// Writes the response; returns its size, or 0 if it does not fit or can_answer() is false.
std::size_t build_response(const Message& request, const ResponseSpec& spec,
                           std::span<char> out) noexcept;

// A deterministic To tag for a stateless answer: retransmissions of a request get the same tag.
// Writes 16 hex characters into `out`.
std::string_view stateless_to_tag(const Message& request, std::span<char, 16> out) noexcept;

}  // namespace sbc::sip
