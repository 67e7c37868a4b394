#include <catch2/catch.hpp>

#include <memory>
#include <string>

#include "sbc/sip/editor.hpp"
#include "tests/support/sip_samples.hpp"

using namespace sbc::sip;

namespace {

// Parses `bytes` into `m`, requiring it to be valid.
void must_parse(Message& m, const std::string& bytes) {
  const Verdict v = m.parse(bytes, Framing::Datagram, Limits{});
  INFO(v.reason);
  REQUIRE(v.is_valid());
}

const std::string kRouted =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP edge.example.com;branch=z9hG4bKedge, SIP/2.0/UDP "
    "pc33.example.com;branch=z9hG4bK1\r\n"
    "Max-Forwards: 69\r\n"
    "Route: <sip:edge.example.com;lr>\r\n"
    "Route: <sip:core.example.com;lr>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=9fx\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: c@a\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: sip:alice@192.0.2.5:5060\r\n"
    "P-Asserted-Identity: <sip:mallory@example.com>\r\n"
    "X-Untouched:   kept   as written  \r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 5\r\n"
    "\r\n"
    "hello";

}  // namespace

TEST_CASE("no edits reproduce the message byte for byte", "[editor]") {
  auto m = std::make_unique<Message>();
  const std::string bytes(sbc::test::kInvite);
  must_parse(*m, bytes);
  MessageEditor editor(*m);
  std::string out;
  REQUIRE(editor.write(out));
  CHECK(out == bytes);
  CHECK(editor.size() == bytes.size());
}

TEST_CASE("relay edits keep every untouched byte and a correct Content-Length", "[editor]") {
  auto m = std::make_unique<Message>();
  must_parse(*m, kRouted);
  MessageEditor e(*m);
  REQUIRE(e.remove_top_via());
  REQUIRE(e.prepend_via("SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKnew"));
  REQUIRE(e.remove_top_route());
  REQUIRE(e.add_record_route("<sip:edge.example.com;lr>"));
  REQUIRE(e.decrement_max_forwards());
  REQUIRE(e.set_request_uri("sip:bob@10.0.0.7:5060"));
  REQUIRE(e.rewrite_contact_uri("sip:token@edge.example.com;ob"));
  REQUIRE(e.remove_headers(HeaderId::PAssertedIdentity));
  REQUIRE(e.add_header("X-Added", "1"));
  REQUIRE(e.set_body("hello, world"));
  std::string out;
  REQUIRE(e.write(out));
  CHECK(out ==
        "INVITE sip:bob@10.0.0.7:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 10.0.0.1:5060;branch=z9hG4bKnew\r\n"
        "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1\r\n"
        "Max-Forwards: 68\r\n"
        "Route: <sip:core.example.com;lr>\r\n"
        "From: Alice <sip:alice@atlanta.example.com>;tag=9fx\r\n"
        "To: Bob <sip:bob@biloxi.example.com>\r\n"
        "Call-ID: c@a\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:token@edge.example.com;ob>\r\n"
        "X-Untouched:   kept   as written  \r\n"
        "Content-Type: text/plain\r\n"
        "Content-Length: 12\r\n"
        "Record-Route: <sip:edge.example.com;lr>\r\n"
        "X-Added: 1\r\n"
        "\r\n"
        "hello, world");
  CHECK(e.size() == out.size());

  // The result is itself a valid message with the expected fields.
  auto again = std::make_unique<Message>();
  must_parse(*again, out);
  CHECK(again->max_forwards() == 68);
  CHECK(again->via_count() == 2);
  CHECK(again->top_via().branch == "z9hG4bKnew");
  CHECK(again->count(HeaderId::PAssertedIdentity) == 0);
}

TEST_CASE("the top Via of a line of several goes with its comma and white space, folding too",
          "[editor]") {
  auto m = std::make_unique<Message>();
  const std::string response =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP edge.example.com;branch=z9hG4bKedge ,\r\n\t SIP/2.0/UDP "
      "pc33.example.com;branch=z9hG4bK1 , SIP/2.0/UDP pc34.example.com;branch=z9hG4bK2\r\n"
      "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: x\r\n"
      "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
  must_parse(*m, response);
  MessageEditor e(*m);
  REQUIRE(e.remove_top_via());
  std::string out;
  REQUIRE(e.write(out));
  CHECK(out ==
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1 , SIP/2.0/UDP "
        "pc34.example.com;branch=z9hG4bK2\r\n"
        "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: x\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("a single-value Via line is removed whole, a missing Max-Forwards is added", "[editor]") {
  auto m = std::make_unique<Message>();
  const std::string response =
      "SIP/2.0 200 OK\r\n"
      "Via: SIP/2.0/UDP edge.example.com;branch=z9hG4bKedge\r\n"
      "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1\r\n"
      "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: x\r\n"
      "CSeq: 1 OPTIONS\r\n\r\n";
  must_parse(*m, response);
  MessageEditor e(*m);
  REQUIRE(e.remove_top_via());
  std::string out;
  REQUIRE(e.write(out));
  // No Content-Length in the datagram: one is added so the result can go over TCP too.
  CHECK(out ==
        "SIP/2.0 200 OK\r\n"
        "Via: SIP/2.0/UDP pc33.example.com;branch=z9hG4bK1\r\n"
        "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>;tag=2\r\nCall-ID: x\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n");
  CHECK_FALSE(MessageEditor(*m).decrement_max_forwards());  // responses have none to add
}

TEST_CASE("edits that cannot apply say so", "[editor]") {
  auto m = std::make_unique<Message>();
  const std::string bytes(sbc::test::kInvite);
  must_parse(*m, bytes);
  MessageEditor e(*m);
  CHECK_FALSE(e.remove_top_route());
  CHECK_FALSE(e.remove_headers("X-Nothing"));
  // Overlapping edits are refused at write time rather than producing garbage.
  REQUIRE(e.remove_headers(HeaderId::Contact));
  REQUIRE(e.rewrite_contact_uri("sip:x@example.com"));
  std::string out;
  CHECK_FALSE(e.write(out));
  char small[16];
  CHECK(MessageEditor(*m).write(std::span<char>(small)) == 0);
}

TEST_CASE("Max-Forwards is decremented from at most the ceiling", "[editor]") {
  auto m = std::make_unique<Message>();
  auto forwarded = [&m](std::string_view mf, int ceiling) {
    std::string bytes =
        "OPTIONS sip:b@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n";
    if (!mf.empty()) bytes += "Max-Forwards: " + std::string(mf) + "\r\n";
    bytes +=
        "From: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: x\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    must_parse(*m, bytes);
    MessageEditor e(*m);
    std::string out;
    if (!e.decrement_max_forwards(ceiling) || !e.write(out)) return std::string("refused");
    const auto at = out.find("Max-Forwards: ");
    return out.substr(at + 14, out.find("\r\n", at) - at - 14);
  };
  CHECK(forwarded("70", 70) == "69");
  CHECK(forwarded("255", 70) == "69");  // clamped
  CHECK(forwarded("10", 70) == "9");
  CHECK(forwarded("1", 70) == "0");
  CHECK(forwarded("0", 70) == "refused");  // 483 is the caller's answer
}

TEST_CASE("editor: strip_headers removes every one or says it could not", "[editor]") {
  // 40 identity headers: adjacent ones cost one edit, interleaved ones one edit each, beyond
  // the editor's capacity: strip_headers says so rather than leaving some behind silently.
  for (const bool interleaved : {false, true}) {
    std::string text =
        "MESSAGE sip:bob@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKs1\r\n"
        "From: <sip:a@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n"
        "Call-ID: c\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\n";
    for (int i = 0; i < 40; ++i) {
      text += (i % 2 == 0 ? "P-Asserted-Identity" : "p-asserted-IDENTITY");
      text += ": <sip:ceo@example.com>\r\n";
      if (interleaved) text += "X-F: " + std::to_string(i) + "\r\n";
    }
    text += "Content-Length: 0\r\n\r\n";
    auto m = std::make_unique<sbc::sip::Message>();
    REQUIRE(m->parse(text, sbc::sip::Framing::Datagram, {}).is_valid());
    sbc::sip::MessageEditor e(*m);
    if (!interleaved) {
      REQUIRE(e.strip_headers("P-Asserted-Identity"));
      REQUIRE(e.prepend_via("SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx"));
      std::string out;
      REQUIRE(e.write(out));
      CHECK(out.find("sserted") == std::string::npos);
      CHECK(out.find("IDENTITY") == std::string::npos);
    } else {
      CHECK_FALSE(e.strip_headers("P-Asserted-Identity"));
    }
    // A header that is not there is stripped already.
    sbc::sip::MessageEditor none(*m);
    CHECK(none.strip_headers("Remote-Party-ID"));
    CHECK(none.strip_headers(sbc::sip::HeaderId::Path));
  }
}
