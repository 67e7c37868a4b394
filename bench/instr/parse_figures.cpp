// Parsing figures: our parser on the F1 INVITE and on the valid RFC 4475 messages.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/bench_support.hpp"
#include "bench/instr/harness.hpp"
#include "sbc/sip/message.hpp"
#include "tests/support/sip_samples.hpp"

namespace sbc::bench::instr {
namespace {

sip::Verdict parse(sip::Message& m, std::string_view bytes) {
  return m.parse(bytes, sip::Framing::Datagram, sip::Limits{});
}

// Folds a verdict into the checksum: its kind and status (a valid message adds 1).
std::uint64_t fold(const sip::Verdict& v) {
  return static_cast<std::uint64_t>(v.kind) * 1000 + v.status + (v.is_valid() ? 1 : 0);
}

// Every `valid` entry of rfc4475/EXPECTED.tsv that our parser accepts (as bench_sip_parse: the
// ones it refuses are named on stderr and left out, so the figure is the accept path's).
std::vector<std::string> valid_corpus() {
  const std::filesystem::path dir = corpus_root() / "rfc4475";
  std::vector<std::string> out;
  auto m = std::make_unique<sip::Message>();
  for (CorpusMessage& entry : listed_valid(dir, fail)) {
    if (!parse(*m, entry.bytes).is_valid()) {
      std::fprintf(stderr, "note: rfc4475/%s is listed valid but refused; left out\n",
                   entry.name.c_str());
      continue;
    }
    out.push_back(std::move(entry.bytes));
  }
  if (out.empty()) fail("no valid RFC 4475 message accepted from " + dir.string());
  return out;
}

}  // namespace

Result parse_f1(std::uint64_t iterations) {
  // A Message is a few KiB (its header table is inline): built once, reused, as in the proxy.
  auto m = std::make_unique<sip::Message>();
  if (!parse(*m, test::kInvite).is_valid()) fail("the F1 INVITE does not parse");
  Result r;
  for (std::uint64_t i = 0; i < iterations; ++i) r.checksum += fold(parse(*m, test::kInvite));
  if (r.checksum != iterations) fail("the F1 INVITE stopped parsing");
  return r;
}

Result parse_rfc4475_valid(std::uint64_t iterations) {
  const std::vector<std::string> corpus = valid_corpus();
  std::fprintf(stderr, "parse_rfc4475_valid: %zu messages per iteration\n", corpus.size());
  auto m = std::make_unique<sip::Message>();
  Result r;
  r.ops_per_iteration = corpus.size();
  for (std::uint64_t i = 0; i < iterations; ++i)
    for (const std::string& bytes : corpus) r.checksum += fold(parse(*m, bytes));
  if (r.checksum != iterations * corpus.size()) fail("a corpus message stopped parsing");
  return r;
}

}  // namespace sbc::bench::instr
