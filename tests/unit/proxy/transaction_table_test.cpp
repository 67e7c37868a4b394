// The transaction table (sbc/proxy/transaction_table.cpp): bounded in slots and in bytes, each
// limit answered 503, and what a transaction keeps once it is ringing or answered.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "relay_harness.hpp"

using namespace sbc;
using namespace sbc::test;

TEST_CASE("relay: a full transaction table answers 503 and recovers", "[relay]") {
  Harness h(16);
  for (int i = 0; i < 16; ++i)
    h.from_outside(alice_register("z9hG4bKfill" + std::to_string(i)), bob_flow());
  h.wire.take();
  h.from_outside(alice_register("z9hG4bKone-too-many"), bob_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK(h.parse(sent[0]).status_code() == 503);
  CHECK(h.relay->stats().table_full.value() == 1);
  h.advance(70s);  // all timed out (64 T1), and their 408s no longer kept (64 T1)
  CHECK(h.relay->active_transactions() == 0);
  h.wire.take();
  h.from_outside(alice_register("z9hG4bKafter"), bob_flow());
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  CHECK_FALSE(sent[0].outside);
}

TEST_CASE("relay: transaction memory is bounded by relay.max_transaction_bytes",
          "[relay][memory]") {
  Harness h(64, [](proxy::RelaySettings& s) { s.max_transaction_bytes = 1u << 20; });
  const std::string body(60000, 'x');
  auto big_invite = [&](int i) {
    std::string m = alice_invite("z9hG4bKbig" + std::to_string(i));
    m.replace(m.find("call-1@"), 7, "call-big" + std::to_string(i) + "@");
    m.replace(m.find("Content-Length: 0"), 17,
              "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()));
    return m + body;
  };
  // The core rings and never answers: each transaction must keep its request (a fail-over, our
  // 408), about 60 KB. The budget admits what fits, then 503 with Retry-After.
  std::vector<std::string> relayed;
  int refused = 0;
  for (int i = 0; i < 24; ++i) {
    h.from_outside(big_invite(i), alice_flow());
    for (const auto& s : h.wire.take()) {
      if (!s.outside) {
        relayed.push_back(s.bytes);
        sip::Message fwd;
        REQUIRE(fwd.parse(s.bytes, sip::Framing::Datagram, {}).is_valid());
        h.from_core(core_answer(fwd, 180, "Ringing"));
      } else if (h.parse(s).status_code() == 503) {
        ++refused;
        CHECK(h.parse(s).find("Retry-After") != nullptr);
        CHECK(h.parse(s).reason_phrase() == "Service Unavailable (transaction memory full)");
      }
    }
    h.wire.take();
  }
  INFO("relayed " << relayed.size() << ", refused " << refused);
  CHECK(relayed.size() >= 8);
  CHECK(relayed.size() + refused == 24);
  CHECK(refused > 0);
  CHECK(h.relay->stats().memory_full.value() == static_cast<std::uint64_t>(refused));
  CHECK(h.relay->transaction_bytes() <= 1u << 20);
  // Ringing, an INVITE keeps one copy of its request (the relayed one gave way to an ACK
  // skeleton, from which a CANCEL is built as from the request itself).
  CHECK(h.relay->transaction_bytes() < relayed.size() * 64 * 1024);
  const std::string cancel =
      "CANCEL sip:bob@example.com SIP/2.0\r\n"
      "Via: SIP/2.0/TLS 192.168.1.20:5061;branch=z9hG4bKbig0;rport\r\n"
      "Max-Forwards: 70\r\n"
      "From: <sip:alice@example.com>;tag=a1\r\n"
      "To: <sip:bob@example.com>\r\n"
      "Call-ID: call-big0@192.168.1.20\r\n"
      "CSeq: 10 CANCEL\r\n"
      "Content-Length: 0\r\n\r\n";
  h.from_outside(cancel, alice_flow());
  auto sent = h.wire.take();
  REQUIRE(sent.size() == 2);  // 200 to the CANCEL, the CANCEL to the core
  sip::Message first;
  REQUIRE(first.parse(relayed[0], sip::Framing::Datagram, {}).is_valid());
  const sip::Message& to_core = h.parse(sent[1]);
  CHECK(to_core.method() == sip::Method::Cancel);
  CHECK(to_core.top_via().branch == first.top_via().branch);
  CHECK(to_core.cseq().number == 10);
  CHECK(to_core.request_uri().text == first.request_uri().text);
  // The core refuses them all (486), never ACKed by Alice: each keeps its answer and an ACK,
  // not 60 KB; the ACK of a retransmitted 486 is still right.
  for (const std::string& r : relayed) {
    sip::Message fwd;
    REQUIRE(fwd.parse(r, sip::Framing::Datagram, {}).is_valid());
    h.from_core(core_answer(fwd, 486, "Busy Here"));
  }
  h.wire.take();
  CHECK(h.relay->transaction_bytes() < relayed.size() * 4096 + (64 << 10));
  h.from_core(core_answer(first, 486, "Busy Here"));
  sent = h.wire.take();
  REQUIRE(sent.size() == 1);
  const sip::Message& ack = h.parse(sent[0]);
  CHECK(ack.method() == sip::Method::Ack);
  CHECK(ack.to().tag == "core1");
  CHECK(ack.cseq().number == 10);
  CHECK(ack.top_via().branch == first.top_via().branch);
  // Room again: the next large INVITE is relayed.
  h.from_outside(big_invite(100), alice_flow());
  sent = h.wire.take();
  REQUIRE_FALSE(sent.empty());
  CHECK_FALSE(sent[0].outside);
  // When everything has ended, the slots keep no large buffers.
  h.advance(70s);
  CHECK(h.relay->active_transactions() == 0);
  CHECK(h.relay->transaction_bytes() < std::size_t{64} * 4096);
}
