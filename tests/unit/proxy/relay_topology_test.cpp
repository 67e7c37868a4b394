// Topology hiding (sbc/proxy/relay_topology.cpp): the core's Record-Route entries and Contacts
// leave sealed in tokens of ours and come back restored.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "relay_harness.hpp"

using namespace sbc;
using namespace sbc::test;

TEST_CASE("relay: the core's Record-Route and Contact leave sealed and come back restored",
          "[relay][hiding]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  const sip::Message& fwd = h.parse(sent[0]);
  // The core records its route on top of ours and answers with a Contact of the inside.
  std::string ok = "SIP/2.0 200 OK\r\n";
  for (const sip::HeaderField& f : fwd.headers())
    if (f.id == sip::HeaderId::Via) ok += f.line;
  ok += "Record-Route: <sip:10.0.0.12:5070;lr>, <sip:10.0.0.10:5070;lr>, " +
        all_values(fwd, sip::HeaderId::RecordRoute) + "\r\n";
  ok += "From: " + header(fwd, sip::HeaderId::From) + "\r\nTo: " + header(fwd, sip::HeaderId::To) +
        ";tag=b1\r\nCall-ID: " + header(fwd, sip::HeaderId::CallId) +
        "\r\nCSeq: " + header(fwd, sip::HeaderId::CSeq) +
        "\r\nContact: <sip:bob@10.0.0.30:5060>\r\nContent-Length: 0\r\n\r\n";
  h.from_core(ok);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const sip::Message& answer = h.parse(sent[0]);
  CHECK(answer.status_code() == 200);
  CHECK(std::string(answer.bytes()).find("10.0.0.") == std::string::npos);
  const auto rr = name_addrs(answer, sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  check_entry(rr[0], "198.51.100.1", 5061, TokenKind::Dialog, kAliceFlow);
  // Alice's route set is the list reversed: after ours, the core's in that order.
  CHECK(open_token(rr[0].uri.user)->payload == "<sip:10.0.0.10:5070;lr>, <sip:10.0.0.12:5070;lr>");
  const auto contact = name_addrs(answer, sip::HeaderId::Contact);
  REQUIRE(contact.size() == 1);
  const std::string target(contact[0].uri.text);
  const std::string route(rr[0].text);

  // Alice hangs up: Request-URI her remote target (our sealed Contact), Route her route set.
  const std::string bye = "BYE " + target +
                          " SIP/2.0\r\n"
                          "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKbye1;rport\r\n"
                          "Max-Forwards: 70\r\n"
                          "Route: " +
                          route +
                          "\r\n"
                          "From: <sip:alice@example.com>;tag=a1\r\n"
                          "To: <sip:bob@example.com>;tag=b1\r\n"
                          "Call-ID: call-1@192.168.1.20\r\n"
                          "CSeq: 11 BYE\r\n"
                          "Content-Length: 0\r\n\r\n";
  h.from_outside(bye, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(sent[0].ip == "10.0.0.10");  // the core the first hidden route names
  const sip::Message& up = h.parse(sent[0]);
  CHECK(up.request_uri().text == "sip:bob@10.0.0.30:5060");
  CHECK(all_values(up, sip::HeaderId::Route) == "<sip:10.0.0.10:5070;lr>, <sip:10.0.0.12:5070;lr>");

  // An altered token opens nothing: the request goes on as it is, without the inside routes.
  std::string altered = bye;
  const std::size_t at = altered.find("sbc-", altered.find("Route:")) + 10;
  altered[at] = altered[at] == 'A' ? 'B' : 'A';
  altered.replace(altered.find("z9hG4bKbye1"), 11, "z9hG4bKbye2");
  h.from_outside(altered, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(all_values(h.parse(sent[0]), sip::HeaderId::Route).empty());
}

TEST_CASE("relay: every Contact of a 3xx from the core leaves sealed, a retry gets the original",
          "[relay][hiding]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  const sip::Message& fwd = h.parse(sent[0]);
  // Addresses of the inside in every form a Contact list takes: bracketed with parameters,
  // an addr-spec, several values on one line and a second line.
  const std::string moved = core_answer(
      fwd, 302, "Moved Temporarily", "core1",
      "Contact: <sip:bob@10.0.0.30:5060;transport=udp>;q=0.9, sip:bob@10.0.0.31;expires=60\r\n"
      "Contact: \"Bob mobile\" <sip:bob-mobile@10.0.0.32:5080>;q=0.5\r\n");
  h.from_core(moved);
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);  // the 302 to Alice, our ACK to the core
  REQUIRE(sent[0].outside);
  const sip::Message& answer = h.parse(sent[0]);
  CHECK(answer.status_code() == 302);
  CHECK(std::string(answer.bytes()).find("10.0.0.") == std::string::npos);
  const auto contacts = name_addrs(answer, sip::HeaderId::Contact);
  REQUIRE(contacts.size() == 3);
  const char* originals[] = {"sip:bob@10.0.0.30:5060;transport=udp", "sip:bob@10.0.0.31",
                             "sip:bob-mobile@10.0.0.32:5080"};
  for (std::size_t i = 0; i < contacts.size(); ++i) {
    CHECK(contacts[i].uri.host == "198.51.100.1");
    CHECK(contacts[i].uri.port == 5061);
    CHECK(contacts[i].uri.param("transport").value == "tls");
    const auto token = open_token(contacts[i].uri.user);
    REQUIRE(token);
    CHECK(token->kind == TokenKind::Contact);
    CHECK_FALSE(token->masked_leg);
    CHECK(token->flow == kAliceFlow);
    CHECK(token->payload == originals[i]);
  }
  // What the core said about each target stays with it.
  CHECK(contacts[0].param("q").value == "0.9");
  CHECK(contacts[1].param("expires").value == "60");
  CHECK(contacts[2].display_name == "\"Bob mobile\"");
  CHECK(contacts[2].param("q").value == "0.5");

  // Alice follows the redirection to the second target: the core gets the original URI.
  std::string retry = alice_invite("z9hG4bKinv2");
  retry.replace(retry.find("sip:bob@example.com SIP/2.0"), 19, std::string(contacts[1].uri.text));
  retry.replace(retry.find("CSeq: 10"), 8, "CSeq: 11");
  h.from_outside(retry, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).request_uri().text == "sip:bob@10.0.0.31");
}

TEST_CASE("relay: a 3xx whose Contact list is too long to hide is not relayed", "[relay][hiding]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  const sip::Message& fwd = h.parse(sent[0]);
  std::string list = "Contact: ";
  for (int i = 0; i < 17; ++i)
    list += (i ? ", <sip:u@10.0.1." : "<sip:u@10.0.1.") + std::to_string(i) + ">";
  h.from_core(core_answer(fwd, 300, "Multiple Choices", "core1", list + "\r\n"));
  for (const auto& s : h.wire.take())
    CHECK_FALSE((s.outside && s.bytes.find("10.0.1.") != std::string::npos));
  CHECK(h.relay->stats().too_large.value() == 1);
}
