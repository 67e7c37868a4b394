#include <catch2/catch.hpp>

#include "sbc/sip/fields.hpp"

using namespace sbc::sip;

TEST_CASE("name-addr and addr-spec", "[fields]") {
  NameAddr na;
  {
    Scanner in(R"("Bob \"the builder\" Ünïcode" <sip:bob@example.com;transport=udp>;tag=abc;x)");
    REQUIRE(parse_name_addr(in, na, NameAddrRules::FromTo));
    CHECK(in.at_end());
    CHECK(na.display_name == R"("Bob \"the builder\" Ünïcode")");
    CHECK(na.bracketed);
    CHECK(na.uri.param("transport").value == "udp");
    CHECK(na.tag == "abc");
    CHECK(na.param("x").present);
  }
  {
    // addr-spec form: ;tag belongs to the header, not the URI
    Scanner in("sip:bob@example.com;tag=xyz");
    REQUIRE(parse_name_addr(in, na, NameAddrRules::FromTo));
    CHECK_FALSE(na.bracketed);
    CHECK(na.uri.params.empty());
    CHECK(na.tag == "xyz");
  }
  {
    Scanner in("Bob Smith <sip:bob@example.com>");
    REQUIRE(parse_name_addr(in, na, NameAddrRules::FromTo));
    CHECK(na.display_name == "Bob Smith");
  }
  {
    Scanner in("caller<sip:caller@example.com>");  // lwsdisp
    REQUIRE(parse_name_addr(in, na, NameAddrRules::FromTo));
    CHECK(na.display_name == "caller");
  }
  {
    Scanner in("<sip:a@example.com>;tag=1;tag=2");
    CHECK_FALSE(parse_name_addr(in, na, NameAddrRules::FromTo));
  }
  {
    Scanner in("\"unterminated <sip:a@example.com>");
    CHECK_FALSE(parse_name_addr(in, na, NameAddrRules::FromTo));
  }
  {
    Scanner in("sip:proxy.example.com;lr");  // Route needs name-addr
    CHECK_FALSE(parse_name_addr(in, na, NameAddrRules::RouteLike));
  }
}

TEST_CASE("CSeq and Call-ID", "[fields]") {
  CSeq c;
  REQUIRE(parse_cseq("4711 INVITE", c));
  CHECK(c.number == 4711);
  CHECK(c.method == "INVITE");
  CHECK(parse_cseq("0009\r\n  INVITE", c));
  CHECK_FALSE(parse_cseq("INVITE", c));
  CHECK_FALSE(parse_cseq("1INVITE", c));
  CHECK_FALSE(parse_cseq("99999999999 INVITE", c));
  CHECK_FALSE(parse_cseq("1 INVITE extra", c));
  CHECK(valid_call_id("abc@192.0.2.1"));
  CHECK(valid_call_id("intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"));
  CHECK_FALSE(valid_call_id("a b"));
  CHECK_FALSE(valid_call_id("a@b@c"));
  CHECK_FALSE(valid_call_id(""));
}

TEST_CASE("Digest credentials and challenges", "[fields][auth]") {
  AuthValue a;
  REQUIRE(parse_credentials(
      "Digest username=\"alice\", realm=\"atlanta.example.com\", "
      "nonce=\"84a4cc6f3082121f32b42a2187831a9e\", "
      "uri=\"sip:alice@atlanta.example.com\", "
      "response=\"7587245234b3434cc3412213e5f113a5432d0c2a6b8e1b7c6e2b2f6a9c1d4e5f\", "
      "algorithm=SHA-256, cnonce=\"0a4f113b\", qop=auth, nc=00000001, opaque=\"x\"",
      a));
  CHECK(a.is_digest());
  CHECK(a.param("username").value == "\"alice\"");
  CHECK(unquote(a.param("realm").value) == "atlanta.example.com");
  CHECK(a.param("algorithm").value == "SHA-256");
  CHECK(a.param("nc").value == "00000001");

  // qop without cnonce and nc; a response of the wrong length; a duplicate parameter
  CHECK_FALSE(
      parse_credentials("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", "
                        "response=\"0123456789abcdef0123456789abcdef\", qop=auth",
                        a));
  CHECK_FALSE(
      parse_credentials("Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:x\", "
                        "response=\"0123\"",
                        a));
  CHECK_FALSE(
      parse_credentials("Digest username=\"a\", username=\"b\", realm=\"r\", nonce=\"n\", "
                        "uri=\"sip:x\", response=\"0123456789abcdef0123456789abcdef\"",
                        a));
  CHECK(parse_credentials("NoOneKnowsThisScheme opaque-data=here", a));
  CHECK_FALSE(a.is_digest());
  CHECK_FALSE(parse_credentials("Digest", a));

  REQUIRE(
      parse_challenge("Digest realm=\"example.com\", qop=\"auth,auth-int\", "
                      "nonce=\"abc\", algorithm=SHA-256, stale=TRUE, opaque=\"o\"",
                      a));
  CHECK(a.param("qop").value == "\"auth,auth-int\"");
  CHECK_FALSE(parse_challenge("Digest realm=\"example.com\", qop=auth, nonce=\"abc\"", a));
  CHECK_FALSE(parse_challenge("Digest nonce=\"abc\"", a));
}

TEST_CASE("small grammars", "[fields]") {
  CHECK(valid_option_tags("100rel, timer ,path", false));
  CHECK(valid_option_tags("", true));
  CHECK_FALSE(valid_option_tags("", false));
  CHECK_FALSE(valid_option_tags("a,,b", false));
  CHECK(valid_content_type("multipart/mixed; boundary=\"x y\""));
  CHECK(valid_content_type("application/sdp"));
  CHECK_FALSE(valid_content_type("application/"));
  CHECK_FALSE(valid_content_type("application/sdp;charset"));
  CHECK(valid_user_agent("friendly-scanner"));
  CHECK(valid_user_agent("Foo/1.0 (comment (nested) \\) ) Bar"));
  CHECK_FALSE(valid_user_agent("((((((((((((((((((deep))))))))))))))))))"));
  CHECK_FALSE(valid_user_agent("Foo/"));
  CHECK(valid_sip_date("Sat, 13 Nov 2010 23:29:00 GMT"));
  CHECK_FALSE(valid_sip_date("Fri, 01 Jan 2010 16:00:00 EST"));
  CHECK_FALSE(valid_sip_date("Sat 13 Nov 2010 23:29:00 GMT "));
  std::uint32_t s = 0;
  CHECK(parse_delta_seconds("3600", s));
  CHECK(s == 3600);
  CHECK(parse_delta_seconds("99999999999999999999", s));
  CHECK(s == 0xFFFFFFFFu);
  CHECK_FALSE(parse_delta_seconds("1h", s));
}
