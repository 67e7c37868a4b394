// The peers' parsing figures (instr_peers): libosip2 and sofia-sip on the F1 INVITE, with the same
// calls as bench_sip_parse. A binary of their own: sofia-sip links OpenSSL's libcrypto, the SBC
// BoringSSL's, and the two export the same symbol names.
#include <cstdarg>
#include <string>

#include "bench/instr/harness.hpp"
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

namespace sbc::bench::instr {
namespace {

void silent_osip_trace(const char*, int, osip_trace_level_t, const char*, va_list) {}

}  // namespace

Result peer_osip2_f1(std::uint64_t iterations) {
  // As bench_sip_parse: the global tables once, and a silent logger (else osip logs to stdout).
  if (parser_init() != OSIP_SUCCESS) fail("osip parser_init failed");
  osip_trace_initialize_func(TRACE_LEVEL0, silent_osip_trace);
  const std::string bytes(test::kInvite);  // NUL-terminated, as the C parser may assume
  Result r;
  for (std::uint64_t i = 0; i < iterations; ++i) {
    osip_message_t* msg = nullptr;
    if (osip_message_init(&msg) != OSIP_SUCCESS) fail("osip_message_init failed");
    const int rc = osip_message_parse(msg, bytes.c_str(), bytes.size());
    r.checksum += rc == OSIP_SUCCESS ? 1 : 0;
    osip_message_free(msg);
  }
  if (r.checksum != iterations) fail("libosip2 rejects the F1 INVITE");
  return r;
}

#ifdef SBC_BENCH_HAVE_SOFIA
Result peer_sofia_f1(std::uint64_t iterations) {
  msg_mclass_t const* mclass = sip_default_mclass();
  const std::string bytes(test::kInvite);
  Result r;
  for (std::uint64_t i = 0; i < iterations; ++i) {
    msg_t* m = msg_make(mclass, 0, bytes.c_str(), static_cast<ssize_t>(bytes.size()));
    const sip_t* s = m != nullptr ? sip_object(m) : nullptr;
    r.checksum +=
        s != nullptr && !msg_has_error(m) && s->sip_error == nullptr && s->sip_request != nullptr
            ? 1
            : 0;
    msg_destroy(m);
  }
  if (r.checksum != iterations) fail("sofia-sip rejects the F1 INVITE");
  return r;
}
#endif

}  // namespace sbc::bench::instr
