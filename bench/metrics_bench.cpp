// What the metrics cost a relayed message, next to what parsing that message costs anyway, and
// the ratio of the two in CPU time (printed after the table; CPU time, because the machine is
// shared and wall time counts the other processes too).
//   BM_ParseInvite           parse + validate a typical INVITE with SDP (the reference)
//   BM_CounterInc            one per-worker counter increment (relaxed load + store)
//   BM_ClockRead             one CLOCK_MONOTONIC read (metrics::monotonic_ns)
//   BM_HistogramObserve      one histogram observation of a given duration
//   BM_MetricsPerMessage     everything a relayed request pays for metrics: the counters it moves
//                            (received, relayed, requests to core, core requests, transactions
//                            started), the clock read at arrival and at hand-off, and the
//                            processing-time observation
#include <benchmark/benchmark.h>

#include <array>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "metrics/counter.hpp"
#include "metrics/histogram.hpp"
#include "sbc/sip/message.hpp"

using namespace sbc;

namespace {

const std::string kInvite =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK74bf9;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n"
    "To: <sip:bob@biloxi.example.com>\r\n"
    "Call-ID: 3848276298220188511@atlanta.example.com\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:alice@192.0.2.10:5060;transport=udp>\r\n"
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, REFER, NOTIFY\r\n"
    "Supported: replaces, timer\r\n"
    "User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 153\r\n"
    "\r\n"
    "v=0\r\n"
    "o=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\n"
    "s=-\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "t=0 0\r\n"
    "m=audio 49170 RTP/AVP 0 8 101\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n";

void BM_ParseInvite(benchmark::State& state) {
  auto m = std::make_unique<sip::Message>();
  if (!m->parse(kInvite, sip::Framing::Datagram, {}).is_valid()) {
    state.SkipWithError("the INVITE does not parse");
    return;
  }
  for (auto _ : state) benchmark::DoNotOptimize(m->parse(kInvite, sip::Framing::Datagram, {}));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseInvite);

void BM_CounterInc(benchmark::State& state) {
  metrics::Counter c;
  for (auto _ : state) {
    c.inc();
    benchmark::ClobberMemory();  // each increment reaches memory, as between two messages
  }
  benchmark::DoNotOptimize(c.value());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterInc);

void BM_ClockRead(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(metrics::monotonic_ns());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ClockRead);

void BM_HistogramObserve(benchmark::State& state) {
  metrics::Histogram h(metrics::kMessageProcessingBounds);
  std::int64_t ns = 30'000;  // a typical relay time: the fourth bucket
  for (auto _ : state) {
    benchmark::DoNotOptimize(ns);
    h.observe_ns(ns);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve);

void BM_MetricsPerMessage(benchmark::State& state) {
  std::array<metrics::Counter, 5> counters;
  metrics::Histogram h(metrics::kMessageProcessingBounds);
  for (auto _ : state) {
    const std::int64_t arrived = metrics::monotonic_ns();
    for (metrics::Counter& c : counters) c.inc();
    h.observe_ns(metrics::monotonic_ns() - arrived);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MetricsPerMessage);

// The console table, then the ratio that answers the question this benchmark asks.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  RatioReporter() : ConsoleReporter(OO_Tabular) {}  // plain text: CI logs show no colour codes
  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs)
      if (!run.error_occurred && run.iterations > 0)
        ns_per_iteration_[run.benchmark_name()] =
            run.cpu_accumulated_time / static_cast<double>(run.iterations) * 1e9;
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    const auto parse = ns_per_iteration_.find("BM_ParseInvite");
    const auto metrics = ns_per_iteration_.find("BM_MetricsPerMessage");
    if (parse == ns_per_iteration_.end() || metrics == ns_per_iteration_.end()) return;
    std::printf(
        "metrics per relayed message: %.1f ns; parsing its INVITE: %.1f ns; ratio %.3f "
        "(%.1f%% of the parse)\n",
        metrics->second, parse->second, metrics->second / parse->second,
        100.0 * metrics->second / parse->second);
  }

 private:
  std::map<std::string, double> ns_per_iteration_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
