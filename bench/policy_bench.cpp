// The cost of the policy chain per message, next to the cost of parsing the same message (the
// work every message costs anyway), and the cost of dropping a banned source's packet.
//   BM_Parse            parse + validate a REGISTER (the reference)
//   BM_ChainPass        admit + decide through the default chain (acl, scanner, rate_limit, sips,
//                       methods) for a request that passes every stage
//   BM_ChainPassInDialog the same for an in-dialog BYE (no user to count: the scanner only looks
//                       up the source's answer score)
//   BM_BannedDrop       admit() for a banned source: what a banned packet costs before parsing
//   BM_CoreAnswered     Chain::core_answered: the relay reporting a final answer to a client
//                       (the scanner's answer classes)
//   BM_AuthChallenge    the auth stage answering a REGISTER without credentials (nonce + 401)
//   BM_AuthVerify       the auth stage checking a REGISTER's SHA-256 Digest answer (the digest,
//                       the nonce's HMAC, the nonce-count table) and letting it through
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"
#include "policy/policy_config.hpp"
#include "sbc/crypto/digest.hpp"
#include "sbc/sip/message.hpp"

using namespace sbc;

namespace {

const std::string kRegister = bench::phone_register();

policy::PolicyConfig passing_config() {
  policy::PolicyConfig c;
  c.acl.deny = {*sbc::parse_cidr("203.0.113.0/24"), *sbc::parse_cidr("2001:db8:bad::/48")};
  c.rate_limit.register_requests = {1e9, 1e9};  // every bucket is computed, none runs dry
  return c;
}

sbc::FlowInfo flow(std::string_view ip) {
  return bench::udp_flow(ip);
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
  const sbc::FlowInfo f = flow("192.0.2.10");
  auto now = std::chrono::steady_clock::now();
  for (auto _ : state) {
    now += std::chrono::microseconds(1);
    benchmark::DoNotOptimize(chain->admit(f, now));
    benchmark::DoNotOptimize(chain->decide(*m));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChainPass);

constexpr std::string_view kBye = bench::kPhoneBye;

void BM_ChainPassInDialog(benchmark::State& state) {
  auto m = std::make_unique<sip::Message>();
  (void)m->parse(kBye, sip::Framing::Datagram, {});
  policy::PolicyConfig config = passing_config();
  config.rate_limit.others = {1e9, 1e9};
  auto chain = policy::make_chain(config);
  const sbc::FlowInfo f = flow("192.0.2.10");
  auto now = std::chrono::steady_clock::now();
  for (auto _ : state) {
    now += std::chrono::microseconds(1);
    benchmark::DoNotOptimize(chain->admit(f, now));
    benchmark::DoNotOptimize(chain->decide(*m));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChainPassInDialog);

void BM_BannedDrop(benchmark::State& state) {
  auto chain = policy::make_chain(passing_config());
  const sbc::FlowInfo f = flow("198.51.100.66");
  const auto now = std::chrono::steady_clock::now();
  chain->bans().ban(*sbc::source_key(f.remote_ip, 64), now, policy::BanScope::All);
  for (auto _ : state) benchmark::DoNotOptimize(chain->admit(f, now));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BannedDrop);

void BM_CoreAnswered(benchmark::State& state) {
  auto chain = policy::make_chain(passing_config());
  auto now = std::chrono::steady_clock::now();
  std::uint16_t status = 200;
  for (auto _ : state) {
    now += std::chrono::microseconds(1);
    status = status == 200 ? 401 : 200;  // a phone: challenged, then accepted
    chain->core_answered("192.0.2.10", status, now);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CoreAnswered);

policy::PolicyConfig auth_config() {
  policy::PolicyConfig c;
  c.chain = {"auth"};
  c.auth.realm = "example.com";
  c.auth.ban_after_failures = 0;
  c.auth.credentials = std::make_shared<const policy::Credentials>(policy::Credentials::parse(
      policy::Credentials::line("alice", "example.com", sbc::crypto::DigestAlgorithm::Sha256, "pw"),
      "example.com"));
  return c;
}

void BM_AuthChallenge(benchmark::State& state) {
  auto m = std::make_unique<sip::Message>();
  (void)m->parse(kRegister, sip::Framing::Datagram, {});
  auto chain = policy::make_chain(auth_config());
  const sbc::FlowInfo f = flow("192.0.2.10");
  const auto now = std::chrono::steady_clock::now();
  for (auto _ : state) {
    benchmark::DoNotOptimize(chain->admit(f, now));
    benchmark::DoNotOptimize(chain->decide(*m));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthChallenge);

void BM_AuthVerify(benchmark::State& state) {
  // One challenge, then answers with nonce counts 1, 2, 3 ... (each passes once), prepared and
  // parsed before the clock runs.
  constexpr std::size_t kAnswers = 2048;
  auto chain = policy::make_chain(auth_config());
  const sbc::FlowInfo f = flow("192.0.2.10");
  const auto now = std::chrono::steady_clock::now();
  auto first = std::make_unique<sip::Message>();
  (void)first->parse(kRegister, sip::Framing::Datagram, {});
  (void)chain->admit(f, now);
  const std::string challenge(chain->decide(*first).decision.extra_header);
  const auto at = challenge.find("nonce=\"") + 7;
  const std::string nonce = challenge.substr(at, challenge.find('"', at) - at);
  std::vector<std::string> texts;
  std::vector<std::unique_ptr<sip::Message>> answers;
  for (std::size_t i = 1; i <= kAnswers; ++i) {
    std::array<char, 64> a{}, b{}, c{};
    const std::string_view p1[] = {"alice", "example.com", "pw"};
    const std::string ha1(sbc::crypto::digest_hex(sbc::crypto::DigestAlgorithm::Sha256, p1, a));
    const std::string_view p2[] = {"REGISTER", "sip:example.com"};
    const std::string ha2(sbc::crypto::digest_hex(sbc::crypto::DigestAlgorithm::Sha256, p2, b));
    char nc[9];
    std::snprintf(nc, sizeof nc, "%08zx", i);
    const std::string_view p3[] = {ha1, nonce, nc, "c0ffee", "auth", ha2};
    const std::string response(
        sbc::crypto::digest_hex(sbc::crypto::DigestAlgorithm::Sha256, p3, c));
    std::string text = kRegister;
    text.insert(text.find("Content-Length"),
                "Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"" +
                    nonce + "\", uri=\"sip:example.com\", response=\"" + response +
                    "\", algorithm=SHA-256, cnonce=\"c0ffee\", qop=auth, nc=" + nc + "\r\n");
    texts.push_back(std::move(text));
  }
  for (const std::string& t : texts) {
    answers.push_back(std::make_unique<sip::Message>());
    if (!answers.back()->parse(t, sip::Framing::Datagram, {}).is_valid()) {
      state.SkipWithError("an answer does not parse");
      return;
    }
  }
  std::size_t i = 0, passed = 0;
  for (auto _ : state) {
    (void)chain->admit(f, now);
    passed += chain->decide(*answers[i++ % kAnswers]).decision.proceeds() ? 1 : 0;
  }
  if (passed != std::min<std::size_t>(state.iterations(), kAnswers))
    state.SkipWithError("an answer was not accepted");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AuthVerify)->Iterations(2048);

}  // namespace

BENCHMARK_MAIN();
