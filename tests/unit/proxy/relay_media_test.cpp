// Media anchoring in the relay (sbc/proxy/relay_media.cpp) through a fake media port: an offer
// goes to the media relay before the request goes on, with the body it rewrote; the answer in
// the 2xx likewise; the session is deleted when the call ends; a media relay that fails refuses
// the call (503) or lets it through unanchored (media.on_failure).
#include <catch2/catch.hpp>

#include <string>

#include "relay_harness.hpp"
#include "sbc/proxy/media_port.hpp"

using namespace sbc;
using namespace sbc::test;

namespace {

struct FakeMedia : proxy::MediaPort {
  struct Request {
    proxy::MediaOp op;
    std::string session, from_tag, to_tag, sdp;
    bool from_outside;
    proxy::MediaDone done;
    std::string transport_protocol;
    std::string received_from;
  };
  std::vector<Request> requests;
  void request(proxy::MediaOp op, const proxy::MediaCall& call,
               proxy::MediaDone done) noexcept override {
    requests.push_back({op, std::string(call.session), std::string(call.from_tag),
                        std::string(call.to_tag), std::string(call.sdp), call.from_outside,
                        std::move(done), std::string(call.transport_protocol),
                        std::string(call.received_from)});
  }
  void complete(std::size_t i, bool ok, std::string_view sdp = {}) {
    proxy::MediaResult r;
    r.ok = ok;
    r.sdp = sdp;
    r.error = ok ? "" : "timeout";
    requests.at(i).done(r);
  }
};

std::string sdp(std::string_view address, int port) {
  return "v=0\r\no=- 1 1 IN IP4 " + std::string(address) + "\r\ns=-\r\nc=IN IP4 " +
         std::string(address) + "\r\nt=0 0\r\nm=audio " + std::to_string(port) + " RTP/AVP 0\r\n";
}

// `message` (ending in "Content-Length: 0" and the empty line) with an SDP body.
std::string with_sdp(std::string message, std::string_view body) {
  const std::string empty = "Content-Length: 0\r\n\r\n";
  const std::size_t at = message.rfind(empty);
  REQUIRE(at != std::string::npos);
  message.replace(at, empty.size(),
                  "Content-Type: application/sdp\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + std::string(body));
  return message;
}

const std::string kAliceSdp = sdp("192.168.1.20", 4000);
const std::string kOutsideOffer = sdp("10.9.9.9", 30000);       // what the core may see
const std::string kCoreAnswer = sdp("10.0.0.30", 5000);         // the callee behind the core
const std::string kInsideAnswer = sdp("198.51.100.50", 30002);  // what alice may see

std::vector<FakeWire::Sent> of_side(const std::vector<FakeWire::Sent>& sent, bool outside) {
  std::vector<FakeWire::Sent> out;
  for (const auto& s : sent)
    if (s.outside == outside) out.push_back(s);
  return out;
}

struct Call {
  Harness h;
  FakeMedia media;
  std::string to_core;  // the INVITE as the core got it
  explicit Call(
      proxy::RelaySettings::MediaFailure on_failure = proxy::RelaySettings::MediaFailure::Reject)
      : h(64, [on_failure](proxy::RelaySettings& s) { s.media_on_failure = on_failure; }) {
    h.relay->set_media_port(&media);
  }
  void invite() { h.from_outside(with_sdp(alice_invite(), kAliceSdp), alice_flow()); }
  // Alice's INVITE, its offer anchored as kOutsideOffer and relayed: to_core is what the core got.
  void anchored_invite() {
    invite();
    h.wire.take();
    media.complete(0, true, kOutsideOffer);
    to_core = of_side(h.wire.take(), false).at(0).bytes;
  }
  void core_answers(int status, std::string_view reason, std::string_view body) {
    h.keep = to_core;
    sip::Message m;
    REQUIRE(m.parse(h.keep, sip::Framing::Datagram, {}).is_valid());
    h.from_core(with_sdp(core_answer(m, status, reason, "b1"), body));
  }
};

}  // namespace

TEST_CASE(
    "relay: the offer and the answer are anchored before they go on, BYE deletes the "
    "session",
    "[relay][media]") {
  Call c;
  c.invite();
  auto sent = c.h.wire.take();
  CHECK(of_side(sent, false).empty());  // the core waits for the anchored offer
  REQUIRE(of_side(sent, true).size() == 1);
  CHECK(c.h.parse(of_side(sent, true)[0]).status_code() == 100);
  REQUIRE(c.media.requests.size() == 1);
  CHECK(c.media.requests[0].op == proxy::MediaOp::Offer);
  CHECK(c.media.requests[0].session == "call-1@192.168.1.20~o");
  CHECK(c.media.requests[0].from_tag == "a1");
  CHECK(c.media.requests[0].sdp == kAliceSdp);
  CHECK(c.media.requests[0].from_outside);
  CHECK(c.media.requests[0].received_from == "203.0.113.5");  // her SIP's source (NAT)
  // A retransmission meanwhile is absorbed, not offered again.
  c.invite();
  CHECK(c.media.requests.size() == 1);
  c.h.wire.take();

  c.media.complete(0, true, kOutsideOffer);
  sent = of_side(c.h.wire.take(), false);
  REQUIRE(sent.size() == 1);
  c.to_core = sent[0].bytes;
  const sip::Message& invite = c.h.parse(sent[0]);
  CHECK(invite.body() == kOutsideOffer);
  CHECK(invite.content_length() == static_cast<long>(kOutsideOffer.size()));
  CHECK(c.to_core.find("192.168.1.20 ") == std::string::npos);

  c.core_answers(200, "OK", kCoreAnswer);
  CHECK(c.h.wire.take().empty());  // alice waits for the anchored answer
  REQUIRE(c.media.requests.size() == 2);
  CHECK(c.media.requests[1].op == proxy::MediaOp::Answer);
  CHECK(c.media.requests[1].to_tag == "b1");
  CHECK(c.media.requests[1].sdp == kCoreAnswer);
  CHECK_FALSE(c.media.requests[1].from_outside);
  CHECK(c.media.requests[1].received_from.empty());  // the inside's SDP is trusted
  c.media.complete(1, true, kInsideAnswer);
  sent = of_side(c.h.wire.take(), true);
  REQUIRE(sent.size() == 1);
  const sip::Message& ok = c.h.parse(sent[0]);
  CHECK(ok.status_code() == 200);
  CHECK(ok.body() == kInsideAnswer);
  CHECK(sent[0].bytes.find("10.0.0.30") == std::string::npos);
  // The core's 2xx retransmission goes out as the first one did, without asking again.
  c.core_answers(200, "OK", kCoreAnswer);
  sent = of_side(c.h.wire.take(), true);
  REQUIRE(sent.size() == 1);
  CHECK(c.h.parse(sent[0]).body() == kInsideAnswer);
  CHECK(c.media.requests.size() == 2);
  CHECK(c.h.relay->stats().media_sessions_opened.value() == 1);

  // Bob hangs up at the core: the call's session goes.
  c.h.from_core(
      "BYE sip:alice@192.168.1.20:5061;transport=tls SIP/2.0\r\n"
      "Via: SIP/2.0/UDP 10.0.0.10:5070;branch=z9hG4bKbye9\r\nMax-Forwards: 70\r\n"
      "Route: <sip:" +
      seal(TokenKind::Flow, kAliceFlow) +
      "@10.0.0.1:15060;lr>\r\n"
      "From: <sip:bob@example.com>;tag=b1\r\nTo: <sip:alice@example.com>;tag=a1\r\n"
      "Call-ID: call-1@192.168.1.20\r\nCSeq: 5 BYE\r\nContent-Length: 0\r\n\r\n");
  REQUIRE(c.media.requests.size() == 3);
  CHECK(c.media.requests[2].op == proxy::MediaOp::Delete);
  CHECK(c.media.requests[2].session == "call-1@192.168.1.20~o");
  CHECK(c.h.relay->stats().media_sessions_closed.value() == 1);
}

TEST_CASE(
    "relay: a media relay that fails refuses the call (reject) or lets it through "
    "unanchored (pass)",
    "[relay][media]") {
  SECTION("reject: 503, the core never sees the offer") {
    Call c;
    c.invite();
    c.h.wire.take();
    c.media.complete(0, false);
    const auto sent = c.h.wire.take();
    CHECK(of_side(sent, false).empty());
    REQUIRE(of_side(sent, true).size() == 1);
    const sip::Message& answer = c.h.parse(of_side(sent, true)[0]);
    CHECK(answer.status_code() == 503);
    CHECK(answer.reason_phrase() == "Service Unavailable (media relay unavailable)");
    CHECK(c.h.relay->active_dialogs() == 0);
    CHECK(c.h.relay->stats().media_failed[0].value() == 1);
  }
  SECTION("pass: the offer goes as it came, counted") {
    Call c(proxy::RelaySettings::MediaFailure::Pass);
    c.invite();
    c.h.wire.take();
    c.media.complete(0, false);
    const auto sent = of_side(c.h.wire.take(), false);
    REQUIRE(sent.size() == 1);
    CHECK(c.h.parse(sent[0]).body() == kAliceSdp);
    CHECK(c.h.relay->stats().media_unanchored.value() == 1);
    // Its answer is not anchored either: no session was made.
    c.to_core = sent[0].bytes;
    c.core_answers(200, "OK", kCoreAnswer);
    CHECK(c.media.requests.size() == 1);
    CHECK(c.h.parse(of_side(c.h.wire.take(), true).at(0)).body() == kCoreAnswer);
  }
  SECTION("reject: an answer that fails gets the caller 503, never the inside's SDP") {
    Call c;
    c.anchored_invite();
    c.core_answers(200, "OK", kCoreAnswer);
    c.media.complete(1, false);
    const auto sent = of_side(c.h.wire.take(), true);
    REQUIRE(sent.size() == 1);
    CHECK(c.h.parse(sent[0]).status_code() == 503);
    CHECK(sent[0].bytes.find("10.0.0.30") == std::string::npos);
    // The call is over: its session (opened by the offer) is deleted.
    REQUIRE(c.media.requests.size() == 3);
    CHECK(c.media.requests[2].op == proxy::MediaOp::Delete);
  }
}

TEST_CASE("relay: a 2xx that comes while the 183's answer is anchored waits behind it",
          "[relay][media]") {
  Call c;
  c.anchored_invite();
  c.core_answers(183, "Session Progress", kCoreAnswer);
  c.core_answers(180, "Ringing", kCoreAnswer);  // dropped: an answer is in progress
  c.core_answers(200, "OK", kCoreAnswer);
  REQUIRE(c.media.requests.size() == 2);
  c.media.complete(1, true, kInsideAnswer);
  auto sent = of_side(c.h.wire.take(), true);
  REQUIRE(sent.size() == 1);
  CHECK(c.h.parse(sent[0]).status_code() == 183);
  REQUIRE(c.media.requests.size() == 3);  // the 200's answer, asked for once the 183 went
  c.media.complete(2, true, kInsideAnswer);
  sent = of_side(c.h.wire.take(), true);
  REQUIRE(sent.size() == 1);
  CHECK(c.h.parse(sent[0]).status_code() == 200);
  CHECK(c.h.parse(sent[0]).body() == kInsideAnswer);
  CHECK(c.h.relay->established_dialogs() == 1);
}

TEST_CASE(
    "relay: an offer the media relay never answers ends in 408, and never goes on as it "
    "came (not even to another core)",
    "[relay][media]") {
  Harness h(64, [](proxy::RelaySettings& s) {
    s.cores = {{"10.0.0.10", 5070, 1, 1}, {"10.0.0.11", 5070, 2, 1}};
  });
  FakeMedia media;
  h.relay->set_media_port(&media);
  h.from_outside(with_sdp(alice_invite(), kAliceSdp), alice_flow());
  h.wire.take();
  h.advance(33s);  // past 64*T1: the backstop
  auto sent = h.wire.take();
  CHECK(of_side(sent, false).empty());
  REQUIRE_FALSE(of_side(sent, true).empty());
  CHECK(h.parse(of_side(sent, true).back()).status_code() == 408);
  // The late result changes nothing.
  media.complete(0, true, kOutsideOffer);
  CHECK(of_side(h.wire.take(), false).empty());
}

namespace {

// An SDES-SRTP offer (RFC 4568).
const std::string kAliceSrtp =
    "v=0\r\no=- 1 1 IN IP4 192.168.1.20\r\ns=-\r\nc=IN IP4 192.168.1.20\r\nt=0 0\r\n"
    "m=audio 4000 RTP/SAVP 0\r\n"
    "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n";

// A harness whose relay anchors media, with media.srtp `mode` on alice's TLS listener (5061),
// and the same mode on UDP port 5060 (bob's), which must not apply: not TLS.
struct SrtpCall {
  Harness h;
  FakeMedia media;
  explicit SrtpCall(proxy::RelaySettings::Srtp mode)
      : h(64, [mode](proxy::RelaySettings& s) {
          s.media_srtp = {{5061, mode}, {5060, mode}};
        }) {
    h.relay->set_media_port(&media);
  }
};

}  // namespace

TEST_CASE(
    "relay: media.srtp required refuses a plain offer from its TLS listener with 488 before "
    "anything goes on, an SDES offer reaches the core as RTP/AVP, and the core's offers go "
    "down the listener in RTP/SAVP",
    "[relay][media][srtp]") {
  SrtpCall c(proxy::RelaySettings::Srtp::Required);
  c.h.from_outside(with_sdp(alice_invite(), kAliceSdp), alice_flow());
  auto sent = c.h.wire.take();
  CHECK(of_side(sent, false).empty());
  CHECK(c.media.requests.empty());
  REQUIRE(sent.size() == 1);
  CHECK(c.h.parse(sent[0]).status_code() == 488);
  CHECK(c.h.parse(sent[0]).reason_phrase() == "Not Acceptable Here (SRTP required)");
  CHECK(c.h.relay->stats().media_srtp_refused.value() == 1);
  CHECK(c.h.relay->active_dialogs() == 0);

  c.h.from_outside(with_sdp(alice_invite("z9hG4bKinv2"), kAliceSrtp), alice_flow());
  REQUIRE(c.media.requests.size() == 1);
  CHECK(c.media.requests[0].transport_protocol == "RTP/AVP");
  CHECK(c.media.requests[0].sdp == kAliceSrtp);
  CHECK(c.h.relay->stats().media_srtp_bridged.value() == 1);

  // The core calls alice down her TLS flow: offered SRTP whatever its own offer is.
  c.h.from_core(with_sdp(core_invite(), kCoreAnswer));
  REQUIRE(c.media.requests.size() == 2);
  CHECK_FALSE(c.media.requests[1].from_outside);
  CHECK(c.media.requests[1].transport_protocol == "RTP/SAVP");
  // And the answers ask for nothing: rtpengine answers each side in its offer's profile.
  c.media.complete(0, true, kOutsideOffer);
  c.h.wire.take();
}

TEST_CASE(
    "relay: media.srtp optional bridges an SDES offer and lets a plain one through plain, the "
    "setting is for TLS flows only",
    "[relay][media][srtp]") {
  SrtpCall c(proxy::RelaySettings::Srtp::Optional);
  c.h.from_outside(with_sdp(alice_invite(), kAliceSdp), alice_flow());
  REQUIRE(c.media.requests.size() == 1);
  CHECK(c.media.requests[0].transport_protocol.empty());
  std::string second = alice_invite("z9hG4bKinv2");
  second.replace(second.find("call-1@"), 7, "call-3@");
  c.h.from_outside(with_sdp(second, kAliceSrtp), alice_flow());
  REQUIRE(c.media.requests.size() == 2);
  CHECK(c.media.requests[1].transport_protocol == "RTP/AVP");
  // The same port number on UDP (bob's listener) has no SRTP setting: refused nothing.
  SrtpCall udp(proxy::RelaySettings::Srtp::Required);
  FlowInfo bob = bob_flow();
  udp.h.from_outside(with_sdp(alice_invite(), kAliceSdp), bob);
  REQUIRE(udp.media.requests.size() == 1);
  CHECK(udp.media.requests[0].transport_protocol.empty());
  CHECK(udp.h.relay->stats().media_srtp_refused.value() == 0);
}

namespace {

// Alice's ACK to the 2xx of call-1 through her route set `route`, with SDP `body` (the answer
// to a late offer).
std::string alice_ack(const std::string& route, std::string_view body) {
  return with_sdp(alice_in_dialog("ACK", route, "z9hG4bKack1", 10), body);
}

// Alice's INVITE without SDP, answered 200 by the core with its offer (kCoreAnswer's address),
// anchored as kInsideAnswer: the route set of the 200 Alice got.
std::string late_offer_answered(Call& c) {
  c.h.from_outside(alice_invite(), alice_flow());
  c.to_core = of_side(c.h.wire.take(), false).at(0).bytes;
  CHECK(c.media.requests.empty());  // no offer yet
  c.core_answers(200, "OK", kCoreAnswer);
  CHECK(of_side(c.h.wire.take(), true).empty());  // Alice waits for the anchored offer
  REQUIRE(c.media.requests.size() == 1);
  const auto& offer = c.media.requests[0];
  CHECK(offer.op == proxy::MediaOp::Offer);
  CHECK(offer.from_tag == "b1");  // the offerer: the callee
  CHECK(offer.to_tag == "a1");
  CHECK_FALSE(offer.from_outside);
  CHECK(offer.sdp == kCoreAnswer);
  c.media.complete(0, true, kInsideAnswer);
  const auto sent = of_side(c.h.wire.take(), true);
  REQUIRE(sent.size() == 1);
  const sip::Message& ok = c.h.parse(sent[0]);
  CHECK(ok.status_code() == 200);
  CHECK(ok.body() == kInsideAnswer);
  const auto rr = name_addrs(ok, sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  return std::string(rr[0].text);
}

}  // namespace

TEST_CASE(
    "relay: a late offer is anchored the other way round: the offer in the 2xx, the answer in "
    "the ACK, held until rewritten, a repeated ACK gets the same answer without asking again",
    "[relay][media]") {
  Call c;
  const std::string route = late_offer_answered(c);
  c.h.from_outside(alice_ack(route, kAliceSdp), alice_flow());
  CHECK(of_side(c.h.wire.take(), false).empty());  // held
  REQUIRE(c.media.requests.size() == 2);
  const auto& answer = c.media.requests[1];
  CHECK(answer.op == proxy::MediaOp::Answer);
  CHECK(answer.from_tag == "b1");
  CHECK(answer.to_tag == "a1");
  CHECK(answer.from_outside);
  CHECK(answer.sdp == kAliceSdp);
  CHECK(answer.received_from == "203.0.113.5");
  // The same ACK again while the first waits: dropped, not asked again.
  c.h.from_outside(alice_ack(route, kAliceSdp), alice_flow());
  CHECK(c.h.wire.take().empty());
  CHECK(c.media.requests.size() == 2);
  c.media.complete(1, true, kOutsideOffer);
  auto sent = of_side(c.h.wire.take(), false);
  REQUIRE(sent.size() == 1);
  CHECK(c.h.parse(sent[0]).method() == sip::Method::Ack);
  CHECK(c.h.parse(sent[0]).body() == kOutsideOffer);
  // After the 2xx retransmitted (its first ACK lost inside), Alice's new ACK gets the same answer.
  c.h.from_outside(alice_ack(route, kAliceSdp), alice_flow());
  sent = of_side(c.h.wire.take(), false);
  REQUIRE(sent.size() == 1);
  CHECK(c.h.parse(sent[0]).body() == kOutsideOffer);
  CHECK(c.media.requests.size() == 2);
  CHECK(c.h.relay->stats().media_sessions_opened.value() == 1);
  CHECK(c.h.relay->stats().media_unanchored.value() == 0);
}

TEST_CASE("relay: the ACK of a late offer whose answer the media relay fails still goes on",
          "[relay][media]") {
  Call c;
  const std::string route = late_offer_answered(c);
  c.h.from_outside(alice_ack(route, kAliceSdp), alice_flow());
  REQUIRE(c.media.requests.size() == 2);
  c.media.complete(1, false);
  const auto sent = of_side(c.h.wire.take(), false);
  REQUIRE(sent.size() == 1);
  CHECK(c.h.parse(sent[0]).body() == kAliceSdp);  // the callee needs its ACK whatever happens
  CHECK(c.h.relay->stats().media_unanchored.value() == 1);
  CHECK(c.h.relay->stats().media_failed[1].value() == 1);
}

TEST_CASE(
    "relay: a late offer in a reliable 183 is answered in the PRACK: the PRACK waits for its "
    "answer's rewrite (RFC 3262)",
    "[relay][media]") {
  Call c;
  c.h.from_outside(alice_invite(), alice_flow());
  c.to_core = of_side(c.h.wire.take(), false).at(0).bytes;
  c.core_answers(183, "Session Progress", kCoreAnswer);  // the core's offer, reliably
  REQUIRE(c.media.requests.size() == 1);
  CHECK(c.media.requests[0].op == proxy::MediaOp::Offer);
  CHECK(c.media.requests[0].from_tag == "b1");
  c.media.complete(0, true, kInsideAnswer);
  auto sent = of_side(c.h.wire.take(), true);
  REQUIRE(sent.size() == 1);
  const sip::Message& progress = c.h.parse(sent[0]);
  CHECK(progress.status_code() == 183);
  CHECK(progress.body() == kInsideAnswer);
  const auto rr = name_addrs(progress, sip::HeaderId::RecordRoute);
  REQUIRE(rr.size() == 1);
  const std::string route(rr[0].text);

  std::string prack = alice_ack(route, kAliceSdp);
  prack.replace(0, 3, "PRACK");
  prack.replace(prack.find("branch=z9hG4bKack1"), 18, "branch=z9hG4bKprk1");
  prack.replace(prack.find("CSeq: 10 ACK"), 12, "CSeq: 11 PRACK\r\nRAck: 1 10 INVITE");
  c.h.from_outside(prack, alice_flow());
  CHECK(of_side(c.h.wire.take(), false).empty());  // the PRACK waits
  REQUIRE(c.media.requests.size() == 2);
  CHECK(c.media.requests[1].op == proxy::MediaOp::Answer);
  CHECK(c.media.requests[1].from_tag == "b1");  // the offerer's
  CHECK(c.media.requests[1].to_tag == "a1");
  CHECK(c.media.requests[1].from_outside);
  c.media.complete(1, true, kOutsideOffer);
  sent = of_side(c.h.wire.take(), false);
  REQUIRE(sent.size() == 1);
  CHECK(c.h.parse(sent[0]).method() == sip::Method::Prack);
  CHECK(c.h.parse(sent[0]).body() == kOutsideOffer);
  // The offer/answer is complete: the 2xx (without SDP) and its ACK go on untouched.
  c.h.keep = c.to_core;
  sip::Message invite;
  REQUIRE(invite.parse(c.h.keep, sip::Framing::Datagram, {}).is_valid());
  c.h.from_core(core_answer(invite, 200, "OK", "b1"));
  CHECK(c.media.requests.size() == 2);
  c.h.from_outside(alice_ack(route, kAliceSdp), alice_flow());
  CHECK(c.media.requests.size() == 2);
  CHECK(c.h.relay->stats().media_ok[1].value() == 1);
}
