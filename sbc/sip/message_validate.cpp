#include "sbc/sip/message.hpp"

#include "sbc/sip/message_parts.hpp"

// Message::validate_headers checks each interpreted header against its grammar;
// Message::validate_semantics the rules across headers (mandatory ones, CSeq, From tag, Contact *).

namespace sbc::sip {
namespace {

using detail::kMalformed;
using detail::parse_value;

bool is_broadcast(std::string_view host) noexcept {
  return host == "255.255.255.255";
}

// A comma-separated list of values, each parsed into `scratch` by parse_value.
template <class Value>
bool valid_list(std::string_view value, HeaderId id, Value& scratch) noexcept {
  Scanner in(value);
  do {
    if (!parse_value(in, scratch, id)) return false;
  } while (in.separator(','));
  return in.at_end();
}

}  // namespace

Verdict Message::validate_headers(const Limits& limits) noexcept {
  const auto malformed = [this](HeaderId id) {
    return reject(400, kMalformed[static_cast<std::size_t>(id)]);
  };
  // Scratch values live outside the loop: constructing one zeroes a few hundred bytes.
  Via via;
  NameAddr name_addr;
  for (const HeaderField& h : headers()) {
    switch (h.id) {
      case HeaderId::Other:
      case HeaderId::ContentLength:
        break;
      case HeaderId::Via: {
        Scanner in(h.value);
        do {
          // The first Via value is parsed straight into top_via_ (no copy).
          Via& value = via_count_++ == 0 ? top_via_ : via;
          if (!parse_via(in, value)) return malformed(h.id);
          // A Via naming the limited broadcast address would turn a response into a broadcast.
          if (is_broadcast(value.host) || is_broadcast(value.received) || is_broadcast(value.maddr))
            return reject(400, "Via names a broadcast address");
        } while (in.separator(','));
        if (!in.at_end()) return malformed(h.id);
        if (via_count_ > limits.max_vias) return reject(513, "Too many Via values");
        break;
      }
      case HeaderId::From:
      case HeaderId::To: {
        NameAddr& target = h.id == HeaderId::From ? from_ : to_;
        Scanner in(h.value);
        if (!parse_name_addr(in, target, NameAddrRules::FromTo) || !in.at_end())
          return malformed(h.id);
        break;
      }
      case HeaderId::CallId:
        if (!valid_call_id(h.value)) return malformed(h.id);
        call_id_ = h.value;
        break;
      case HeaderId::CSeq:
        if (!parse_cseq(h.value, cseq_)) return malformed(h.id);
        break;
      case HeaderId::MaxForwards: {
        Scanner in(h.value);
        std::uint64_t hops = 0;
        if (!in.number(255, hops) || !in.at_end()) return malformed(h.id);
        if (hops > 255) return reject(400, "Max-Forwards above 255");
        max_forwards_ = static_cast<int>(hops);
        break;
      }
      case HeaderId::Contact:
        if (h.value == "*") {
          contact_star_ = true;
          break;
        }
        [[fallthrough]];
      case HeaderId::Route:
      case HeaderId::RecordRoute:
      case HeaderId::Path:
      case HeaderId::PAssertedIdentity:
        if (!valid_list(h.value, h.id, name_addr)) return malformed(h.id);
        break;
      case HeaderId::ContentType:
        if (!valid_content_type(h.value)) return malformed(h.id);
        break;
      case HeaderId::Expires: {
        std::uint32_t seconds = 0;
        if (!parse_delta_seconds(h.value, seconds)) return malformed(h.id);
        break;
      }
      case HeaderId::Require:
      case HeaderId::ProxyRequire:
      case HeaderId::Unsupported:
        if (!valid_option_tags(h.value, false)) return malformed(h.id);
        break;
      case HeaderId::Supported:
        if (!valid_option_tags(h.value, true)) return malformed(h.id);
        break;
      case HeaderId::UserAgent:
        if (!valid_user_agent(h.value)) return malformed(h.id);
        break;
      case HeaderId::Authorization:
      case HeaderId::ProxyAuthorization: {
        AuthValue auth;
        if (!parse_credentials(h.value, auth)) return malformed(h.id);
        break;
      }
      case HeaderId::WwwAuthenticate:
      case HeaderId::ProxyAuthenticate: {
        AuthValue auth;
        if (!parse_challenge(h.value, auth)) return malformed(h.id);
        break;
      }
      case HeaderId::Date:
        if (!valid_sip_date(h.value)) return malformed(h.id);
        break;
      case HeaderId::kCount:
        break;
    }
  }
  return Verdict::valid();
}

Verdict Message::validate_semantics() noexcept {
  struct Required {
    HeaderId id;
    std::string_view missing;
    std::string_view multiple;
  };
  static constexpr Required kExactlyOnce[] = {
      {HeaderId::Via, "Missing Via header", {}},
      {HeaderId::From, "Missing From header", "Multiple From headers"},
      {HeaderId::To, "Missing To header", "Multiple To headers"},
      {HeaderId::CallId, "Missing Call-ID header", "Multiple Call-ID headers"},
      {HeaderId::CSeq, "Missing CSeq header", "Multiple CSeq headers"},
      {HeaderId::MaxForwards, "Missing Max-Forwards header", "Multiple Max-Forwards headers"},
      {HeaderId::ContentType, {}, "Multiple Content-Type headers"},
      {HeaderId::Expires, {}, "Multiple Expires headers"},
  };
  // The usual message has each of them once (Via at least once): one test each, no table walk.
  const bool usual = count(HeaderId::Via) != 0 && count(HeaderId::From) == 1 &&
                     count(HeaderId::To) == 1 && count(HeaderId::CallId) == 1 &&
                     count(HeaderId::CSeq) == 1 && count(HeaderId::MaxForwards) == 1 &&
                     count(HeaderId::ContentType) <= 1 && count(HeaderId::Expires) <= 1;
  for (std::size_t i = 0; !usual && i < std::size(kExactlyOnce); ++i) {
    const Required& r = kExactlyOnce[i];
    const std::size_t n = count(r.id);
    const bool optional = r.missing.empty() || (r.id == HeaderId::MaxForwards && !is_request_);
    if (n == 0 && !optional) return reject(400, r.missing);
    if (n > 1 && !r.multiple.empty()) return reject(400, r.multiple);
  }
  if (cseq_.number >= 0x80000000u) return reject(400, "CSeq number must be below 2^31");
  if (!body_.empty() && count(HeaderId::ContentType) == 0)
    return reject(400, "Missing Content-Type for a non-empty body");

  if (!is_request_) return Verdict::valid();

  if (cseq_.method != method_name_)
    return reject(400, "CSeq method does not match the request method");
  if (from_.tag.empty()) return reject(400, "Missing From tag");
  // A missing branch is legal (RFC 2543 peers; RFC 4475 longreq); a bare magic cookie claims
  // RFC 3261 transaction matching without the unique part it needs.
  if (top_via_.branch == "z9hG4bK") return reject(400, "Top Via branch is only the magic cookie");
  if (contact_star_) {
    std::uint32_t expires = 1;
    const HeaderField* e = find(HeaderId::Expires);
    if (e != nullptr) parse_delta_seconds(e->value, expires);
    if (method_ != Method::Register || count(HeaderId::Contact) != 1 || expires != 0)
      return reject(400, "Contact * is only allowed alone in a REGISTER with Expires: 0");
  }
  return Verdict::valid();
}

}  // namespace sbc::sip
