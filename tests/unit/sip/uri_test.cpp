#include <catch2/catch.hpp>

#include "sbc/sip/uri.hpp"

using namespace sbc::sip;

TEST_CASE("hosts: hostname, IPv4, IPv6 reference", "[uri][host]") {
  CHECK(classify_host("example.com") == HostKind::Name);
  CHECK(classify_host("example.com.") == HostKind::Name);
  CHECK(classify_host("a-b.c1") == HostKind::Name);
  CHECK(classify_host("192.0.2.1") == HostKind::IPv4);
  CHECK(classify_host("[2001:db8::1]") == HostKind::IPv6);
  CHECK(classify_host("[::ffff:192.0.2.1]") == HostKind::IPv6);
  CHECK(classify_host("[2001:db8::192.0.2.1]") == HostKind::IPv6);
  CHECK(classify_host("[2001:db8:::192.0.2.1]") == HostKind::IPv6);  // RFC 5118 4.10 tolerance
  CHECK(classify_host("[1:2:3:4:5:6:7:8]") == HostKind::IPv6);
  CHECK(classify_host("[::]") == HostKind::IPv6);

  CHECK(classify_host("") == HostKind::None);
  CHECK(classify_host("-bad.com") == HostKind::None);
  CHECK(classify_host("bad-.com") == HostKind::None);
  CHECK(classify_host("a..b") == HostKind::None);
  CHECK(classify_host("1.2.3.4.5") == HostKind::None);  // digit toplabel
  CHECK(classify_host("256.0.0.1") == HostKind::None);
  CHECK(classify_host("2001:db8::1") == HostKind::None);  // IPv6 needs brackets
  CHECK(classify_host("[1:2:3:4:5:6:7:8:9]") == HostKind::None);
  CHECK(classify_host("[1::2::3]") == HostKind::None);
  CHECK(classify_host("[12345::1]") == HostKind::None);
  CHECK(classify_host("[::1") == HostKind::None);
  CHECK(classify_host("[192.0.2.1]") == HostKind::None);
}

TEST_CASE("ports", "[uri]") {
  std::uint16_t port = 0;
  CHECK(parse_port("5060", port));
  CHECK(port == 5060);
  CHECK(parse_port("65535", port));
  CHECK_FALSE(parse_port("65536", port));
  CHECK_FALSE(parse_port("0", port));
  CHECK_FALSE(parse_port("", port));
  CHECK_FALSE(parse_port("50a", port));
  CHECK_FALSE(parse_port("000005060", port));
}

TEST_CASE("SIP and SIPS URIs", "[uri]") {
  Uri u;
  REQUIRE(
      parse_uri(
          "sips:alice:secret@[2001:db8::1]:5061;transport=tls;lr;x=%41?Subject=hi&Priority=urgent",
          u, UriContext::HeaderUri) == UriError::None);
  CHECK(u.scheme == Scheme::Sips);
  CHECK(u.user == "alice");
  CHECK(u.password == "secret");
  CHECK(u.host == "[2001:db8::1]");
  CHECK(u.port == 5061);
  CHECK(u.params == "transport=tls;lr;x=%41");
  CHECK(u.param("TRANSPORT").value == "tls");
  CHECK(u.param("lr").present);
  CHECK(u.param("lr").value.empty());
  CHECK(u.param("x").value == "%41");  // never unescaped here
  CHECK_FALSE(u.param("maddr").present);
  CHECK(u.headers == "Subject=hi&Priority=urgent");

  CHECK(parse_uri("SIP:example.com", u, UriContext::RequestUri) == UriError::None);
  CHECK(u.scheme == Scheme::Sip);
  CHECK(u.user.empty());

  CHECK(parse_uri("sip:a@example.com?h=v", u, UriContext::RequestUri) ==
        UriError::HeadersNotAllowed);
  CHECK(parse_uri("sip:", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("sip:@example.com", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("sip:a%4@example.com", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("sip:a b@example.com", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("sip:a@example.com;", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("sip:a@example.com;transport=", u, UriContext::RequestUri) ==
        UriError::Malformed);
  CHECK(parse_uri("sip:a@example.com;ttl=300", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("sip:a@example.com;maddr=bad..host", u, UriContext::RequestUri) ==
        UriError::Malformed);
  CHECK(parse_uri("sip:a@example.com:", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("sip:a@example.com?", u, UriContext::HeaderUri) == UriError::Malformed);
  CHECK(parse_uri("sip:a@example.com?novalue", u, UriContext::HeaderUri) == UriError::Malformed);
}

TEST_CASE("tel URIs (RFC 3966)", "[uri]") {
  Uri u;
  REQUIRE(parse_uri("tel:+1-201-555-0123;ext=12", u, UriContext::RequestUri) == UriError::None);
  CHECK(u.scheme == Scheme::Tel);
  CHECK(u.user == "+1-201-555-0123");
  CHECK(u.param("ext").value == "12");
  CHECK(parse_uri("tel:7042;phone-context=example.com", u, UriContext::RequestUri) ==
        UriError::None);
  CHECK(parse_uri("tel:7042", u, UriContext::RequestUri) == UriError::Malformed);  // no context
  CHECK(parse_uri("tel:+", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("tel:+12x", u, UriContext::RequestUri) == UriError::Malformed);
}

TEST_CASE("other schemes are checked against absoluteURI only", "[uri]") {
  Uri u;
  REQUIRE(parse_uri("mailto:bob@example.com", u, UriContext::RequestUri) == UriError::None);
  CHECK(u.scheme == Scheme::Other);
  CHECK(u.scheme_name == "mailto");
  CHECK(parse_uri("soap.beep://192.0.2.103:3002", u, UriContext::RequestUri) == UriError::None);
  CHECK(parse_uri("1abc:x", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("noscheme", u, UriContext::RequestUri) == UriError::Malformed);
  CHECK(parse_uri("x:<y>", u, UriContext::RequestUri) == UriError::Malformed);
}
