#pragma once
// instr_harness: the operations whose instruction counts bench/instructions.sh measures under
// callgrind. Each figure runs its operation a given number of times; the script runs it with N and
// 11*N iterations, and (Ir(11N) - Ir(N)) / (10N) is the cost of one iteration without start-up.
//
// A figure prepares everything its loop needs before the loop (messages, tables, chains), checks
// once that the operation does what it claims (a parse that fails, a call that is not relayed, is
// a broken harness, not a fast one: the harness exits non-zero), and folds every result into a
// checksum that is printed, so that the optimiser cannot drop the work.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace sbc::bench::instr {

struct Result {
  std::uint64_t checksum = 0;
  // Operations one iteration performs (messages of the corpus parsed per pass): the script
  // divides the instructions of an iteration by it.
  std::uint64_t ops_per_iteration = 1;
};

using FigureFn = Result (*)(std::uint64_t iterations);

struct Figure {
  const char* name;
  const char* what;  // one line, for --list
  FigureFn run;
};

// A failed check: the harness is broken or the code no longer does what the figure measures.
[[noreturn]] inline void fail(const std::string& why) {
  std::fprintf(stderr, "instr_harness: %s\n", why.c_str());
  std::exit(2);
}

// The figures, by file.
Result parse_f1(std::uint64_t iterations);
Result parse_rfc4475_valid(std::uint64_t iterations);
Result peer_osip2_f1(std::uint64_t iterations);
Result peer_sofia_f1(std::uint64_t iterations);  // only when built with sofia-sip
Result policy_invite(std::uint64_t iterations);
Result policy_bye_in_dialog(std::uint64_t iterations);
Result relay_call(std::uint64_t iterations);
Result edge_options(std::uint64_t iterations);

}  // namespace sbc::bench::instr
