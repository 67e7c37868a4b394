// What the pcap capture costs. The worker's side is the one that matters (the message path):
//   BM_TapPassing       a message that is not captured (capture on, what: rejected): the check
//   BM_TapCaptured      a rejected message copied into the worker's queue, while the capture
//                       thread writes the files
//   BM_TapQueueFull     a rejected message when the queue is full: dropped and counted
// and the capture thread's and `sbc replay`'s throughput:
//   BM_WriterUdp        one UDP message to a pcap file (rotating, 4 MiB files)
//   BM_WriterTcp        one TCP message (segment synthesis, sequence numbers)
//   BM_ReadCapture      reading a capture of 10,000 messages (half UDP, half TCP), per message
#include <benchmark/benchmark.h>

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <thread>

#include "bench/bench_support.hpp"
#include "sbc/capture/live_capture.hpp"
#include "sbc/capture/pcap_reader.hpp"
#include "sbc/capture/pcap_writer.hpp"

using namespace sbc;

namespace {

// A scanner's REGISTER: what a capture of rejected messages keeps.
const std::string kRegister = bench::phone_register("friendly-scanner");

struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sbc-bench-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

sbc::FlowInfo flow() {
  return bench::udp_flow("192.0.2.10", 5060, "192.0.2.1");
}

capture::CapturedMessage message(sbc::Protocol protocol) {
  capture::CapturedMessage m;
  m.time_us = 1700000000000000;
  m.protocol = protocol;
  m.source_ip = "192.0.2.10";
  m.source_port = 5060;
  m.destination_ip = "192.0.2.1";
  m.destination_port = 5060;
  m.bytes = kRegister;
  return m;
}

void BM_TapPassing(benchmark::State& state) {
  TempDir dir;
  capture::CaptureSettings settings;
  settings.directory = dir.path;
  capture::LiveCapture live(settings, 1);
  const auto f = flow();
  for (auto _ : state) live.tap(0).observe(kRegister, f, false);
}
BENCHMARK(BM_TapPassing);

void BM_TapCaptured(benchmark::State& state) {
  TempDir dir;
  capture::CaptureSettings settings;
  settings.directory = dir.path;
  settings.max_file_bytes = 4u << 20;
  settings.max_files = 2;
  capture::LiveCapture live(settings, 1);
  live.start();
  const auto f = flow();
  std::uint64_t n = 0;
  for (auto _ : state) {
    live.tap(0).observe(kRegister, f, true);
    // Timed in batches the queue holds, so every copy lands (the writer is ~200x slower than the
    // copy: an untimed wait lets it catch up).
    if (++n % 512 == 0) {
      state.PauseTiming();
      while (live.written() + live.dropped() < n) std::this_thread::yield();
      state.ResumeTiming();
    }
  }
  live.stop();
  state.counters["written"] = static_cast<double>(live.written());
  state.counters["dropped"] = static_cast<double>(live.dropped());
}
BENCHMARK(BM_TapCaptured);

void BM_TapQueueFull(benchmark::State& state) {
  TempDir dir;
  capture::CaptureSettings settings;
  settings.directory = dir.path;
  capture::LiveCapture live(settings, 1);  // not started: nobody empties the queue
  const auto f = flow();
  for (auto _ : state) live.tap(0).observe(kRegister, f, true);
  state.counters["dropped"] = static_cast<double>(live.dropped());
}
BENCHMARK(BM_TapQueueFull);

void write_messages(benchmark::State& state, sbc::Protocol protocol) {
  TempDir dir;
  capture::PcapWriter writer({dir.path, "sbc", 4u << 20, 2});
  const auto m = message(protocol);
  for (auto _ : state) benchmark::DoNotOptimize(writer.write(m));
  writer.flush();
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * kRegister.size()));
}
void BM_WriterUdp(benchmark::State& state) {
  write_messages(state, sbc::Protocol::Udp);
}
void BM_WriterTcp(benchmark::State& state) {
  write_messages(state, sbc::Protocol::Tcp);
}
BENCHMARK(BM_WriterUdp);
BENCHMARK(BM_WriterTcp);

void BM_ReadCapture(benchmark::State& state) {
  TempDir dir;
  constexpr int kMessages = 10000;
  {
    capture::PcapWriter writer({dir.path, "sbc", 1u << 30, 1});
    for (int i = 0; i < kMessages; ++i)
      writer.write(message(i % 2 ? sbc::Protocol::Udp : sbc::Protocol::Tcp));
  }
  const std::string path = dir.path + "/sbc-00000001.pcap";
  std::size_t read = 0;
  for (auto _ : state)
    capture::read_capture_file(path, [&](const capture::CapturedMessage&) { ++read; });
  state.SetItemsProcessed(static_cast<std::int64_t>(read));
}
BENCHMARK(BM_ReadCapture)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
