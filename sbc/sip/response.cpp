#include "sbc/sip/response.hpp"

#include "sbc/common/fnv1a.hpp"
#include "sbc/common/hex.hpp"
#include "sbc/sip/writer.hpp"

namespace sbc::sip {
namespace {

// The top Via value with received and rport filled in, as RFC 3261 18.2.1 and RFC 3581 4 ask,
// from the address the request really came from: a client's own received or rport values are
// dropped (a client must not choose the address the core believes it has).
void write_top_via(Writer& w, const Via& via, std::string_view source_ip,
                   std::uint16_t source_port) noexcept {
  const std::string_view text = via.text;
  if (via.params.empty()) {
    w << text;
  } else {
    // The parameters start at the ';' before the first name (white space may sit between).
    std::size_t head = static_cast<std::size_t>(via.params.data() - text.data());
    while (head > 0 && text[head - 1] != ';') --head;
    if (head > 0) --head;
    w << text.substr(0, head);
    Scanner in(text.substr(head));
    while (!in.at_end()) {
      const char* begin = in.position();
      if (!in.separator(';')) break;
      const std::string_view name = in.token();
      if (name.empty()) break;
      const char* before_equal = in.position();
      if (in.separator('=')) {
        if (in.peek() == '"') {
          (void)in.quoted_string();
        } else {
          while (!in.at_end() && in.peek() != ';') in.advance();
        }
      } else {
        in.reset(before_equal);
      }
      if (iequals(name, "received") || iequals(name, "rport")) continue;
      w << std::string_view(begin, static_cast<std::size_t>(in.position() - begin));
    }
    w << in.rest();  // nothing for a Via that parsed; kept rather than lost otherwise
  }
  if (!source_ip.empty()) w << ";received=" << source_ip;
  if (via.rport && source_port != 0) w << ";rport=" << static_cast<unsigned>(source_port);
}

}  // namespace

std::size_t write_via_with_source(const Via& via, std::string_view source_ip,
                                  std::uint16_t source_port, std::span<char> out) noexcept {
  Writer w(out);
  write_top_via(w, via, source_ip, source_port);
  return w.ok() ? static_cast<std::size_t>(w.position() - out.data()) : 0;
}

bool can_answer(const Message& request) noexcept {
  return request.count(HeaderId::Via) >= 1 && request.count(HeaderId::From) == 1 &&
         request.count(HeaderId::To) == 1 && request.count(HeaderId::CallId) == 1 &&
         request.count(HeaderId::CSeq) == 1;
}

std::string_view stateless_to_tag(const Message& request, std::span<char, 16> out) noexcept {
  // FNV-1a over Call-ID, the From line and the top Via line: stable across retransmissions.
  std::uint64_t hash = common::kFnvBasis;
  for (HeaderId id : {HeaderId::CallId, HeaderId::From, HeaderId::Via})
    if (const HeaderField* h = request.find(id)) hash = common::fnv1a(hash, h->value);
  common::put_hex(out.data(), hash, 16);
  return {out.data(), out.size()};
}

std::size_t build_response(const Message& request, const ResponseSpec& spec,
                           std::span<char> out) noexcept {
  if (!can_answer(request)) return 0;
  Writer w(out);
  w << "SIP/2.0 " << static_cast<unsigned>(spec.status) << " " << spec.reason << "\r\n";
  bool top_done = false;
  for (const HeaderField& h : request.headers()) {
    if (h.id != HeaderId::Via) continue;
    if (!top_done) {
      top_done = true;
      Scanner in(h.value);
      Via via;
      if (parse_via(in, via)) {
        w << "Via: ";
        write_top_via(w, via, spec.source_ip, spec.source_port);
        w << "\r\n";
        in.skip_sws();
        if (in.consume(',')) {
          in.skip_sws();
          if (!in.at_end()) w << "Via: " << in.rest() << "\r\n";
        }
        continue;
      }
    }
    w << h.line;
  }
  for (HeaderId id : {HeaderId::From, HeaderId::To, HeaderId::CallId, HeaderId::CSeq}) {
    const HeaderField* h = request.find(id);
    if (id != HeaderId::To || spec.status == 100 || spec.to_tag.empty()) {
      w << h->line;
      continue;
    }
    Scanner in(h->value);
    NameAddr to;
    const bool has_tag = parse_name_addr(in, to, NameAddrRules::FromTo) && !to.tag.empty();
    w << "To: " << h->value;
    if (!has_tag) w << ";tag=" << spec.to_tag;
    w << "\r\n";
  }
  for (std::string_view line : spec.extra_headers) w << line << "\r\n";
  w << "Content-Length: 0\r\n\r\n";
  return w.ok() ? static_cast<std::size_t>(w.position() - out.data()) : 0;
}

}  // namespace sbc::sip
