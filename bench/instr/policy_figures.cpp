// Policy figures: the chain the daemon builds from the embedded default configuration
// (sbc/app/default_config.yaml: acl, scanner, rate_limit, sips, methods), deciding for a phone's
// out-of-dialog INVITE and for an in-dialog BYE. One operation is what the edge runs per request:
// admit() before parsing and decide() after it. The clock advances one second per request, so the
// rate buckets (INVITE: 5/s, burst 20) never run dry and every request passes every stage: the
// figure is the cost of a request that is let through, the common case.
#include <chrono>
#include <memory>
#include <string_view>

#include "bench/bench_support.hpp"
#include "bench/instr/harness.hpp"
#include "policy/policy_config.hpp"
#include "sbc/app/config.hpp"
#include "sbc/sip/message.hpp"

namespace sbc::bench::instr {
namespace {

constexpr std::string_view kInvite =
    "INVITE sip:bob@example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=1928301774\r\n"
    "To: <sip:bob@example.com>\r\n"
    "Call-ID: a84b4c76e66710@192.0.2.10\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@192.0.2.10:5060>\r\n"
    "User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)\r\n"
    "Content-Length: 0\r\n\r\n";

// As the daemon: the embedded configuration parsed, one chain for worker 0 of one worker.
std::unique_ptr<policy::Chain> default_chain() {
  const app::Config config = app::parse_config(app::default_config_text(), "<default>");
  policy::PolicyConfig policy = config.policy;
  policy.rate_limit.workers = 1;
  auto chain = policy::make_chain(policy, 0);
  if (!chain) fail("the embedded default configuration has no policy chain");
  return chain;
}

Result decide_each_second(std::string_view bytes, std::uint64_t iterations) {
  auto m = std::make_unique<sip::Message>();
  if (!m->parse(bytes, sip::Framing::Datagram, {}).is_valid()) fail("the request does not parse");
  const auto chain = default_chain();
  const sbc::FlowInfo flow = udp_flow("192.0.2.10");
  auto now = policy::TimePoint(std::chrono::seconds(1000));
  Result r;
  for (std::uint64_t i = 0; i < iterations; ++i) {
    now += std::chrono::seconds(1);
    const bool admitted = chain->admit(flow, now);
    const policy::Chain::Outcome outcome = chain->decide(*m);
    r.checksum += admitted && outcome.decision.proceeds() ? 1 : 0;
  }
  if (r.checksum != iterations) fail("the default chain refused a request of a well-behaved phone");
  return r;
}

}  // namespace

Result policy_invite(std::uint64_t iterations) {
  return decide_each_second(kInvite, iterations);
}

Result policy_bye_in_dialog(std::uint64_t iterations) {
  return decide_each_second(kPhoneBye, iterations);
}

}  // namespace sbc::bench::instr
