#include "sbc/app/commands.hpp"

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "policy/credentials.hpp"
#include "sbc/app/config.hpp"
#include "sbc/app/ctl.hpp"
#include "sbc/app/daemon.hpp"
#include "sbc/capture/replay.hpp"
#include "sbc/sip/message.hpp"

namespace sbc::app {
namespace {

constexpr std::string_view kUsage =
    "usage: sbc <command> [options]\n"
    "\n"
    "commands:\n"
    "  run [--config FILE] [--core sip:IP:PORT]\n"
    "                                    start the SBC (embedded default configuration without "
    "--config);\n"
    "                                    --core relays to that core instead of the configured "
    "ones\n"
    "  check-config FILE                 validate a configuration file and exit\n"
    "  config-schema                     print the JSON Schema of the configuration file\n"
    "  validate [--config FILE] FILE...  validate each file as the payload of one UDP datagram\n"
    "  ha1 USER REALM                    print credentials-file lines (SHA-256 and MD5) for\n"
    "                                    the password read from standard input\n"
    "  replay [--config FILE] [--all] FILE.pcap\n"
    "                                    run the SIP messages of a capture sent to the configured\n"
    "                                    listener ports (--all: every one) through validation and\n"
    "                                    the policy chain, and report the verdicts\n"
    "  ctl [--socket PATH] [--json] COMMAND\n"
    "                                    ask a running SBC over its admin socket: status, bans,\n"
    "                                    unban, flows, config, cores, reload (sbc ctl --help)\n"
    "  version                           print the version\n";

// Splits "--config FILE" off the arguments; returns the remaining ones.
std::vector<std::string_view> take_config_option(std::span<const std::string_view> args,
                                                 std::optional<std::string>& config_path) {
  std::vector<std::string_view> rest;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--config" || args[i] == "-c") {
      if (i + 1 == args.size()) throw ConfigError("--config needs a file name");
      config_path = std::string(args[++i]);
    } else if (args[i].starts_with("--config=")) {
      config_path = std::string(args[i].substr(9));
    } else {
      rest.push_back(args[i]);
    }
  }
  return rest;
}

// A configuration that listens nowhere would start and serve nothing, silently: refused by
// check-config and run (validate and replay listen nowhere anyway).
void require_listeners(const Config& config, std::string_view source) {
  if (config.listeners.empty())
    throw ConfigError(std::string(source) +
                      ": listeners: none configured, the SBC would listen nowhere (a file "
                      "without `listeners` has none; see the embedded default, sbc run without "
                      "--config)");
}

Config load(const std::optional<std::string>& path) {
  return path ? load_config_file(*path) : parse_config(default_config_text(), "<default>");
}

// The configuration a command names with --config (the embedded default without), and the
// command's other arguments; on a configuration error, says so as `command` and returns none.
std::optional<std::pair<Config, std::vector<std::string_view>>> config_and_arguments(
    std::string_view command, std::span<const std::string_view> args, std::ostream& err) {
  try {
    std::optional<std::string> path;
    std::vector<std::string_view> rest = take_config_option(args, path);
    return std::pair{load(path), std::move(rest)};
  } catch (const ConfigError& e) {
    err << "sbc " << command << ": " << e.what() << '\n';
    return std::nullopt;
  }
}

bool read_file(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return !in.bad();
}

}  // namespace

int validate_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  auto loaded = config_and_arguments("validate", args, err);
  if (!loaded) return 2;
  const Config& config = loaded->first;
  const std::vector<std::string_view>& files = loaded->second;
  if (files.empty()) {
    err << "sbc validate: no file given\n" << kUsage;
    return 2;
  }
  std::vector<std::string_view> supported(config.proxy_require_supported.begin(),
                                          config.proxy_require_supported.end());
  const sip::Message::ProxyOptions proxy{supported};
  auto message = std::make_unique<sip::Message>();
  std::string bytes;
  bool all_valid = true;
  for (std::string_view file : files) {
    if (!read_file(std::string(file), bytes)) {
      out << file << ": error cannot read the file\n";
      all_valid = false;
      continue;
    }
    sip::Verdict verdict = message->parse(bytes, sip::Framing::Datagram, config.limits);
    if (verdict.is_valid()) verdict = message->check_proxy_rules(proxy);
    switch (verdict.kind) {
      case sip::Verdict::Kind::Valid:
        out << file << ": valid\n";
        break;
      case sip::Verdict::Kind::Respond:
        out << file << ": invalid " << verdict.status << ' ' << verdict.reason << '\n';
        all_valid = false;
        break;
      case sip::Verdict::Kind::Drop:
        out << file << ": invalid drop " << verdict.reason << '\n';
        all_valid = false;
        break;
    }
  }
  return all_valid ? 0 : 1;
}

int replay_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  auto loaded = config_and_arguments("replay", args, err);
  if (!loaded) return 2;
  const Config& config = loaded->first;
  std::vector<std::string_view>& files = loaded->second;
  const bool all = std::erase(files, "--all") > 0;
  if (files.size() != 1) {
    err << "sbc replay: exactly one capture file expected\n" << kUsage;
    return 2;
  }
  const std::string path(files[0]);
  capture::ReplayOptions options;
  for (const Listener& l : config.listeners) {
    if (all) break;
    (l.transport == Transport::Udp ? options.udp_ports : options.stream_ports).push_back(l.port);
  }
  options.limits = config.limits;
  options.proxy_require_supported = config.proxy_require_supported;
  options.policy = config.policy;
  const capture::ReplayReport report = capture::replay_capture(path, options);
  if (!report.read.ok) {
    err << "sbc replay: " << path << ": cannot read the capture: " << report.read.error << '\n';
    return 2;
  }
  capture::print_report(report, path, out);
  return 0;
}

int check_config_command(std::span<const std::string_view> args, std::ostream& out,
                         std::ostream& err) {
  if (args.size() != 1) {
    err << "sbc check-config: exactly one file expected\n" << kUsage;
    return 2;
  }
  try {
    const Config config = load_config_file(std::string(args[0]));
    require_listeners(config, args[0]);
    out << args[0] << ": configuration OK (" << config.listeners.size() << " listeners)\n";
    return 0;
  } catch (const ConfigError& e) {
    err << e.what() << '\n';
    return 1;
  }
}

int run_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  std::optional<std::string> config_path;
  Config config;
  try {
    const auto rest = take_config_option(args, config_path);
    std::optional<std::string> core;
    for (std::size_t i = 0; i < rest.size(); ++i) {
      if (rest[i] == "--core" && i + 1 < rest.size()) {
        core = std::string(rest[++i]);
      } else if (rest[i].starts_with("--core=")) {
        core = std::string(rest[i].substr(7));
      } else {
        err << "sbc run: unexpected argument " << rest[i] << '\n' << kUsage;
        return 2;
      }
    }
    config = load(config_path);
    require_listeners(config, config_path ? *config_path : "<default>");
    // A quick start: one core given on the command line replaces the configured ones.
    if (core) config.core.targets = {parse_core_uri(*core, "--core")};
  } catch (const ConfigError& e) {
    err << "sbc run: " << e.what() << '\n';
    return 1;
  }
  out << "sbc " << SBC_VERSION << ": configuration "
      << (config_path ? *config_path : std::string("<embedded default>")) << " is valid"
      << std::endl;
  return run_daemon(config, err, config_path);
}

int ha1_command(std::span<const std::string_view> args, std::istream& in, std::ostream& out,
                std::ostream& err) {
  if (args.size() != 2 || args[0].empty() || args[1].empty() ||
      args[0].find(':') != std::string_view::npos || args[1].find(':') != std::string_view::npos) {
    err << "sbc ha1: expected USER REALM (neither empty nor with ':')\n" << kUsage;
    return 2;
  }
  // The password comes from standard input, never the command line (ps, shell history).
  std::string password;
  if (!std::getline(in, password) || password.empty()) {
    err << "sbc ha1: no password on standard input\n";
    return 2;
  }
  if (!password.empty() && password.back() == '\r') password.pop_back();
  for (auto algorithm : {sbc::crypto::DigestAlgorithm::Sha256, sbc::crypto::DigestAlgorithm::Md5})
    out << policy::Credentials::line(args[0], args[1], algorithm, password) << '\n';
  return 0;
}

int main_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? err : out) << kUsage;
    return args.empty() ? 2 : 0;
  }
  const std::string_view command = args[0];
  const auto rest = args.subspan(1);
  if (command == "validate") return validate_command(rest, out, err);
  if (command == "check-config") return check_config_command(rest, out, err);
  if (command == "config-schema") {
    if (!rest.empty()) {
      err << "sbc config-schema: no arguments expected\n" << kUsage;
      return 2;
    }
    out << config_schema_text();
    return 0;
  }
  if (command == "replay") return replay_command(rest, out, err);
  if (command == "run") return run_command(rest, out, err);
  if (command == "ha1") return ha1_command(rest, std::cin, out, err);
  if (command == "ctl") return ctl_command(rest, out, err);
  if (command == "version" || command == "--version") {
    out << "sbc " << SBC_VERSION << " (" << SBC_COMPILER << ", " << SBC_BUILD_TYPE << ": "
        << SBC_BUILD_FLAGS << ")\n";
    return 0;
  }
  err << "sbc: unknown command '" << command << "'\n" << kUsage;
  return 2;
}

}  // namespace sbc::app
