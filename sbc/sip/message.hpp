#pragma once
// A SIP message parsed in place over the bytes it arrived in (RFC 3261 section 7 and 25).
//
// Message::parse() frames, parses and validates one message and returns the verdict an RFC 3261
// proxy would reach. It never allocates: the header table is a fixed array inside the Message,
// and every field is a view into the caller's buffer, which must outlive the Message. A Message
// is large (a few KiB) and meant to be reused, one per worker, not created per packet.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "sbc/sip/fields.hpp"
#include "sbc/sip/header_id.hpp"
#include "sbc/sip/uri.hpp"
#include "sbc/sip/verdict.hpp"

namespace sbc::sip {

// Upper bound for Limits::max_headers: the size of the in-place header table.
inline constexpr std::size_t kHeaderCapacity = 256;

struct Limits {
  std::uint32_t max_message_bytes = 65535;  // 513 above this
  std::uint32_t max_headers = 128;          // header lines (a folded line counts once)
  std::uint32_t max_vias = 70;              // Via values, all Via lines together
  std::uint32_t max_line_bytes = 8192;      // one header line including its folds
  std::uint32_t max_body_bytes = 65535;
};

enum class Framing : std::uint8_t {
  // One UDP datagram: Content-Length is optional (the body is the rest of the datagram when it is
  // absent), octets after the announced body are discarded (RFC 3261 18.3).
  Datagram,
  // Already cut out of a TCP/TLS stream: Content-Length is mandatory and must match.
  Stream,
};

enum class Method : std::uint8_t {
  Other,
  Invite,
  Ack,
  Bye,
  Cancel,
  Options,
  Register,
  Prack,
  Subscribe,
  Notify,
  Publish,
  Info,
  Refer,
  Message,
  Update,
};
Method method_from_name(std::string_view name) noexcept;

struct HeaderField {
  HeaderId id = HeaderId::Other;
  std::string_view name;   // as written
  std::string_view value;  // without surrounding white space; may contain folds
  std::string_view line;   // the whole field: name to the CRLF that ends it, included
};

class Message {
 public:
  // Options for the checks that depend on this element's role (a proxy).
  struct ProxyOptions {
    // Option tags this proxy implements; any other in Proxy-Require gets 420.
    std::span<const std::string_view> supported_proxy_require;
  };

  Verdict parse(std::string_view bytes, Framing framing, const Limits& limits) noexcept;
  // The proxy-role checks that come after a message is known to be valid: unsupported URI
  // scheme (416), Max-Forwards exhausted (483), unsupported Proxy-Require (420).
  Verdict check_proxy_rules(const ProxyOptions& options) const noexcept;

  // The whole message as framed (start line, headers, body): trailing octets of a datagram are
  // not part of it.
  std::string_view bytes() const noexcept { return bytes_; }
  std::string_view start_line() const noexcept { return start_line_; }  // without CRLF
  bool is_request() const noexcept { return is_request_; }

  // Requests
  std::string_view method_name() const noexcept { return method_name_; }
  Method method() const noexcept { return method_; }
  const Uri& request_uri() const noexcept { return request_uri_; }

  // Responses
  std::uint16_t status_code() const noexcept { return status_code_; }
  std::string_view reason_phrase() const noexcept { return reason_phrase_; }

  std::span<const HeaderField> headers() const noexcept { return {headers_.data(), header_count_}; }
  // First header line with this id, or nullptr.
  const HeaderField* find(HeaderId id) const noexcept;
  // First header line with this name (long or compact form; any case for unknown names).
  const HeaderField* find(std::string_view name) const noexcept;
  std::size_t count(HeaderId id) const noexcept { return counts_[static_cast<std::size_t>(id)]; }
  std::string_view headers_end() const noexcept { return headers_end_; }  // the empty line
  std::string_view body() const noexcept { return body_; }

  // Typed access. Valid only after parse() returned a valid verdict.
  const NameAddr& from() const noexcept { return from_; }
  const NameAddr& to() const noexcept { return to_; }
  std::string_view call_id() const noexcept { return call_id_; }
  const CSeq& cseq() const noexcept { return cseq_; }
  // -1 when absent (allowed in responses only).
  int max_forwards() const noexcept { return max_forwards_; }
  // -1 when absent (allowed over datagrams only).
  long content_length() const noexcept { return content_length_; }
  std::size_t via_count() const noexcept { return via_count_; }
  const Via& top_via() const noexcept { return top_via_; }

  // Iterates over the values of a comma-separated header across all its lines: Via, Contact,
  // Route, Record-Route, Path, P-Asserted-Identity. Each call parses the next value in place.
  template <class Value>
  class ValueCursor {
   public:
    ValueCursor(const Message& m, HeaderId id) noexcept : message_(&m), id_(id) {}
    // Fills `out` with the next value; false at the end.
    bool next(Value& out) noexcept;
    // The span of the header line holding the value last returned.
    const HeaderField* field() const noexcept { return field_; }

   private:
    const Message* message_;
    HeaderId id_;
    std::size_t index_ = 0;
    const HeaderField* field_ = nullptr;
    Scanner scanner_{std::string_view{}};
  };
  ValueCursor<Via> vias() const noexcept { return {*this, HeaderId::Via}; }
  ValueCursor<NameAddr> name_addrs(HeaderId id) const noexcept { return {*this, id}; }
  bool contact_is_star() const noexcept { return contact_star_; }
  // Option tags of Require, Proxy-Require, Supported or Unsupported, across all their lines.
  ValueCursor<std::string_view> option_tags(HeaderId id) const noexcept { return {*this, id}; }
  // The Expires header's delta-seconds (saturated at 2^32-1), or -1 when absent.
  std::int64_t expires() const noexcept;

 private:
  Verdict parse_start_line(std::string_view line) noexcept;
  Verdict parse_headers(std::string_view section, const Limits& limits) noexcept;
  Verdict frame_body(std::string_view rest, Framing framing, const Limits& limits) noexcept;
  Verdict validate_headers(const Limits& limits) noexcept;
  Verdict validate_semantics() noexcept;
  Verdict reject(std::uint16_t status, std::string_view reason) const noexcept;

  std::string_view bytes_;
  std::string_view start_line_;
  std::string_view method_name_;
  std::string_view request_uri_text_;
  std::string_view reason_phrase_;
  std::string_view headers_end_;
  std::string_view body_;
  std::string_view call_id_;
  Uri request_uri_;
  NameAddr from_;
  NameAddr to_;
  Via top_via_;
  CSeq cseq_;
  long content_length_ = -1;
  int max_forwards_ = -1;
  std::size_t via_count_ = 0;
  std::uint16_t status_code_ = 0;
  std::uint16_t header_count_ = 0;
  Method method_ = Method::Other;
  bool is_request_ = false;
  bool contact_star_ = false;
  std::array<std::uint16_t, kHeaderIdCount> counts_{};
  std::array<std::uint16_t, kHeaderIdCount> first_{};
  std::array<HeaderField, kHeaderCapacity> headers_{};
};

}  // namespace sbc::sip
