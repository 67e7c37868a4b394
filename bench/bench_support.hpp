#pragma once
// What the benchmarks of bench/ share: the RFC 4475 corpus (where it is, its `valid` entries),
// a phone's requests (REGISTER, in-dialog BYE) and the flows they arrive on. The messages of the
// unit tests the benchmarks also time (the RFC 3261 F1 INVITE) are in tests/support/.
//
// The corpus functions need SBC_DEFAULT_CORPUS_DIR, defined by bench/CMakeLists.txt for every
// benchmark that reads the corpus.

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "sbc/common/flow.hpp"

namespace sbc::bench {

#ifdef SBC_DEFAULT_CORPUS_DIR
// $SBC_CORPUS_DIR, or the directory baked in at build time.
inline std::filesystem::path corpus_root() {
  const char* env = std::getenv("SBC_CORPUS_DIR");
  return (env != nullptr && *env != '\0') ? std::filesystem::path(env)
                                          : std::filesystem::path(SBC_DEFAULT_CORPUS_DIR);
}
#endif

// A whole file; nothing when it cannot be opened.
inline std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// One message of the corpus.
struct CorpusMessage {
  std::string name;  // as in EXPECTED.tsv, without ".dat"
  std::string bytes;
};

// Every entry of DIR/EXPECTED.tsv (columns: name, section, expect, ...) marked `valid`, read from
// DIR/NAME.dat, in the file's order. `fail(why)` is called (and must not return) when the table
// or a message cannot be read.
template <typename Fail>
std::vector<CorpusMessage> listed_valid(const std::filesystem::path& dir, Fail&& fail) {
  std::ifstream tsv(dir / "EXPECTED.tsv");
  if (!tsv) fail("cannot open " + (dir / "EXPECTED.tsv").string() + " (set SBC_CORPUS_DIR)");
  std::vector<CorpusMessage> out;
  std::string line;
  std::getline(tsv, line);  // column titles
  while (std::getline(tsv, line)) {
    std::istringstream fields(line);
    std::string name, section, expect;
    if (!std::getline(fields, name, '\t') || !std::getline(fields, section, '\t') ||
        !std::getline(fields, expect, '\t') || expect != "valid")
      continue;
    const std::filesystem::path path = dir / (name + ".dat");
    std::optional<std::string> bytes = read_file(path);
    if (!bytes) fail("cannot open " + path.string() + " (set SBC_CORPUS_DIR)");
    out.push_back({std::move(name), std::move(*bytes)});
  }
  return out;
}

// A phone's REGISTER (Linphone by default; capture_bench makes it a scanner's).
inline std::string phone_register(
    std::string_view user_agent = "Linphone/5.2.0 (belle-sip/5.2.0)") {
  return std::string(
             "REGISTER sip:example.com SIP/2.0\r\n"
             "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhds;rport\r\n"
             "Max-Forwards: 70\r\n"
             "From: <sip:alice@example.com>;tag=1928301774\r\n"
             "To: <sip:alice@example.com>\r\n"
             "Call-ID: a84b4c76e66710@192.0.2.10\r\n"
             "CSeq: 314159 REGISTER\r\n"
             "Contact: <sip:alice@192.0.2.10:5060>\r\n"
             "User-Agent: ") +
         std::string(user_agent) +
         "\r\n"
         "Expires: 3600\r\n"
         "Content-Length: 0\r\n\r\n";
}

// The same phone's BYE inside a dialog.
inline constexpr std::string_view kPhoneBye =
    "BYE sip:alice@192.0.2.10:5060 SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK776asdhdt;rport\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:alice@example.com>;tag=1928301774\r\n"
    "To: <sip:bob@example.com>;tag=a6c85cf\r\n"
    "Call-ID: a84b4c76e66711@192.0.2.10\r\n"
    "CSeq: 2 BYE\r\n"
    "User-Agent: Linphone/5.2.0 (belle-sip/5.2.0)\r\n"
    "Content-Length: 0\r\n\r\n";

// A UDP flow from REMOTE_IP:REMOTE_PORT to our LOCAL_IP:5060.
inline sbc::FlowInfo udp_flow(std::string_view remote_ip, std::uint16_t remote_port = 5060,
                              std::string_view local_ip = "198.51.100.1",
                              std::uint64_t flow_token = 0) {
  sbc::FlowInfo f;
  f.protocol = sbc::Protocol::Udp;
  f.local_ip = local_ip;
  f.local_port = 5060;
  f.remote_ip = remote_ip;
  f.remote_port = remote_port;
  f.flow_token = flow_token;
  return f;
}

}  // namespace sbc::bench
