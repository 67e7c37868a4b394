#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../corpus.hpp"
#include "sbc/app/commands.hpp"
#include "sbc/app/config.hpp"

using sbc::app::main_command;

namespace {
struct Run {
  int status;
  std::string out;
  std::string err;
};
Run run(std::vector<std::string_view> args) {
  std::ostringstream out, err;
  const int status = main_command(args, out, err);
  return {status, out.str(), err.str()};
}
}  // namespace

TEST_CASE("sbc validate prints one line per file and exits 1 on any invalid one", "[cli]") {
  const std::string dir = sbc::test::corpus_dir() + "/rfc4475/";
  const std::string good = dir + "wsinv.dat", bad = dir + "badvers.dat", resp = dir + "bigcode.dat";
  Run r = run({"validate", good});
  CHECK(r.status == 0);
  CHECK(r.out == good + ": valid\n");
  r = run({"validate", good, bad, resp});
  CHECK(r.status == 1);
  CHECK(r.out == good + ": valid\n" + bad + ": invalid 505 SIP version not supported\n" + resp +
                     ": invalid drop Malformed status code\n");
  r = run({"validate", "/nonexistent/file"});
  CHECK(r.status == 1);
  CHECK(r.out == "/nonexistent/file: error cannot read the file\n");
  CHECK(run({"validate"}).status == 2);
}

TEST_CASE("sbc validate honours the configured Proxy-Require tags", "[cli]") {
  const auto tmp = std::filesystem::temp_directory_path() / "sbc-commands-test.yaml";
  std::ofstream(tmp)
      << "sip:\n  proxy_require_supported: [noProxiesSupportThis, norDoAnyProxiesSupportThis]\n";
  const std::string bext = sbc::test::corpus_dir() + "/rfc4475/bext01.dat";
  CHECK(run({"validate", bext}).status == 1);
  const std::string path = tmp.string();
  CHECK(run({"validate", "--config", path, bext}).status == 0);
  std::filesystem::remove(tmp);
}

TEST_CASE("sbc check-config and sbc run", "[cli]") {
  const auto tmp = std::filesystem::temp_directory_path() / "sbc-commands-check.yaml";
  std::ofstream(tmp) << "listeners:\n  - transport: udp\n    port: 0\n";
  const std::string path = tmp.string();
  Run r = run({"check-config", path});
  CHECK(r.status == 1);
  CHECK(r.err == path + ":3: listeners[0].port: must be between 1 and 65535 (got 0)\n");
  std::ofstream(tmp) << "listeners:\n  - transport: udp\n    port: 5070\n";
  r = run({"check-config", path});
  CHECK(r.status == 0);
  // A listener that cannot bind stops the start with exit 1 (the daemon itself is exercised by
  // tests/integration with real clients).
  std::ofstream(tmp) << "listeners:\n  - transport: udp\n    address: 192.0.2.1\n    port: 5070\n";
  r = run({"run", "--config", path});
  CHECK(r.status == 1);
  CHECK(r.err.find("cannot listen on udp [192.0.2.1]:5070") != std::string::npos);
  CHECK(run({"run", "--config", "/nonexistent.yaml"}).status == 1);
  CHECK(run({"bogus"}).status == 2);
  std::filesystem::remove(tmp);
}

TEST_CASE("sbc version names the compiler and the optimisation flags it was built with", "[cli]") {
  const Run r = run({"version"});
  CHECK(r.status == 0);
  CHECK(r.out.rfind("sbc ", 0) == 0);
  // e.g. "sbc 0.1.0 (GNU 12.2.0, Release: -O3 -DNDEBUG)": instruction counts depend on both.
  const bool names_compiler =
      r.out.find(" (GNU ") != std::string::npos || r.out.find(" (Clang ") != std::string::npos;
  CHECK(names_compiler);
  CHECK(r.out.find(": ") != std::string::npos);
  CHECK(run({"--version"}).out == r.out);
}

TEST_CASE("sbc config-schema prints the configuration's JSON Schema", "[cli]") {
  const Run r = run({"config-schema"});
  CHECK(r.status == 0);
  CHECK(r.out == sbc::app::config_schema_text());
  CHECK(r.out.starts_with("{\n  \"$schema\": \"http://json-schema.org/draft-07/schema#\""));
  CHECK(run({"config-schema", "extra"}).status == 2);
}
