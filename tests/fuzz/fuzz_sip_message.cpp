// Feeds arbitrary bytes to the message parser under both framings, then, for every message it
// accepts, exercises each typed accessor and the editor, and checks two properties:
//  - every view the parser hands out lies inside the input buffer;
//  - a valid message, edited the way the relay edits it, parses again as valid;
//  - a valid message holds no NUL in its headers (a core written in C would stop reading there).

#include <array>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string_view>

#include "sbc/sip/editor.hpp"
#include "sbc/sip/message.hpp"

using namespace sbc::sip;

namespace {

std::string_view g_input;

void check_inside(std::string_view view) {
  if (view.empty()) return;
  if (view.data() < g_input.data() || view.data() + view.size() > g_input.data() + g_input.size())
    std::abort();
}

void exercise(const Message& m) {
  check_inside(m.bytes());
  for (const HeaderField& h : m.headers())
    if (h.line.find('\0') != std::string_view::npos) std::abort();
  check_inside(m.body());
  for (const HeaderField& h : m.headers()) {
    check_inside(h.line);
    check_inside(h.value);
  }
  Via via;
  auto vias = m.vias();
  std::size_t n = 0;
  while (vias.next(via)) {
    check_inside(via.text);
    (void)via.param("x");
    ++n;
  }
  if (n != m.via_count()) std::abort();  // validation and iteration must agree
  for (HeaderId id : {HeaderId::Contact, HeaderId::Route, HeaderId::RecordRoute, HeaderId::Path,
                      HeaderId::PAssertedIdentity}) {
    NameAddr na;
    auto cursor = m.name_addrs(id);
    while (cursor.next(na)) {
      check_inside(na.uri.text);
      (void)na.param("expires");
      (void)na.uri.param("transport");
    }
  }
  const std::string_view tags[] = {"path"};
  (void)m.check_proxy_rules({tags});
}

void round_trip(const Message& m) {
  MessageEditor e(m);
  if (!e.prepend_via("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKfuzz")) std::abort();
  if (!e.add_record_route("<sip:192.0.2.1;lr>")) std::abort();
  if (m.is_request() && m.max_forwards() != 0 && !e.decrement_max_forwards()) std::abort();
  static std::array<char, 1 << 17> out;
  const std::size_t size = e.write(out);
  if (size == 0 || size != e.size()) std::abort();
  static auto again = std::make_unique<Message>();
  Limits roomy;
  roomy.max_message_bytes = roomy.max_body_bytes = 1 << 17;
  roomy.max_headers = kHeaderCapacity;
  roomy.max_vias = 255;
  const Verdict v = again->parse({out.data(), size}, Framing::Stream, roomy);
  if (!v.is_valid()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static auto message = std::make_unique<Message>();
  g_input = {reinterpret_cast<const char*>(data), size};
  for (Framing framing : {Framing::Datagram, Framing::Stream}) {
    const Verdict v = message->parse(g_input, framing, Limits{});
    if (v.is_valid()) {
      exercise(*message);
      round_trip(*message);
    } else if (v.reason.empty() || (v.kind == Verdict::Kind::Respond && v.status < 400)) {
      std::abort();  // every rejection names its defect with an error status
    }
  }
  return 0;
}
