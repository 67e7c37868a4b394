// bench_sip_parse: how many SIP messages per second our core parses and validates, next to
// libosip2 and sofia-sip parsing the same bytes.
//
// Two message sets:
//   Invite       the RFC 3261 section 24.2 INVITE (F1 of the session setup example, with SDP);
//   ValidCorpus  every RFC 4475 torture message marked `valid` in EXPECTED.tsv that our parser
//                accepts; one iteration parses each of them once.
// Both report items_per_second = messages per second. After the run a summary table gives each
// parser's figure per set and the ratio of ours to the fastest peer.
//
// The work is not identical: our parser validates every header it knows (RFC 3261 grammar) into
// views without allocating, while the peers build an allocated message tree with the headers
// they know decoded. All three stop at the body (none parses SDP). The comparison answers "what
// does a full parse cost in each library", not "who does the same thing faster".
//
// The corpus directory is $SBC_CORPUS_DIR, or else the path baked in at build time (compile
// definition SBC_DEFAULT_CORPUS_DIR, set from the CMake cache variable SBC_CORPUS_DIR).

#include <benchmark/benchmark.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <unistd.h>  // isatty

#include "bench/bench_support.hpp"
#include "sbc/sip/message.hpp"
#include "tests/support/sip_samples.hpp"

extern "C" {
#include <osipparser2/osip_parser.h>
#include <osipparser2/osip_port.h>
}

#ifdef SBC_BENCH_HAVE_SOFIA
// Sofia's headers carry their own extern "C" guards.
#include <sofia-sip/msg.h>
#include <sofia-sip/msg_mclass.h>
#include <sofia-sip/sip.h>
#include <sofia-sip/sip_parser.h>
#endif

#ifndef SBC_DEFAULT_CORPUS_DIR
#error "SBC_DEFAULT_CORPUS_DIR must be defined by the build (see bench/CMakeLists.txt)"
#endif

namespace {

namespace sip = sbc::sip;

// ---------------------------------------------------------------------------------------------
// Message sets

// RFC 3261 section 24.2, message F1 (tests/support/sip_samples.hpp, shared with the unit tests
// and instr_harness).
constexpr std::string_view kInvite = sbc::test::kInvite;

// One message set. The messages are std::strings so that each is NUL-terminated (osip and sofia
// are C parsers and some of their paths assume it) and stays at a fixed address while timed.
struct MessageSet {
  std::string name;  // "Invite", "ValidCorpus": becomes BM_<name>/<parser>
  std::vector<std::string> messages;
  std::vector<std::string> labels;  // one per message, for diagnostics
  std::size_t bytes = 0;            // total size, for bytes_per_second
};

[[noreturn]] void die(const std::string& why) {
  std::fprintf(stderr, "bench_sip_parse: %s\n", why.c_str());
  std::exit(EXIT_FAILURE);
}

sip::Verdict sbc_parse(sip::Message& m, std::string_view bytes) {
  return m.parse(bytes, sip::Framing::Datagram, sip::Limits{});
}

std::string describe(const sip::Verdict& v) {
  std::string s = v.kind == sip::Verdict::Kind::Drop ? "drop" : std::to_string(v.status);
  return s + " \"" + std::string(v.reason) + "\"";
}

MessageSet load_invite() {
  MessageSet set{"Invite", {std::string(kInvite)}, {"RFC 3261 24.2 F1"}, kInvite.size()};
  // Timing a message we reject would measure the early exit, not a parse: refuse to run.
  auto m = std::make_unique<sip::Message>();
  if (const sip::Verdict v = sbc_parse(*m, set.messages.front()); !v.is_valid())
    die("the RFC 3261 24.2 INVITE is not valid for sbc::sip: " + describe(v));
  return set;
}

// Every `valid` entry of rfc4475/EXPECTED.tsv (columns: name, section, expect, ...) that our
// parser accepts. The ones it refuses are listed on stderr: they are conformance findings, and
// leaving them out keeps the set a fair measure of the accept path.
MessageSet load_valid_corpus() {
  const std::filesystem::path dir = sbc::bench::corpus_root() / "rfc4475";
  MessageSet set{"ValidCorpus", {}, {}, 0};
  auto m = std::make_unique<sip::Message>();
  std::vector<sbc::bench::CorpusMessage> listed = sbc::bench::listed_valid(dir, die);
  for (sbc::bench::CorpusMessage& entry : listed) {
    if (const sip::Verdict v = sbc_parse(*m, entry.bytes); !v.is_valid()) {
      std::fprintf(stderr, "note: rfc4475/%s is listed valid but sbc::sip answers %s; left out\n",
                   entry.name.c_str(), describe(v).c_str());
      continue;
    }
    set.bytes += entry.bytes.size();
    set.messages.push_back(std::move(entry.bytes));
    set.labels.push_back("rfc4475/" + entry.name);
  }
  if (set.messages.empty()) die("no valid message accepted from " + dir.string());
  std::fprintf(stderr, "ValidCorpus: %zu of %zu `valid` RFC 4475 messages (%zu bytes)\n",
               set.messages.size(), listed.size(), set.bytes);
  return set;
}

// ---------------------------------------------------------------------------------------------
// Parsers. Each has a one-time check (run before timing, on every message of a set) and the
// timed loop. The check is strict for ours; for the peers a rejection is reported and the message
// kept, so that every parser is timed on the same bytes.

void report_items(benchmark::State& state, const MessageSet& set) {
  const auto n = static_cast<std::int64_t>(set.messages.size());
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(set.bytes));
}

void bm_sbc(benchmark::State& state, const MessageSet* set) {
  // A Message is a few KiB (its header table is inline); built once, reused, as in the proxy.
  auto m = std::make_unique<sip::Message>();
  for (auto _ : state) {
    for (const std::string& bytes : set->messages) {
      sip::Verdict v = sbc_parse(*m, bytes);
      benchmark::DoNotOptimize(v);
    }
  }
  report_items(state, *set);
}

void silent_osip_trace(const char*, int, osip_trace_level_t, const char*, va_list) {}

bool osip_parses(const std::string& bytes) {
  osip_message_t* msg = nullptr;
  if (osip_message_init(&msg) != OSIP_SUCCESS) die("osip_message_init failed");
  const int rc = osip_message_parse(msg, bytes.c_str(), bytes.size());
  osip_message_free(msg);
  return rc == OSIP_SUCCESS;
}

void bm_osip2(benchmark::State& state, const MessageSet* set) {
  for (auto _ : state) {
    for (const std::string& bytes : set->messages) {
      osip_message_t* msg = nullptr;
      osip_message_init(&msg);
      int rc = osip_message_parse(msg, bytes.c_str(), bytes.size());
      benchmark::DoNotOptimize(rc);
      osip_message_free(msg);
    }
  }
  report_items(state, *set);
}

#ifdef SBC_BENCH_HAVE_SOFIA
// The parse result counts as good when sofia built a SIP object with a start line, flagged no
// error on the message and put no header in its error list (headers it could not decode).
bool sofia_parsed(msg_t* m) {
  const sip_t* s = sip_object(m);
  return s != nullptr && !msg_has_error(m) && s->sip_error == nullptr &&
         (s->sip_request != nullptr || s->sip_status != nullptr);
}

bool sofia_parses(const std::string& bytes) {
  // msg_make takes the buffer as const and copies it into the message: no per-call copy needed.
  msg_t* m = msg_make(sip_default_mclass(), 0, bytes.c_str(), static_cast<ssize_t>(bytes.size()));
  const bool ok = m != nullptr && sofia_parsed(m);
  msg_destroy(m);
  return ok;
}

void bm_sofia(benchmark::State& state, const MessageSet* set) {
  msg_mclass_t const* mclass = sip_default_mclass();
  for (auto _ : state) {
    for (const std::string& bytes : set->messages) {
      msg_t* m = msg_make(mclass, 0, bytes.c_str(), static_cast<ssize_t>(bytes.size()));
      benchmark::DoNotOptimize(m);
      msg_destroy(m);
    }
  }
  report_items(state, *set);
}
#endif

struct Peer {
  const char* name;
  bool (*check)(const std::string&);
  void (*run)(benchmark::State&, const MessageSet*);
};

constexpr Peer kPeers[] = {
    {"osip2", osip_parses, bm_osip2},
#ifdef SBC_BENCH_HAVE_SOFIA
    {"sofia", sofia_parses, bm_sofia},
#endif
};

// ---------------------------------------------------------------------------------------------
// Reporting

// The console output as usual, plus items_per_second of every finished run, for the summary.
class RecordingReporter : public benchmark::ConsoleReporter {
 public:
  explicit RecordingReporter(OutputOptions options) : ConsoleReporter(options) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      // With --benchmark_repetitions the median is the figure to keep; otherwise the single run.
      const bool aggregate = run.run_type == Run::RT_Aggregate;
      if (aggregate && run.aggregate_name != "median") continue;
      const auto it = run.counters.find("items_per_second");
      if (it == run.counters.end()) continue;
      Result& r = results_[run.run_name.function_name];
      if (aggregate || !r.from_median) r = {it->second.value, aggregate};
    }
  }

  bool empty() const { return results_.empty(); }
  // Messages per second, or a negative value when the benchmark did not run (filtered out).
  double rate(const std::string& name) const {
    const auto it = results_.find(name);
    return it == results_.end() ? -1.0 : it->second.rate;
  }

 private:
  struct Result {
    double rate = 0;
    bool from_median = false;
  };
  std::map<std::string, Result> results_;
};

// A reporter passed to RunSpecifiedBenchmarks is used as given, so --benchmark_color no longer
// reaches it: apply it here (before Initialize consumes the flag), colour by default only on a
// terminal, as the library does. Tabular, so the two rate counters get columns of their own.
benchmark::ConsoleReporter::OutputOptions console_options(int argc, char** argv) {
  bool color = isatty(STDOUT_FILENO) != 0;
  constexpr std::string_view kFlag = "--benchmark_color=";
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with(kFlag)) continue;
    const std::string_view value = arg.substr(kFlag.size());
    if (value == "true" || value == "yes" || value == "1") color = true;
    if (value == "false" || value == "no" || value == "0") color = false;
  }
  return color ? benchmark::ConsoleReporter::OO_ColorTabular
               : benchmark::ConsoleReporter::OO_Tabular;
}

void print_summary(const RecordingReporter& reporter, const std::vector<MessageSet>& sets) {
  std::vector<std::string> parsers{"sbc"};
  for (const Peer& p : kPeers) parsers.emplace_back(p.name);

  std::printf("\nSummary: messages per second (higher is better)\n%-12s", "set");
  for (const std::string& p : parsers) std::printf(" %14s", p.c_str());
  std::printf(" %22s\n", "sbc / fastest peer");
  for (const MessageSet& set : sets) {
    std::printf("%-12s", set.name.c_str());
    double fastest_peer = -1.0;
    std::string fastest_name;
    for (const std::string& p : parsers) {
      const double r = reporter.rate("BM_" + set.name + "/" + p);
      if (r < 0) {
        std::printf(" %14s", "-");
        continue;
      }
      std::printf(" %14.0f", r);
      if (p != "sbc" && r > fastest_peer) {
        fastest_peer = r;
        fastest_name = p;
      }
    }
    const double ours = reporter.rate("BM_" + set.name + "/sbc");
    if (ours > 0 && fastest_peer > 0)
      std::printf(" %11.2fx (vs %s)\n", ours / fastest_peer, fastest_name.c_str());
    else
      std::printf(" %22s\n", "-");
  }
#ifndef SBC_BENCH_HAVE_SOFIA
  std::printf("(sofia-sip was not available at build time)\n");
#endif
}

}  // namespace

int main(int argc, char** argv) {
  const auto console = console_options(argc, argv);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return EXIT_FAILURE;

  // osip's parser needs its global tables built once before any parse.
  if (parser_init() != OSIP_SUCCESS) die("osip parser_init failed");
  // Debian builds osip with tracing compiled in. With no logger installed, osip_trace() installs
  // stdout itself at the first message and re-enables the error levels (so disabling levels alone
  // does not stick): each parse error would print three lines inside the timed loop. Installing a
  // do-nothing logger with every level off makes osip_trace() return at its level check, so osip
  // is timed parsing, not logging.
  osip_trace_initialize_func(TRACE_LEVEL0, silent_osip_trace);

  // Loaded before registration and kept alive until after the run: the benchmarks hold pointers.
  std::vector<MessageSet> sets;
  sets.push_back(load_invite());
  sets.push_back(load_valid_corpus());

  for (const MessageSet& set : sets) {
    for (const Peer& peer : kPeers) {
      for (std::size_t i = 0; i < set.messages.size(); ++i) {
        if (peer.check(set.messages[i])) continue;
        // The INVITE is the plainest message there is: a peer refusing it means a broken setup.
        if (set.name == "Invite") die(std::string(peer.name) + " rejects the RFC 3261 INVITE");
        std::fprintf(stderr, "note: %s rejects %s (timed anyway)\n", peer.name,
                     set.labels[i].c_str());
      }
    }
  }

  for (const MessageSet& set : sets) {
    const std::string prefix = "BM_" + set.name + "/";
    benchmark::RegisterBenchmark((prefix + "sbc").c_str(), bm_sbc, &set);
    for (const Peer& peer : kPeers)
      benchmark::RegisterBenchmark((prefix + peer.name).c_str(), peer.run, &set);
  }

  RecordingReporter reporter(console);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  // Nothing recorded: --benchmark_list_tests, or a filter that matched no benchmark.
  if (!reporter.empty()) print_summary(reporter, sets);
  benchmark::Shutdown();
  return EXIT_SUCCESS;
}
