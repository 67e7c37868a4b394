// The relay's routing (sbc/proxy/relay_routing.cpp): requests from the core down our Path and
// Route entries, requests without them, ACKs for 2xx, loops (482), dialog protection (bound
// tokens) and the trust boundary (asserted identity, spent credentials).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "relay_harness.hpp"

using namespace sbc;
using namespace sbc::test;

TEST_CASE("relay: a request from the core follows our Path down the user's flow, Vias hidden",
          "[relay]") {
  Harness h;
  h.from_core(core_invite());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].outside);
  CHECK(sent[0].flow == kAliceFlow);
  const sip::Message& down = h.parse(sent[0]);
  CHECK(down.via_count() == 1);
  CHECK(down.top_via().transport == "TLS");
  CHECK(down.top_via().host == "198.51.100.1");
  CHECK(down.top_via().port == 5061);
  CHECK(std::string(down.bytes()).find("10.0.0.20:5060;branch") == std::string::npos);
  CHECK(down.find(sip::HeaderId::Route) == nullptr);
  // One Record-Route entry of ours; the core's own travels sealed inside it.
  const auto rr = name_addrs(down, sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  check_entry(rr[0], "198.51.100.1", 5061, TokenKind::Dialog, kAliceFlow);
  CHECK(open_token(rr[0].uri.user)->payload == "<sip:10.0.0.10:5070;lr>");
  // Carol's Contact is ours too, with hers sealed inside.
  const auto contact = name_addrs(down, sip::HeaderId::Contact);
  REQUIRE(contact.size() == 1);
  CHECK(contact[0].uri.host == "198.51.100.1");
  CHECK(open_token(contact[0].uri.user)->payload == "sip:carol@10.0.0.20:5060");
  // Nothing of the inside shows but the Call-ID, which the core chose (relay.mask_call_id
  // hides it too; off here).
  std::string shown(down.bytes());
  shown.erase(shown.find("Call-ID:"),
              shown.find("\r\n", shown.find("Call-ID:")) - shown.find("Call-ID:"));
  CHECK(shown.find("10.0.0.") == std::string::npos);
  const std::string hidden_rr(rr[0].text);
  CHECK_FALSE(sent[1].outside);
  CHECK(h.parse(sent[1]).status_code() == 100);

  // Alice answers over her flow: the core gets its own Via stack back.
  std::string ok = "SIP/2.0 200 OK\r\n";
  ok += "Via: " + header(h.parse(sent[0]), sip::HeaderId::Via) + "\r\n";
  ok += "Record-Route: " + hidden_rr + "\r\n";
  ok +=
      "From: <sip:carol@example.com>;tag=c1\r\n"
      "To: <sip:alice@example.com>;tag=a9\r\n"
      "Call-ID: call-2@10.0.0.20\r\n"
      "CSeq: 1 INVITE\r\n"
      "Contact: <sip:alice@192.168.1.20:5061;transport=tls>\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_outside(ok, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(sent[0].ip == "10.0.0.10");
  CHECK(sent[0].port == 5070);
  const sip::Message& up = h.parse(sent[0]);
  CHECK(up.status_code() == 200);
  CHECK(up.via_count() == 2);
  CHECK(up.top_via().branch == "z9hG4bKcore1");
  // The core gets the Record-Route list it would have seen without hiding.
  const auto restored = name_addrs(up, sip::HeaderId::RecordRoute);
  REQUIRE(restored.size() == 3);
  check_entry(restored[0], "198.51.100.1", 5061, TokenKind::Flow, kAliceFlow);
  check_entry(restored[1], "10.0.0.1", 15060, TokenKind::Flow, kAliceFlow);
  CHECK(restored[2].text == "<sip:10.0.0.10:5070;lr>");
  CHECK(h.relay->stats().responses_to_core.value() == 1);
}

TEST_CASE("relay: the Route entries after ours go on in order, however many there are", "[relay]") {
  // The relay keeps a few Route entries of the message at hand parsed; more are parsed as
  // they come: both give the same request.
  for (const int others : {2, 12}) {
    Harness h;
    std::string routes;
    for (int i = 1; i <= others; ++i) {
      routes += ", <sip:h";
      routes += std::to_string(i);
      routes += ".example.com;lr>";
    }
    const std::string invite =
        std::string("INVITE sip:alice@192.168.1.20:5061;transport=tls SIP/2.0\r\n") +
        "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=z9hG4bKcore1\r\n"
        "Max-Forwards: 69\r\n"
        "Route: <sip:" +
        seal(TokenKind::Flow, kAliceFlow) + "@10.0.0.1:15060;transport=udp;lr>" + routes +
        "\r\n"
        "From: <sip:carol@example.com>;tag=c1\r\n"
        "To: <sip:alice@example.com>\r\n"
        "Call-ID: call-2@10.0.0.20\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:carol@10.0.0.20:5060>\r\n"
        "Content-Length: 0\r\n\r\n";
    h.from_core(invite);
    auto sent = h.wire.take();
    REQUIRE(sent.size() == 2);
    CHECK(sent[0].outside);
    CHECK(sent[0].flow == kAliceFlow);
    const auto left = name_addrs(h.parse(sent[0]), sip::HeaderId::Route);
    REQUIRE(left.size() == static_cast<std::size_t>(others));
    for (int i = 0; i < others; ++i) {
      std::string host = "h";
      host += std::to_string(i + 1);
      host += ".example.com";
      CHECK(left[static_cast<std::size_t>(i)].uri.host == host);
    }
  }
}

TEST_CASE("relay: requests from the core without our route get 403, for a gone flow 430",
          "[relay]") {
  Harness h;
  std::string request =
      "MESSAGE sip:alice@192.168.1.20 SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=z9hG4bKm1\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:carol@example.com>;tag=c1\r\n"
      "To: <sip:alice@example.com>\r\n"
      "Call-ID: m-1@10.0.0.10\r\n"
      "CSeq: 1 MESSAGE\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_core(request);
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 403);
  CHECK(h.relay->stats().not_routable.value() == 1);

  // A token that is not sealed by us (forged, altered) routes nowhere.
  const std::string forged = std::string(request).insert(
      request.find("From:"), "Route: <sip:sbc-0100000200000003@10.0.0.1:15060;lr>\r\n");
  h.from_core(forged);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 403);
  CHECK(h.relay->stats().not_routable.value() == 2);

  const std::string routed = std::string(request).insert(
      request.find("From:"),
      "Route: <sip:" + seal(TokenKind::Flow, 0x0100000900000009ull) + "@10.0.0.1:15060;lr>\r\n");
  h.from_core(routed);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 430);
  CHECK(h.relay->stats().flow_failed.value() == 1);
}

TEST_CASE("relay: an ACK for a 2xx is routed without a transaction", "[relay]") {
  Harness h;
  const std::string ack =
      "ACK sip:bob@10.0.0.30:5060 SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKack1;rport\r\n"
      "Max-Forwards: 70\r\n"
      "Route: <sip:" +
      seal(TokenKind::Flow, kAliceFlow, {}, "203.0.113.5", &kAliceDialog) +
      "@198.51.100.1:5061;transport=tls;lr>, "
      "<sip:" +
      seal(TokenKind::Flow, kAliceFlow) +
      "@10.0.0.1:15060;transport=udp;lr>, <sip:10.0.0.10:5070;lr>\r\n"
      "From: <sip:alice@example.com>;tag=a1\r\n"
      "To: <sip:bob@example.com>;tag=b1\r\n"
      "Call-ID: call-1@192.168.1.20\r\n"
      "CSeq: 10 ACK\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_outside(ack, alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(sent[0].ip == "10.0.0.10");
  const sip::Message& fwd = h.parse(sent[0]);
  CHECK(fwd.method() == sip::Method::Ack);
  CHECK(all_values(fwd, sip::HeaderId::Route) == "<sip:10.0.0.10:5070;lr>");
  CHECK(fwd.top_via().branch.starts_with("z9hG4bKsbA"));
  const std::string branch(fwd.top_via().branch);
  // A retransmitted ACK keeps its branch.
  h.from_outside(ack, alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).top_via().branch == branch);
  CHECK(h.relay->stats().stateless_forwarded.value() == 2);
  CHECK(h.relay->active_transactions() == 0);
}

TEST_CASE("relay: a request that comes back unchanged is a loop (482)", "[relay]") {
  Harness h;
  h.from_outside(alice_invite(), alice_flow());
  auto sent = h.wire.take();
  // The core sends it straight back to our outside listener.
  std::string looped = sent[0].bytes;
  looped.insert(looped.find("Via:"), "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=z9hG4bKcoreL\r\n");
  FlowInfo from_core = bob_flow();
  from_core.remote_ip = "10.0.0.10";
  h.from_outside(looped, from_core);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 482);
  CHECK(h.relay->stats().loops.value() == 1);
}

TEST_CASE("relay: requests inside a dialog only through our entry, from the party it was issued to",
          "[relay][dialog]") {
  Harness h;
  auto sent = alice_call_answered(h);
  const auto rr = name_addrs(h.parse(sent[0]), sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  const auto token = open_token(rr[0].uri.user);
  REQUIRE(token);
  CHECK(token->participant == *sbc::parse_address("203.0.113.5"));
  const std::string route(rr[0].text);
  auto bye = [&](std::string_view route_header, std::string_view branch) {
    return "BYE sip:bob@10.0.0.30:5060 SIP/2.0\r\n"
           "Via: SIP/2.0/UDP 203.0.113.77:5060;branch=" +
           std::string(branch) +
           "\r\n"
           "Max-Forwards: 70\r\n" +
           (route_header.empty() ? std::string() : "Route: " + std::string(route_header) + "\r\n") +
           "From: <sip:alice@example.com>;tag=a1\r\n"
           "To: <sip:bob@example.com>;tag=b1\r\n"
           "Call-ID: call-1@192.168.1.20\r\n"
           "CSeq: 11 BYE\r\n"
           "Content-Length: 0\r\n\r\n";
  };
  // A third party without our entry: 481, nothing reaches the core.
  FlowInfo mallory = bob_flow();
  mallory.remote_ip = "203.0.113.77";
  h.from_outside(bye({}, "z9hG4bKm1"), mallory);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].outside);
  CHECK(h.parse(sent[0]).status_code() == 481);
  // With Alice's entry copied from somewhere, but from its own address: 481 as well.
  h.from_outside(bye(route, "z9hG4bKm2"), mallory);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 481);
  CHECK(h.relay->stats().dialog_refused.value() == 2);
  // Alice herself, from her address (a new connection is fine): relayed to the core.
  FlowInfo alice_again = alice_flow();
  alice_again.remote_port = 40001;
  h.from_outside(bye(route, "z9hG4bKa1"), alice_again);
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.parse(sent[0]).method() == sip::Method::Bye);
  CHECK(token->bound);
}

TEST_CASE("relay: a dialog's entry opens that dialog only, and not forever", "[relay][dialog]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.dialog_token_lifetime = 3600s; });
  auto sent = alice_call_answered(h);
  const auto rr = name_addrs(h.parse(sent[0]), sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  const std::string route(rr[0].text);
  auto request = [&](std::string_view method, std::string_view ruri, std::string_view call_id,
                     std::string_view from_tag, std::string_view to_tag, int n) {
    return std::string(method) + " " + std::string(ruri) +
           " SIP/2.0\r\n"
           "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKd" +
           std::to_string(n) +
           "\r\n"
           "Max-Forwards: 70\r\n"
           "Route: " +
           route +
           "\r\n"
           "From: <sip:alice@example.com>;tag=" +
           std::string(from_tag) + "\r\nTo: <sip:bob@example.com>;tag=" + std::string(to_tag) +
           "\r\nCall-ID: " + std::string(call_id) + "\r\nCSeq: " + std::to_string(20 + n) + " " +
           std::string(method) + "\r\nContent-Length: 0\r\n\r\n";
  };
  auto refused = [&](const std::string& bytes) {
    h.from_outside(bytes, alice_flow());
    auto out = h.wire.take();
    return out.size() == 1 && out[0].outside && h.parse(out[0]).status_code() == 481;
  };
  const std::uint64_t before = h.relay->stats().requests_to_core.value();
  // Her own address, her own entry, but a dialog she invents (a call to a premium number with a
  // made-up Call-ID and To tag): 481, nothing reaches the core.
  CHECK(
      refused(request("INVITE", "sip:+19005550100@premium.example", "invented-1", "a1", "x1", 1)));
  CHECK(refused(request("INVITE", "sip:+19005550100@premium.example", "call-1@192.168.1.20",
                        "other", "x1", 2)));
  CHECK(refused(request("MESSAGE", "sip:bob@10.0.0.30", "invented-2", "zz", "a1", 3)));
  CHECK(h.relay->stats().dialog_refused.value() == 3);
  CHECK(h.relay->stats().requests_to_core.value() == before);
  // Her real dialog: relayed, whichever side's tag is in From.
  h.from_outside(request("INFO", "sip:bob@10.0.0.30:5060", "call-1@192.168.1.20", "a1", "b1", 4),
                 alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  h.from_outside(request("INFO", "sip:bob@10.0.0.30:5060", "call-1@192.168.1.20", "b1", "a1", 5),
                 alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  // A REGISTER is never in a dialog: its To tag asks for nothing (it goes on as a REGISTER, for
  // the policies to challenge), it is not refused as a dialog request.
  h.from_outside(request("REGISTER", "sip:example.com", "invented-3", "r1", "r2", 6), alice_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
  CHECK(h.relay->stats().dialog_refused.value() == 3);
  // After the entry's lifetime, even her real dialog is refused.
  h.now += 3601s;
  CHECK(refused(request("INFO", "sip:bob@10.0.0.30:5060", "call-1@192.168.1.20", "a1", "b1", 7)));
}

TEST_CASE(
    "relay: after authentication at the edge the core gets the identity, not the "
    "credentials, also after a fail-over",
    "[relay][auth]") {
  Harness h = two_cores();
  std::string reg = alice_register();
  const std::string credentials =
      "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"n\", "
      "uri=\"sip:example.com\", response=\"00112233445566778899aabbccddeeff\"\r\n";
  const std::string core_credentials =
      "Authorization: Digest username=\"alice\", realm=\"core\", nonce=\"m\", "
      "uri=\"sip:example.com\", response=\"00112233445566778899aabbccddeeff\"\r\n";
  reg.insert(reg.find("Expires:"), credentials + core_credentials);
  h.in_bytes = reg;
  REQUIRE(h.in->parse(h.in_bytes, sip::Framing::Stream, {}).is_valid());
  FlowInfo flow = alice_flow();
  flow.asserted_identity = "<sip:alice@example.com>";
  for (const sip::HeaderField& f : h.in->headers())
    if (f.id == sip::HeaderId::Authorization && f.line == credentials)
      flow.consumed_credentials = f.line;
  REQUIRE_FALSE(flow.consumed_credentials.empty());
  h.relay->request_from_outside(*h.in, flow);
  auto check_sent = [&h](const FakeWire::Sent& s) {
    const sip::Message& m = h.parse(s);
    // The client's own P-Asserted-Identity is gone; ours is the only one.
    CHECK(header(m, sip::HeaderId::PAssertedIdentity) == "<sip:alice@example.com>");
    CHECK(m.count(sip::HeaderId::PAssertedIdentity) == 1);
    // The credentials we checked are spent; the core's own (another realm) stay.
    REQUIRE(m.count(sip::HeaderId::Authorization) == 1);
    CHECK(header(m, sip::HeaderId::Authorization).find("realm=\"core\"") != std::string::npos);
  };
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].ip == "10.0.0.10");
  check_sent(sent[0]);
  h.advance(2000ms);  // the first core is silent: the second gets the same
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK(sent.back().ip == "10.0.0.11");
  check_sent(sent.back());
}
