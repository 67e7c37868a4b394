#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "sbc/sip/message.hpp"
#include "tests/support/sip_samples.hpp"

using namespace sbc::sip;
using sbc::test::kBaseHeaders;
using sbc::test::request;

namespace {

struct Parsed {
  std::unique_ptr<Message> message = std::make_unique<Message>();
  std::string bytes;
  Verdict verdict;
};

Parsed parse(std::string bytes, Framing framing = Framing::Datagram, Limits limits = {}) {
  Parsed p;
  p.bytes = std::move(bytes);
  p.verdict = p.message->parse(p.bytes, framing, limits);
  return p;
}

std::string options_with(std::string_view headers, std::string_view cseq = "CSeq: 1 OPTIONS\r\n") {
  return request("OPTIONS sip:bob@example.com SIP/2.0",
                 std::string(kBaseHeaders) + std::string(cseq) + std::string(headers));
}

void check_rejected(const std::string& bytes, int status, std::string_view reason) {
  const Parsed p = parse(bytes);
  INFO(bytes);
  INFO("got " << p.verdict.status << " " << p.verdict.reason);
  CHECK(p.verdict.kind == Verdict::Kind::Respond);
  CHECK(p.verdict.status == status);
  CHECK(p.verdict.reason == reason);
}

}  // namespace

TEST_CASE("the RFC 3261 example INVITE parses into typed fields", "[message]") {
  const Parsed p = parse(std::string(sbc::test::kInvite));
  REQUIRE(p.verdict.is_valid());
  const Message& m = *p.message;
  CHECK(m.is_request());
  CHECK(m.method() == Method::Invite);
  CHECK(m.request_uri().scheme == Scheme::Sip);
  CHECK(m.request_uri().user == "bob");
  CHECK(m.request_uri().host == "biloxi.example.com");
  CHECK(m.top_via().transport == "TCP");
  CHECK(m.top_via().port == 5060);
  CHECK(m.top_via().branch == "z9hG4bK74bf9");
  CHECK(m.from().display_name == "Alice");
  CHECK(m.from().tag == "9fxced76sl");
  CHECK(m.to().tag.empty());
  CHECK(m.call_id() == "3848276298220188511@atlanta.example.com");
  CHECK(m.cseq().number == 1);
  CHECK(m.max_forwards() == 70);
  CHECK(m.content_length() == 151);
  CHECK(m.body().size() == 151);
  CHECK(m.headers().size() == 9);
  CHECK(m.find(HeaderId::ContentType)->value == "application/sdp");
  CHECK(m.find("content-type") == m.find(HeaderId::ContentType));
  CHECK(m.find("c") == m.find(HeaderId::ContentType));
  auto contacts = m.name_addrs(HeaderId::Contact);
  NameAddr contact;
  REQUIRE(contacts.next(contact));
  CHECK(contact.uri.param("transport").value == "tcp");
  CHECK_FALSE(contacts.next(contact));
  // Views point into the caller's buffer: nothing was copied.
  CHECK(m.call_id().data() >= p.bytes.data());
  CHECK(m.call_id().data() < p.bytes.data() + p.bytes.size());
}

TEST_CASE("responses are parsed and invalid ones are dropped, never answered", "[message]") {
  const std::string ok = "SIP/2.0 200 OK\r\n" + std::string(kBaseHeaders) +
                         "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  Parsed p = parse(ok);
  REQUIRE(p.verdict.is_valid());
  CHECK_FALSE(p.message->is_request());
  CHECK(p.message->status_code() == 200);
  CHECK(p.message->reason_phrase() == "OK");

  p = parse("SIP/2.0 200 OK\r\n" + std::string(kBaseHeaders) + "Content-Length: 0\r\n\r\n");
  CHECK(p.verdict.kind == Verdict::Kind::Drop);
  CHECK(p.verdict.reason == "Missing CSeq header");

  p = parse("SIP/2.0 099 Low\r\n" + std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\n\r\n");
  CHECK(p.verdict.kind == Verdict::Kind::Drop);
  p = parse("SIP/3.0 200 OK\r\n" + std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\n\r\n");
  CHECK(p.verdict.kind == Verdict::Kind::Drop);
}

TEST_CASE("mandatory header rules", "[message]") {
  check_rejected(request("OPTIONS sip:bob@example.com SIP/2.0",
                         "Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\nMax-Forwards: 70\r\n"
                         "To: <sip:b@example.com>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"),
                 400, "Missing From header");
  check_rejected(options_with("To: <sip:c@example.com>\r\n"), 400, "Multiple To headers");
  check_rejected(options_with("", "CSeq: 1 INVITE\r\n"), 400,
                 "CSeq method does not match the request method");
  check_rejected(options_with("", "CSeq: 2147483648 OPTIONS\r\n"), 400,
                 "CSeq number must be below 2^31");
  CHECK(parse(options_with("", "CSeq: 2147483647 OPTIONS\r\n")).verdict.is_valid());
  check_rejected(request("OPTIONS sip:bob@example.com SIP/2.0",
                         "Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:a@example.com>;tag=1\r\n"
                         "To: <sip:b@example.com>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n"),
                 400, "Missing Max-Forwards header");
  check_rejected(options_with("Max-Forwards: 256\r\n"), 400, "Max-Forwards above 255");
  check_rejected(request("MESSAGE sip:bob@example.com SIP/2.0",
                         std::string(kBaseHeaders) + "CSeq: 1 MESSAGE\r\n", "hello"),
                 400, "Missing Content-Type for a non-empty body");
}

TEST_CASE("start line defects get the RFC's status", "[message]") {
  const std::string headers = std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\n";
  check_rejected(request("OPTIONS sip:bob@example.com SIP/3.0", headers), 505,
                 "SIP version not supported");
  check_rejected(request("OPTIONS sip:bob@example.com SIP/2.0 ", headers), 400,
                 "Malformed request line");
  check_rejected(request("OPTIONS  sip:bob@example.com SIP/2.0", headers), 400,
                 "Malformed request line");
  check_rejected(request("OPTIONS <sip:bob@example.com> SIP/2.0", headers), 400,
                 "Malformed Request-URI");
  check_rejected(request("OPTIONS sip:bob@example.com?Subject=x SIP/2.0", headers), 400,
                 "Request-URI must not carry headers");
  check_rejected(request("OPTIONS sip:bob@example.com:70000 SIP/2.0", headers), 400,
                 "Malformed Request-URI");
  check_rejected(request("OPTIONS sip:bob@example.com:0 SIP/2.0", headers), 400,
                 "Malformed Request-URI");
  check_rejected(request("OPT(IONS sip:bob@example.com SIP/2.0", headers), 400, "Malformed method");
}

TEST_CASE("header line framing", "[message]") {
  check_rejected("OPTIONS sip:bob@example.com SIP/2.0\r\n" + std::string(kBaseHeaders) +
                     "CSeq: 1 OPTIONS\nContent-Length: 0\r\n\r\n",
                 400, "Bare LF in header");
  check_rejected("OPTIONS sip:bob@example.com SIP/2.0\r\n" + std::string(kBaseHeaders) +
                     "CSeq: 1 OPTIONS\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",
                 400, "Bare CR in header");
  check_rejected("OPTIONS sip:bob@example.com SIP/2.0\r\n" + std::string(kBaseHeaders) +
                     "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n",
                 400, "Missing empty line after the headers");
  check_rejected(options_with("NoColon\r\n"), 400, "Missing colon in header line");
  check_rejected(options_with("X-Ctl: a\x01z\r\n"), 400, "Invalid character in header value");
  check_rejected(options_with("Bad Name: x\r\n"), 400, "Missing colon in header line");
  // Folded opaque headers are fine and kept as written.
  const Parsed p = parse(options_with("X-Folded: one\r\n  two\r\n"));
  REQUIRE(p.verdict.is_valid());
  CHECK(p.message->find("x-folded")->value == "one\r\n  two");
  // Leading CRLFs before the start line are ignored.
  CHECK(parse("\r\n\r\n" + options_with("")).verdict.is_valid());
}

TEST_CASE("NUL is refused anywhere in the headers, quoted-pairs included", "[message]") {
  using namespace std::string_literals;
  // Each row: where the NUL sits. The quoted-pair grammar (RFC 3261 25.1) admits "\<NUL>",
  // but a core written in C stops at the NUL and reads another value than the one checked.
  const struct {
    const char* where;
    std::string headers;
  } rows[] = {
      {"From display name (quoted-pair)",
       "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\nMax-Forwards: 70\r\n"
       "From: \"a\\\0b\" <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
       "Call-ID: a@b\r\nCSeq: 1 OPTIONS\r\n"s},
      {"To display name (quoted-pair)",
       "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\nMax-Forwards: 70\r\n"
       "From: <sip:alice@example.com>;tag=1\r\nTo: \"b\\\0\" <sip:bob@example.com>\r\n"
       "Call-ID: a@b\r\nCSeq: 1 OPTIONS\r\n"s},
      {"Via quoted parameter (quoted-pair)",
       "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc;x=\"\\\0\"\r\nMax-Forwards: 70\r\n"
       "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
       "Call-ID: a@b\r\nCSeq: 1 OPTIONS\r\n"s},
      {"Contact display name (quoted-pair)",
       std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\nContact: \"\\\0\" <sip:a@192.0.2.1>\r\n"s},
      {"Authorization quoted value (quoted-pair)",
       std::string(kBaseHeaders) +
           "CSeq: 1 OPTIONS\r\nAuthorization: Digest username=\"al\\\0ice\", realm=\"r\", "
           "nonce=\"n\", uri=\"sip:bob@example.com\", response=\"0\"\r\n"s},
      {"bare NUL in a Call-ID",
       "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKabc\r\nMax-Forwards: 70\r\n"
       "From: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
       "Call-ID: a\0@b\r\nCSeq: 1 OPTIONS\r\n"s},
      {"opaque header value", std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\nSubject: a\0b\r\n"s},
      {"folded continuation", std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\nX-F: a\r\n \0\r\n"s},
      {"header name", std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\nX-\0: a\r\n"s},
      {"before the colon", std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\nX-A \0: a\r\n"s},
      {"line start", std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\n\0X: a\r\n"s},
  };
  for (const auto& row : rows) {
    INFO(row.where);
    for (Framing framing : {Framing::Datagram, Framing::Stream}) {
      const Parsed p = parse(request("OPTIONS sip:bob@example.com SIP/2.0", row.headers), framing);
      INFO("got " << p.verdict.status << " " << p.verdict.reason);
      CHECK(p.verdict.kind == Verdict::Kind::Respond);
      CHECK(p.verdict.status == 400);
      CHECK(p.verdict.reason == "NUL byte in header");
    }
  }
  // A NUL inside a value does not stop the indexing: the 400 can still be answered.
  const Parsed p = parse(request("OPTIONS sip:bob@example.com SIP/2.0", rows[0].headers));
  CHECK(p.message->count(HeaderId::From) == 1);
  CHECK(p.message->count(HeaderId::CSeq) == 1);
  // Other escaped control characters stay legal, and so does a NUL in the body.
  CHECK(parse(options_with("Contact: \"a\\\x01b\" <sip:a@192.0.2.1>\r\n")).verdict.is_valid());
  CHECK(parse(request("MESSAGE sip:bob@example.com SIP/2.0",
                      std::string(kBaseHeaders) +
                          "CSeq: 1 MESSAGE\r\nContent-Type: application/octet-stream\r\n",
                      "a\0b"s))
            .verdict.is_valid());
}

TEST_CASE("Content-Length framing over datagrams and streams", "[message]") {
  const std::string base = "MESSAGE sip:bob@example.com SIP/2.0\r\n" + std::string(kBaseHeaders) +
                           "CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n";
  Parsed p = parse(base + "Content-Length: 5\r\n\r\nhello, trailing octets");
  REQUIRE(p.verdict.is_valid());
  CHECK(p.message->body() == "hello");
  check_rejected(base + "Content-Length: 50\r\n\r\nhello", 400,
                 "Content-Length exceeds the body received");
  check_rejected(base + "Content-Length: -5\r\n\r\nhello", 400, "Malformed Content-Length header");
  check_rejected(base + "Content-Length: 5\r\nl: 5\r\n\r\nhello", 400,
                 "Multiple Content-Length headers");
  // No Content-Length: a datagram's body is the rest of it; a stream requires it.
  p = parse(base + "\r\nhello");
  REQUIRE(p.verdict.is_valid());
  CHECK(p.message->body() == "hello");
  p = parse(base + "\r\nhello", Framing::Stream);
  CHECK(p.verdict.status == 400);
  CHECK(p.verdict.reason == "Missing Content-Length (required over TCP and TLS)");
  p = parse(base + "Content-Length: 5\r\n\r\nhello!", Framing::Stream);
  CHECK(p.verdict.reason == "Content-Length does not match the framed body");
}

TEST_CASE("configurable limits answer 513", "[message][limits]") {
  Limits limits;
  limits.max_message_bytes = 300;
  Parsed p =
      parse(options_with("X-Pad: " + std::string(300, 'a') + "\r\n"), Framing::Datagram, limits);
  CHECK(p.verdict.status == 513);
  CHECK(p.verdict.reason == "Message too large");

  limits = Limits{};
  limits.max_headers = 8;
  p = parse(options_with("A: 1\r\nB: 2\r\nC: 3\r\n"), Framing::Datagram, limits);
  CHECK(p.verdict.status == 513);
  CHECK(p.verdict.reason == "Too many header fields");

  limits = Limits{};
  limits.max_vias = 2;
  p = parse(options_with("Via: SIP/2.0/UDP a.example.com, SIP/2.0/TCP b.example.com\r\n"),
            Framing::Datagram, limits);
  CHECK(p.verdict.reason == "Too many Via values");

  limits = Limits{};
  limits.max_line_bytes = 200;
  p = parse(options_with("X-Long: " + std::string(250, 'b') + "\r\n"), Framing::Datagram, limits);
  CHECK(p.verdict.reason == "Header line too long");

  limits = Limits{};
  limits.max_body_bytes = 3;
  p = parse(request("MESSAGE sip:bob@example.com SIP/2.0",
                    std::string(kBaseHeaders) + "CSeq: 1 MESSAGE\r\nContent-Type: text/plain\r\n",
                    "hello"),
            Framing::Datagram, limits);
  CHECK(p.verdict.reason == "Body too large");

  // The header table never overflows, whatever the configured limit.
  limits = Limits{};
  limits.max_headers = 100000;
  std::string many;
  for (int i = 0; i < 300; ++i) many += "X: y\r\n";
  p = parse(options_with(many), Framing::Datagram, limits);
  CHECK(p.verdict.status == 513);
}

TEST_CASE("Via rules", "[message][via]") {
  // RFC 2543 peers send no branch; that is legal (RFC 4475 longreq).
  CHECK(parse(request("OPTIONS sip:bob@example.com SIP/2.0",
                      "Via: SIP/2.0/UDP 192.0.2.1\r\nMax-Forwards: 70\r\n"
                      "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
                      "Call-ID: x\r\nCSeq: 1 OPTIONS\r\n"))
            .verdict.is_valid());
  check_rejected(request("OPTIONS sip:bob@example.com SIP/2.0",
                         "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK\r\nMax-Forwards: 70\r\n"
                         "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
                         "Call-ID: x\r\nCSeq: 1 OPTIONS\r\n"),
                 400, "Top Via branch is only the magic cookie");
  check_rejected(options_with("Via: SIP/2.0/UDP 255.255.255.255\r\n"), 400,
                 "Via names a broadcast address");
  check_rejected(options_with("Via: SIP/2.0/UDP host:99999\r\n"), 400, "Malformed Via header");
  check_rejected(options_with("Via: SIP/2.0/UDP 192.0.2.1;;\r\n"), 400, "Malformed Via header");
  check_rejected(options_with("Via: SIP/2.0/UDP 192.0.2.1;ttl=256\r\n"), 400,
                 "Malformed Via header");
  check_rejected(options_with("Via: SIP/2.0/UDP 192.0.2.1;received=host.example.com\r\n"), 400,
                 "Malformed Via header");
  check_rejected(options_with("Via: SIP/2.0/UDP [2001:db8::1\r\n"), 400, "Malformed Via header");

  const Parsed p = parse(request(
      "OPTIONS sip:bob@example.com SIP/2.0",
      "Via: SIP/2.0/TLS [2001:db8::1]:5061;branch=z9hG4bKq;rport=5062;received=192.0.2.9;"
      "maddr=239.1.1.1;ttl=16;x-ext=\"quoted, with comma\" , SIP/2.0/UDP 192.0.2.1;rport\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
      "Call-ID: x\r\nCSeq: 1 OPTIONS\r\n"));
  REQUIRE(p.verdict.is_valid());
  const Via& v = p.message->top_via();
  CHECK(v.host == "[2001:db8::1]");
  CHECK(v.host_kind == HostKind::IPv6);
  CHECK(v.port == 5061);
  CHECK(v.rport);
  CHECK(v.rport_value == 5062);
  CHECK(v.received == "192.0.2.9");
  CHECK(v.maddr == "239.1.1.1");
  CHECK(v.ttl == 16);
  CHECK(v.param("x-ext").value == "\"quoted, with comma\"");
  CHECK(p.message->via_count() == 2);
}

TEST_CASE("proxy rules: 416, 483, 420", "[message][proxy]") {
  Parsed p = parse(request("OPTIONS mailto:bob@example.com SIP/2.0",
                           std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\n"));
  REQUIRE(p.verdict.is_valid());
  Verdict v = p.message->check_proxy_rules({});
  CHECK(v.status == 416);

  p = parse(request("OPTIONS tel:+15551234567 SIP/2.0",
                    std::string(kBaseHeaders) + "CSeq: 1 OPTIONS\r\n"));
  REQUIRE(p.verdict.is_valid());
  CHECK(p.message->check_proxy_rules({}).is_valid());

  p = parse(request("OPTIONS sip:bob@example.com SIP/2.0",
                    "Via: SIP/2.0/UDP h;branch=z9hG4bKx\r\nMax-Forwards: 0\r\n"
                    "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
                    "Call-ID: x\r\nCSeq: 1 OPTIONS\r\n"));
  REQUIRE(p.verdict.is_valid());
  CHECK(p.message->check_proxy_rules({}).status == 483);

  p = parse(options_with("Proxy-Require: path, foo\r\n"));
  REQUIRE(p.verdict.is_valid());
  v = p.message->check_proxy_rules({});
  CHECK(v.status == 420);
  CHECK(v.detail == "path, foo");
  const std::string_view both[] = {"path", "foo"};
  CHECK(p.message->check_proxy_rules({both}).is_valid());
}

TEST_CASE("Contact star", "[message][contact]") {
  const std::string reg_headers = std::string(kBaseHeaders) + "CSeq: 2 REGISTER\r\n";
  Parsed p = parse(
      request("REGISTER sip:example.com SIP/2.0", reg_headers + "Contact: *\r\nExpires: 0\r\n"));
  REQUIRE(p.verdict.is_valid());
  CHECK(p.message->contact_is_star());
  check_rejected(
      request("REGISTER sip:example.com SIP/2.0", reg_headers + "Contact: *\r\nExpires: 60\r\n"),
      400, "Contact * is only allowed alone in a REGISTER with Expires: 0");
  check_rejected(options_with("Contact: *\r\n"), 400,
                 "Contact * is only allowed alone in a REGISTER with Expires: 0");
}

TEST_CASE("every interpreted header is validated", "[message]") {
  struct Case {
    const char* header;
    const char* reason;
  };
  const Case cases[] = {
      {"Contact: <sip:a@example.com>;q=1.5\r\n", "Malformed Contact header"},
      {"Contact: <sip:a@example.com>;expires=soon\r\n", "Malformed Contact header"},
      {"Route: sip:proxy.example.com;lr\r\n", "Malformed Route header"},
      {"Record-Route: <sip:proxy.example.com;lr\r\n", "Malformed Record-Route header"},
      {"Path: <sip:proxy.example.com;lr>,\r\n", "Malformed Path header"},
      {"Content-Type: application\r\n", "Malformed Content-Type header"},
      {"Expires: -1\r\n", "Malformed Expires header"},
      {"Require: \r\n", "Malformed Require header"},
      {"Proxy-Require: a b\r\n", "Malformed Proxy-Require header"},
      {"Unsupported: ,\r\n", "Malformed Unsupported header"},
      {"User-Agent: x (unclosed\r\n", "Malformed User-Agent header"},
      {"Authorization: Digest username=alice\r\n", "Malformed Authorization header"},
      {"Proxy-Authorization: Digest realm=\"r\"\r\n", "Malformed Proxy-Authorization header"},
      {"WWW-Authenticate: Digest realm=\"r\"\r\n", "Malformed WWW-Authenticate header"},
      {"Proxy-Authenticate: Digest realm=\"r\", nonce=\"n\", stale=maybe\r\n",
       "Malformed Proxy-Authenticate header"},
      {"P-Asserted-Identity: <sip:a@example.com>;x=y\r\n", "Malformed P-Asserted-Identity header"},
      {"Date: Sat, 13 Nov 2010 23:29:00 PST\r\n", "Malformed Date header"},
  };
  for (const Case& c : cases) check_rejected(options_with(c.header), 400, c.reason);

  const Parsed p = parse(options_with(
      "Contact: \"A\" <sip:a@example.com>;q=0.7;expires=3600, "
      "<sips:b@example.com>;+sip.instance=\"<urn:x>\"\r\n"
      "Route: <sip:p1.example.com;lr>, <sip:p2.example.com;lr>\r\n"
      "Record-Route: <sip:p3.example.com;lr>\r\n"
      "Path: <sip:edge.example.com;lr;ob>\r\n"
      "Supported:\r\n"
      "Require: 100rel, timer\r\n"
      "User-Agent: baresip/2.0 (Linux (x86_64)) libre/2.0\r\n"
      "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"abc\", "
      "uri=\"sip:bob@example.com\", response=\"0123456789abcdef0123456789abcdef\", "
      "algorithm=MD5, qop=auth, nc=00000001, cnonce=\"xyz\"\r\n"
      "P-Asserted-Identity: \"Alice\" <sip:alice@example.com>, tel:+15551234567\r\n"
      "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n"
      "Expires: 99999999999\r\n"));
  INFO(p.verdict.reason);
  REQUIRE(p.verdict.is_valid());
  CHECK(p.message->expires() == 0xFFFFFFFFll);
  auto tags = p.message->option_tags(HeaderId::Require);
  std::string_view tag;
  REQUIRE(tags.next(tag));
  CHECK(tag == "100rel");
  REQUIRE(tags.next(tag));
  CHECK(tag == "timer");
  CHECK_FALSE(tags.next(tag));
  auto none = p.message->option_tags(HeaderId::Supported);  // present but empty
  CHECK_FALSE(none.next(tag));
  auto routes = p.message->name_addrs(HeaderId::Route);
  NameAddr r;
  REQUIRE(routes.next(r));
  CHECK(r.uri.host == "p1.example.com");
  CHECK(r.uri.param("lr").present);
  REQUIRE(routes.next(r));
  CHECK(r.uri.host == "p2.example.com");
  CHECK_FALSE(routes.next(r));
}

TEST_CASE("parsing is total: truncations and byte flips never misbehave", "[message][robustness]") {
  // Every prefix and a byte-flipped copy of a valid message: each gets a verdict, and any view
  // it exposes stays inside the buffer (ASan watches this in the sanitizer build).
  const std::string invite(sbc::test::kInvite);
  auto m = std::make_unique<Message>();
  for (std::size_t n = 0; n <= invite.size(); ++n) {
    const std::string prefix = invite.substr(0, n);
    const Verdict v = m->parse(prefix, Framing::Datagram, Limits{});
    if (v.is_valid()) {
      CHECK(m->bytes().size() <= n);
    }
  }
  for (std::size_t i = 0; i < invite.size(); ++i) {
    for (char c : {'\0', '\r', '\n', ' ', ',', ';', '"', '<', '>', ':', '\xff'}) {
      std::string mutated = invite;
      mutated[i] = c;
      (void)m->parse(mutated, Framing::Datagram, Limits{});
    }
  }
  SUCCEED("no crash, no hang");
}
