#include "sbc/sip/message.hpp"

#include <cstring>

#include "sbc/sip/message_parts.hpp"

// The parse as a whole, body framing, typed access and the proxy-role rules. The start line, the
// header lines and the validation live in message_start_line.cpp, message_headers.cpp and
// message_validate.cpp (one class, split by stage of the parse; see message_parts.hpp).

namespace sbc::sip {
namespace {

using detail::kMalformed;
using detail::parse_value;

struct MethodName {
  std::string_view name;
  Method method;
};
constexpr MethodName kMethods[] = {
    {"INVITE", Method::Invite},   {"ACK", Method::Ack},
    {"BYE", Method::Bye},         {"CANCEL", Method::Cancel},
    {"OPTIONS", Method::Options}, {"REGISTER", Method::Register},
    {"PRACK", Method::Prack},     {"SUBSCRIBE", Method::Subscribe},
    {"NOTIFY", Method::Notify},   {"PUBLISH", Method::Publish},
    {"INFO", Method::Info},       {"REFER", Method::Refer},
    {"MESSAGE", Method::Message}, {"UPDATE", Method::Update},
};

}  // namespace

Method method_from_name(std::string_view name) noexcept {
  for (const MethodName& m : kMethods)
    if (m.name == name) return m.method;
  return Method::Other;
}

template <class Value>
bool Message::ValueCursor<Value>::next(Value& out) noexcept {
  if (field_ != nullptr && !scanner_.at_end()) {
    if (!scanner_.separator(',')) return false;
    return parse_value(scanner_, out, id_);
  }
  const auto all = message_->headers();
  for (; index_ < all.size(); ++index_) {
    if (all[index_].id != id_ || all[index_].value.empty()) continue;  // "Supported:" is legal
    field_ = &all[index_];
    ++index_;
    scanner_ = Scanner(field_->value);
    return parse_value(scanner_, out, id_);
  }
  return false;
}
template class Message::ValueCursor<Via>;
template class Message::ValueCursor<NameAddr>;
template class Message::ValueCursor<std::string_view>;

std::int64_t Message::expires() const noexcept {
  const HeaderField* h = find(HeaderId::Expires);
  std::uint32_t seconds = 0;
  if (h == nullptr || !parse_delta_seconds(h->value, seconds)) return -1;
  return seconds;
}

const HeaderField* Message::find(HeaderId id) const noexcept {
  const std::uint16_t first = first_[static_cast<std::size_t>(id)];
  return first == 0 ? nullptr : &headers_[first - 1];
}

const HeaderField* Message::find(std::string_view name) const noexcept {
  const HeaderId id = lookup_header(name);
  if (id != HeaderId::Other) return find(id);
  for (const HeaderField& h : headers())
    if (h.id == HeaderId::Other && iequals(h.name, name)) return &h;
  return nullptr;
}

Verdict Message::reject(std::uint16_t status, std::string_view reason) const noexcept {
  // An invalid response is never answered (RFC 3261 section 18.1.2, 16.7).
  return is_request_ ? Verdict::respond(status, reason) : Verdict::drop(reason);
}

Verdict Message::parse(std::string_view bytes, Framing framing, const Limits& limits) noexcept {
  bytes_ = bytes;
  start_line_ = method_name_ = request_uri_text_ = reason_phrase_ = headers_end_ = body_ =
      call_id_ = {};
  // from_, to_, top_via_ and request_uri_ are overwritten by every parse that can succeed.
  cseq_ = CSeq{};
  content_length_ = -1;
  max_forwards_ = -1;
  via_count_ = 0;
  status_code_ = 0;
  header_count_ = 0;
  method_ = Method::Other;
  contact_star_ = false;
  counts_.fill(0);
  first_.fill(0);

  // Leading CRLFs are ignored (RFC 3261 7.5); they are also RFC 5626 keep-alives.
  std::size_t pos = 0;
  while (pos + 1 < bytes.size() && bytes[pos] == '\r' && bytes[pos + 1] == '\n') pos += 2;
  const std::string_view rest = bytes.substr(pos);
  is_request_ = !(rest.size() >= 4 && iequals(rest.substr(0, 4), "SIP/"));
  if (rest.empty()) return Verdict::drop("Empty message");
  if (bytes.size() > limits.max_message_bytes) return reject(513, "Message too large");

  const std::size_t scan =
      std::min<std::size_t>(rest.size(), std::size_t{limits.max_line_bytes} + 2);
  const void* nl = std::memchr(rest.data(), '\n', scan);
  if (nl == nullptr) {
    if (rest.size() > limits.max_line_bytes) return reject(513, "Start line too long");
    return reject(400, "Start line not terminated by CRLF");
  }
  const std::size_t eol = static_cast<std::size_t>(static_cast<const char*>(nl) - rest.data());
  if (eol == 0 || rest[eol - 1] != '\r') return reject(400, "Bare LF in start line");
  const std::string_view line = rest.substr(0, eol - 1);
  if (line.find('\r') != std::string_view::npos) return reject(400, "Bare CR in start line");
  start_line_ = line;
  const std::string_view after = rest.substr(eol + 1);
  if (Verdict v = parse_start_line(line); !v.is_valid()) {
    // Still index the header lines: the answer (505, 400 ...) copies Via, From, To, Call-ID
    // and CSeq from them.
    if (is_request_) (void)parse_headers(after, limits);
    return v;
  }

  if (Verdict v = parse_headers(after, limits); !v.is_valid()) return v;
  if (headers_end_.empty()) {
    if (Verdict v = validate_headers(limits); !v.is_valid()) return v;
    return reject(400, "Missing empty line after the headers");
  }
  const std::size_t body_start =
      static_cast<std::size_t>(headers_end_.data() + headers_end_.size() - bytes.data());
  if (Verdict v = frame_body(bytes.substr(body_start), framing, limits); !v.is_valid()) return v;
  bytes_ = bytes.substr(0, body_start + body_.size());
  if (Verdict v = validate_headers(limits); !v.is_valid()) return v;
  return validate_semantics();
}

Verdict Message::frame_body(std::string_view rest, Framing framing, const Limits& limits) noexcept {
  const HeaderField* cl = find(HeaderId::ContentLength);
  if (count(HeaderId::ContentLength) > 1) return reject(400, "Multiple Content-Length headers");
  if (cl == nullptr) {
    if (framing == Framing::Stream)
      return reject(400, "Missing Content-Length (required over TCP and TLS)");
    if (rest.size() > limits.max_body_bytes) return reject(513, "Body too large");
    body_ = rest;
    return Verdict::valid();
  }
  std::uint64_t length = 0;
  Scanner in(cl->value);
  if (!in.number(limits.max_body_bytes, length) || !in.at_end())
    return reject(400, kMalformed[static_cast<std::size_t>(HeaderId::ContentLength)]);
  if (length > limits.max_body_bytes) return reject(513, "Body too large");
  if (length > rest.size()) return reject(400, "Content-Length exceeds the body received");
  if (framing == Framing::Stream && length != rest.size())
    return reject(400, "Content-Length does not match the framed body");
  content_length_ = static_cast<long>(length);
  body_ = rest.substr(0, length);  // octets after it in a datagram are discarded (18.3)
  return Verdict::valid();
}

Verdict Message::check_proxy_rules(const ProxyOptions& options) const noexcept {
  if (!is_request_) return Verdict::valid();
  if (request_uri_.scheme == Scheme::Other) return Verdict::respond(416, "Unsupported URI scheme");
  if (max_forwards_ == 0) return Verdict::respond(483, "Too many hops");
  for (const HeaderField& h : headers()) {
    if (h.id != HeaderId::ProxyRequire) continue;
    Scanner in(h.value);
    do {
      const std::string_view tag = in.token();
      bool supported = false;
      for (std::string_view s : options.supported_proxy_require)
        supported = supported || iequals(s, tag);
      if (!supported) return Verdict::respond(420, "Unsupported Proxy-Require option tag", h.value);
    } while (in.separator(','));
  }
  return Verdict::valid();
}

}  // namespace sbc::sip
