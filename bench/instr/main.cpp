// instr_harness FIGURE ITERATIONS   runs one figure (see harness.hpp); prints
//                                   "figure=NAME iterations=N ops_per_iteration=K checksum=X"
// instr_harness --list              the figures this build has, one "NAME<TAB>description" a line
// The same main makes instr_peers (SBC_INSTR_PEERS defined): the peer parsers' figures.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "bench/instr/harness.hpp"

namespace sbc::bench::instr {

namespace {

#ifndef SBC_INSTR_PEERS
constexpr Figure kFigures[] = {
    {"parse_f1_invite", "sbc::sip parse + full validation of the RFC 3261 24.2 F1 INVITE (563 B)",
     parse_f1},
    {"parse_rfc4475_valid", "sbc::sip parse + validation, mean over the valid RFC 4475 messages",
     parse_rfc4475_valid},
    {"policy_invite", "default policy chain (embedded config): admit + decide, INVITE",
     policy_invite},
    {"policy_bye_in_dialog",
     "default policy chain (embedded config): admit + decide, in-dialog BYE", policy_bye_in_dialog},
    {"relay_call", "one call through edge + relay, no sockets: INVITE 100 180 200 ACK BYE 200",
     relay_call},
    {"edge_options", "one OPTIONS to the SBC answered 200 by the edge (no policy)", edge_options},
};
#else
constexpr Figure kFigures[] = {
    {"peer_osip2_f1", "reference: libosip2 init + parse + free of the F1 INVITE", peer_osip2_f1},
#ifdef SBC_BENCH_HAVE_SOFIA
    {"peer_sofia_f1", "reference: sofia-sip msg_make + msg_destroy of the F1 INVITE",
     peer_sofia_f1},
#endif
};
#endif

int usage() {
  std::fprintf(stderr, "usage: instr_harness FIGURE ITERATIONS | instr_harness --list\n");
  return 2;
}

}  // namespace
}  // namespace sbc::bench::instr

int main(int argc, char** argv) {
  using namespace sbc::bench::instr;
  if (argc == 2 && std::string_view(argv[1]) == "--list") {
    for (const Figure& f : kFigures) std::printf("%s\t%s\n", f.name, f.what);
    return 0;
  }
  if (argc != 3) return usage();
  const std::string_view name = argv[1];
  const std::string_view count = argv[2];
  std::uint64_t iterations = 0;
  const auto [end, ec] = std::from_chars(count.data(), count.data() + count.size(), iterations);
  if (ec != std::errc{} || end != count.data() + count.size() || iterations == 0) return usage();
  for (const Figure& f : kFigures) {
    if (name != f.name) continue;
    const Result r = f.run(iterations);
    std::printf("figure=%s iterations=%llu ops_per_iteration=%llu checksum=%llu\n", f.name,
                static_cast<unsigned long long>(iterations),
                static_cast<unsigned long long>(r.ops_per_iteration),
                static_cast<unsigned long long>(r.checksum));
    return 0;
  }
  std::fprintf(stderr, "instr_harness: no figure %.*s in this build (see --list)\n",
               static_cast<int>(name.size()), name.data());
  return 2;
}
