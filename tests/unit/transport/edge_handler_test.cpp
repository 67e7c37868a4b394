#include <catch2/catch.hpp>

#include <atomic>
#include <memory>
#include <string>

#include "../corpus.hpp"
#include "policy/policy_config.hpp"
#include "sbc/sip/message.hpp"
#include "sbc/transport/edge_handler.hpp"

using namespace sbc;
using transport::EdgeHandler;

namespace {

sbc::FlowInfo udp_flow() {
  sbc::FlowInfo flow;
  flow.protocol = sbc::Protocol::Udp;
  flow.local_ip = "192.0.2.10";
  flow.local_port = 5060;
  flow.remote_ip = "198.51.100.7";
  flow.remote_port = 40000;
  return flow;
}

std::string request(std::string_view start, std::string_view method, std::string_view extra = "") {
  return std::string(start) +
         "\r\nVia: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK77;rport\r\nMax-Forwards: 70\r\n"
         "From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\nCall-ID: c1@x\r\n"
         "CSeq: 5 " +
         std::string(method) + "\r\n" + std::string(extra) + "Content-Length: 0\r\n\r\n";
}

// An answer, copied and parsed for inspection (the copy outlives the views into it).
struct Reply {
  std::string bytes;
  std::unique_ptr<sip::Message> message = std::make_unique<sip::Message>();
  const sip::Message* operator->() const { return message.get(); }
};
Reply parse_reply(std::string_view reply) {
  Reply r{std::string(reply)};
  REQUIRE(r.message->parse(r.bytes, sip::Framing::Stream, sip::Limits{}).is_valid());
  REQUIRE_FALSE(r.message->is_request());
  return r;
}

}  // namespace

TEST_CASE("OPTIONS to the SBC itself is answered 200 with Allow", "[edge]") {
  EdgeHandler handler({});
  const std::string bytes = request("OPTIONS sip:192.0.2.10:5060 SIP/2.0", "OPTIONS");
  const auto outcome = handler.handle(bytes, sip::Framing::Datagram, udp_flow());
  REQUIRE(outcome.action == EdgeHandler::Action::Reply);
  const auto m = parse_reply(outcome.reply);
  CHECK(m->status_code() == 200);
  CHECK(m->find("Allow") != nullptr);
  CHECK(m->find("Supported") != nullptr);
  CHECK(m->call_id() == "c1@x");
  CHECK(m->cseq().number == 5);
  CHECK_FALSE(m->to().tag.empty());
  // received and rport filled in for the client behind NAT (RFC 3261 18.2.1, RFC 3581)
  CHECK(m->top_via().received == "198.51.100.7");
  CHECK(m->top_via().rport_value == 40000);
  CHECK(handler.stats().options_answered.value() == 1);
  CHECK(handler.stats().received[0].value() == 1);  // UDP
  CHECK(handler.stats().answers[2].value() == 1);   // one 2xx
  // A retransmission gets the same To tag.
  const std::string tag(m->to().tag);
  const auto again = handler.handle(bytes, sip::Framing::Datagram, udp_flow());
  CHECK(parse_reply(again.reply)->to().tag == tag);
}

TEST_CASE(
    "while draining, OPTIONS to the SBC itself is answered 503 with Retry-After, and a "
    "stream closes after it",
    "[edge][drain]") {
  EdgeHandler handler({});
  std::atomic<bool> draining{false};
  handler.set_draining(&draining);
  const std::string bytes = request("OPTIONS sip:192.0.2.10:5060 SIP/2.0", "OPTIONS");
  const auto serving = handler.handle(bytes, sip::Framing::Datagram, udp_flow());
  CHECK(parse_reply(serving.reply)->status_code() == 200);
  CHECK_FALSE(serving.close_after);
  draining = true;  // SIGTERM
  const auto outcome = handler.handle(bytes, sip::Framing::Datagram, udp_flow());
  REQUIRE(outcome.action == EdgeHandler::Action::Reply);
  const auto m = parse_reply(outcome.reply);
  CHECK(m->status_code() == 503);
  REQUIRE(m->find("Retry-After") != nullptr);
  CHECK(m->find("Retry-After")->value == "5");
  CHECK(outcome.close_after);
  CHECK(handler.stats().answers[5].value() == 1);
}

TEST_CASE("the OPTIONS answer's Allow lists what policy.methods.allowed lets in",
          "[edge][policy]") {
  const std::string bytes = request("OPTIONS sip:192.0.2.10:5060 SIP/2.0", "OPTIONS");
  EdgeHandler handler({});
  const auto built_in =
      parse_reply(handler.handle(bytes, sip::Framing::Datagram, udp_flow()).reply);
  REQUIRE(built_in->find("Allow") != nullptr);
  CHECK(built_in->find("Allow")->value.find("SUBSCRIBE") != std::string_view::npos);
  // With a methods stage, the answer advertises the stage's list, and only it.
  policy::PolicyConfig config;
  config.chain = {"methods"};
  config.methods.allowed = {"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS"};
  const auto chain = policy::make_chain(config);
  handler.set_policy(chain.get());
  const auto restricted =
      parse_reply(handler.handle(bytes, sip::Framing::Datagram, udp_flow()).reply);
  REQUIRE(restricted->find("Allow") != nullptr);
  CHECK(restricted->find("Allow")->value == "INVITE, ACK, BYE, CANCEL, OPTIONS");
  // A chain without a methods stage leaves the built-in list.
  config.chain = {"acl"};
  const auto no_methods = policy::make_chain(config);
  handler.set_policy(no_methods.get());
  const auto other = parse_reply(handler.handle(bytes, sip::Framing::Datagram, udp_flow()).reply);
  CHECK(other->find("Allow")->value == built_in->find("Allow")->value);
}

TEST_CASE("OPTIONS with Max-Forwards 0 to the SBC is still answered", "[edge]") {
  EdgeHandler handler({});
  std::string bytes = request("OPTIONS sip:192.0.2.10 SIP/2.0", "OPTIONS");
  bytes.replace(bytes.find("Max-Forwards: 70"), 16, "Max-Forwards: 0 ");
  const auto outcome = handler.handle(bytes, sip::Framing::Datagram, udp_flow());
  REQUIRE(outcome.action == EdgeHandler::Action::Reply);
  CHECK(parse_reply(outcome.reply)->status_code() == 200);
}

TEST_CASE("other valid requests get a clear 503 until the relay exists", "[edge]") {
  EdgeHandler handler({});
  const auto outcome = handler.handle(request("INVITE sip:bob@example.com SIP/2.0", "INVITE"),
                                      sip::Framing::Datagram, udp_flow());
  REQUIRE(outcome.action == EdgeHandler::Action::Reply);
  const auto m = parse_reply(outcome.reply);
  CHECK(m->status_code() == 503);
  CHECK(m->find("Retry-After") != nullptr);
  CHECK(handler.stats().unrouted_answered.value() == 1);
}

TEST_CASE("ACKs and responses are never answered", "[edge]") {
  EdgeHandler handler({});
  auto outcome = handler.handle(request("ACK sip:bob@example.com SIP/2.0", "ACK"),
                                sip::Framing::Datagram, udp_flow());
  CHECK(outcome.action == EdgeHandler::Action::None);
  outcome = handler.handle(
      "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKa\r\nFrom: <sip:a@b>;tag=1\r\n"
      "To: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
      sip::Framing::Datagram, udp_flow());
  CHECK(outcome.action == EdgeHandler::Action::None);
  CHECK(handler.stats().acks_absorbed.value() == 1);
  CHECK(handler.stats().responses_dropped.value() == 1);
}

TEST_CASE("invalid requests get the message core's verdict as an answer", "[edge]") {
  EdgeHandler handler({});
  const std::string dir = test::corpus_dir() + "/rfc4475/";
  struct Case {
    const char* file;
    int status;
  };
  for (const Case c : {Case{"badvers", 505}, Case{"unkscm", 416}, Case{"bext01", 420},
                       Case{"mismatch01", 400}, Case{"zeromf", 0}}) {
    INFO(c.file);
    const std::string bytes = test::read_binary(dir + c.file + ".dat");
    const auto outcome = handler.handle(bytes, sip::Framing::Datagram, udp_flow());
    if (c.status == 0) {
      // zeromf is an OPTIONS to a user at Max-Forwards 0: 483
      REQUIRE(outcome.action == EdgeHandler::Action::Reply);
      CHECK(parse_reply(outcome.reply)->status_code() == 483);
      continue;
    }
    REQUIRE(outcome.action == EdgeHandler::Action::Reply);
    if (c.status == 505) {
      // The answer copies the request's "Via: SIP/7.0/UDP ...", which our own parser refuses.
      CHECK(outcome.reply.starts_with("SIP/2.0 505 SIP version not supported\r\nVia:"));
      CHECK(outcome.reply.find("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw") !=
            std::string::npos);
      continue;
    }
    const auto m = parse_reply(outcome.reply);
    CHECK(m->status_code() == c.status);
    CHECK(m->reason_phrase() == outcome.verdict.reason);
    if (c.status == 420) {
      REQUIRE(m->find("Unsupported") != nullptr);
      CHECK(m->find("Unsupported")->value == "noProxiesSupportThis, norDoAnyProxiesSupportThis");
    }
  }
  // Requests without the headers an answer copies are dropped (insuf has no Call-ID/From/To).
  const auto insuf =
      handler.handle(test::read_binary(dir + "insuf.dat"), sip::Framing::Datagram, udp_flow());
  CHECK(insuf.action == EdgeHandler::Action::None);
  CHECK(insuf.verdict.status == 400);
  // Invalid responses are dropped.
  const auto bigcode =
      handler.handle(test::read_binary(dir + "bigcode.dat"), sip::Framing::Datagram, udp_flow());
  CHECK(bigcode.action == EdgeHandler::Action::None);
}

TEST_CASE("a stream whose framing failed is answered from its headers", "[edge]") {
  EdgeHandler handler({});
  const std::string headers =
      "MESSAGE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/TCP 10.0.0.2;branch=z9hG4bK1\r\n"
      "Max-Forwards: 70\r\nFrom: <sip:a@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\n"
      "Call-ID: s@x\r\nCSeq: 1 MESSAGE\r\n\r\n";
  const auto outcome = handler.reject_stream(headers, 400, "Missing Content-Length", udp_flow());
  REQUIRE(outcome.action == EdgeHandler::Action::Reply);
  const auto m = parse_reply(outcome.reply);
  CHECK(m->status_code() == 400);
  CHECK(m->reason_phrase() == "Missing Content-Length");
}

TEST_CASE("UDP answers larger than the request stay within a per-source budget", "[edge][policy]") {
  policy::PolicyConfig config;
  config.chain = {};
  config.settings.amplification.excess_burst_bytes = 1000;
  config.settings.amplification.excess_bytes_per_second = 0;  // no refill within the test
  const auto chain = policy::make_chain(config);
  EdgeHandler handler({});
  handler.set_policy(chain.get());
  // A keep-alive OPTIONS gets a 200 with Allow, Accept, Supported: larger than the request.
  const std::string ping = request("OPTIONS sip:192.0.2.10:5060 SIP/2.0", "OPTIONS");
  std::size_t answered = 0, extra = 0;
  for (int i = 0; i < 20; ++i) {
    const auto outcome = handler.handle(ping, sip::Framing::Datagram, udp_flow());
    if (outcome.action != EdgeHandler::Action::Reply) continue;
    ++answered;
    REQUIRE(outcome.reply.size() > ping.size());
    extra += outcome.reply.size() - ping.size();
  }
  // The budget of 1000 extra bytes is spent after a few answers; the rest are dropped.
  CHECK(answered >= 1);
  CHECK(answered < 20);
  CHECK(extra <= 1000);
  CHECK(handler.stats().amplification_refused.value() == 20 - answered);
  CHECK(chain->amplification_refused().value() == 20 - answered);
  // Another source has its own budget; stream transports (a handshake proved the address) and
  // answers no larger than the request always go.
  sbc::FlowInfo other = udp_flow();
  other.remote_ip = "198.51.100.8";
  CHECK(handler.handle(ping, sip::Framing::Datagram, other).action == EdgeHandler::Action::Reply);
  sbc::FlowInfo tcp = udp_flow();
  tcp.protocol = sbc::Protocol::Tcp;
  CHECK(handler.handle(ping, sip::Framing::Stream, tcp).action == EdgeHandler::Action::Reply);
  const std::string padded = request("OPTIONS sip:192.0.2.10:5060 SIP/2.0", "OPTIONS",
                                     "X-Padding: " + std::string(600, 'x') + "\r\n");
  CHECK(handler.handle(padded, sip::Framing::Datagram, udp_flow()).action ==
        EdgeHandler::Action::Reply);
}
