// The cost of the policy chain per message, next to the cost of parsing the same message (the
// work every message costs anyway), and the cost of dropping a banned source's packet.
//   BM_Parse            parse + validate a REGISTER (the reference)
//   BM_ChainPass        admit + decide through the default chain (acl, scanner, rate_limit, sips,
//                       methods) for a request that passes every stage
//   BM_BannedDrop       admit() for a banned source: what a banned packet costs before parsing
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "policy/policy_config.hpp"
#include "sbc/sip/message.hpp"

using namespace sbc;

namespace {

const std::string kRegister =
    "REGISTER sip:example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.com>;tag=1928301774\r\n"
    "To: <sip:alice@example.com>\r\n"
    "Call-ID: a84b4c76e66710@192.0.2.10\r\n"
    "CSeq: 314159 REGISTER\r\n"
    "Contact: <sip:alice@192.0.2.10:5060>\r\n"
    "User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)\r\n"
    "Expires: 3600\r\n"
    "Content-Length: 0\r\n\r\n";

policy::PolicyConfig passing_config() {
  policy::PolicyConfig c;
  c.acl.deny = {*policy::parse_cidr("203.0.113.0/24"), *policy::parse_cidr("2001:db8:bad::/48")};
  c.rate_limit.register_requests = {1e9, 1e9};  // every bucket is computed, none runs dry
  return c;
}

transport::FlowInfo flow(std::string_view ip) {
  transport::FlowInfo f;
  f.remote_ip = ip;
  f.remote_port = 5060;
  return f;
}

void BM_Parse(benchmark::State& state) {
  auto m = std::make_unique<sip::Message>();
  for (auto _ : state) benchmark::DoNotOptimize(m->parse(kRegister, sip::Framing::Datagram, {}));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Parse);

void BM_ChainPass(benchmark::State& state) {
  auto m = std::make_unique<sip::Message>();
  (void)m->parse(kRegister, sip::Framing::Datagram, {});
  auto chain = policy::make_chain(passing_config());
  const transport::FlowInfo f = flow("192.0.2.10");
  auto now = std::chrono::steady_clock::now();
  for (auto _ : state) {
    now += std::chrono::microseconds(1);
    benchmark::DoNotOptimize(chain->admit(f, now));
    benchmark::DoNotOptimize(chain->decide(*m));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChainPass);

void BM_BannedDrop(benchmark::State& state) {
  auto chain = policy::make_chain(passing_config());
  const transport::FlowInfo f = flow("198.51.100.66");
  const auto now = std::chrono::steady_clock::now();
  chain->bans().ban(*policy::source_key(f.remote_ip, 64), now);
  for (auto _ : state) benchmark::DoNotOptimize(chain->admit(f, now));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BannedDrop);

}  // namespace

BENCHMARK_MAIN();
