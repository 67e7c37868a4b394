#include "sbc/app/ctl.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <iomanip>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "sbc/app/config.hpp"

// `sbc ctl`: the admin API's client (admin_server.hpp), as kamcmd is Kamailio's. One request per
// connection; the reply printed for people, or as it came with --json.

namespace sbc::app {
namespace {

namespace json = boost::json;

constexpr std::string_view kCtlUsage =
    "usage: sbc ctl [--socket PATH | --config FILE] [--json] COMMAND\n"
    "commands:\n"
    "  status          version, configuration file and its SHA-256, workers, uptime\n"
    "  bans [--source PREFIX] [--stage NAME] [--reason NAME]\n"
    "                  the sources banned now: scope (all transports, or UDP), why, time left;\n"
    "                  only those inside PREFIX (an address, 10.0.0.0/8, 2001:db8::/32), of that\n"
    "                  stage (scanner, rate_limit, auth...) or reason\n"
    "  unban SOURCE    lift the ban of an address (an IPv6 address lifts its prefix's), or of\n"
    "                  every source inside a prefix (10.0.0.0/8): says how many\n"
    "  flows [--limit N]  connections and UDP peers by transport, summed over the workers, and\n"
    "                  the first N of them (100)\n"
    "  config          the running configuration (secrets redacted) and its SHA-256\n"
    "  cores           the cores: up, down or drained (worker 0's view), transactions in flight,\n"
    "                  requests, failures, probes (all workers'), the last probe's answer\n"
    "  core drain CORE   no new transactions to CORE (a URI as cores shows it, a DNS name, or\n"
    "                    IP:PORT); those running finish\n"
    "  core enable CORE  back in rotation\n"
    "  reload          what SIGHUP reloads (policy, core.targets, relay.token_keys, capture,\n"
    "                  log.level, TLS certificates); says what needs a restart\n"
    "the socket: --socket, else the admin.socket of --config FILE, else /run/sbc/admin.sock\n";

// Sends `request` to the socket at `path`; the reply's text, or nullopt with `error` set.
std::optional<std::string> exchange(const std::string& path, const std::string& request,
                                    std::string& error) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof address.sun_path) {
    error = "socket path too long";
    return std::nullopt;
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    error = std::strerror(errno);
    return std::nullopt;
  }
  timeval timeout{10, 0};  // the SBC answers within its own 5 s deadline
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string reply;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::send(fd, request.data(), request.size(), MSG_NOSIGNAL) !=
          static_cast<ssize_t>(request.size())) {
    error = std::strerror(errno);
    ::close(fd);
    return std::nullopt;
  }
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n > 0) {
      reply.append(buffer, static_cast<std::size_t>(n));
      if (reply.size() > (1u << 24)) break;
      continue;
    }
    if (n < 0) error = std::strerror(errno);
    break;
  }
  ::close(fd);
  if (reply.empty()) {
    if (error.empty()) error = "the SBC closed the connection without a reply";
    return std::nullopt;
  }
  return reply;
}

std::string text(const json::value& v) {
  if (v.is_string()) return std::string(v.as_string());
  return json::serialize(v);
}

// The reply for people: one line per ban or core, key and value otherwise.
void print(std::string_view command, const json::object& reply, std::ostream& out) {
  if (command == "bans") {
    const json::array& bans = reply.at("bans").as_array();
    if (bans.empty()) out << "no source is banned\n";
    if (!bans.empty())
      out << std::left << std::setw(40) << "SOURCE" << std::setw(6) << "SCOPE" << std::setw(26)
          << "WHY" << std::setw(8) << "SINCE" << std::setw(11) << "REMAINING"
          << "BANS\n";
    for (const json::value& b : bans)
      out << std::left << std::setw(40) << text(b.at("source")) << std::setw(6)
          << text(b.at("scope")) << std::setw(26)
          << text(b.at("stage")) + " " + text(b.at("reason")) << std::setw(8)
          << text(b.at("since_seconds")) + " s" << std::setw(11)
          << text(b.at("remaining_seconds")) + " s" << text(b.at("offences")) << '\n';
  } else if (command == "cores") {
    const json::array& cores = reply.at("cores").as_array();
    if (cores.empty()) out << "no core (the SBC relays nothing)\n";
    if (!cores.empty())
      out << std::left << std::setw(40) << "CORE" << std::setw(15) << "STATE" << std::setw(10)
          << "IN-FLIGHT" << std::setw(10) << "REQUESTS" << std::setw(10) << "FAILURES"
          << std::setw(8) << "PROBES"
          << "LAST PROBE ANSWER\n";
    for (const json::value& c : cores) {
      std::string uri = text(c.at("uri"));
      if (!c.at("name").as_string().empty()) uri += " (" + text(c.at("name")) + ")";
      const bool up = c.at("up").as_bool();
      const char* state = c.at("drained").as_bool() ? (up ? "drained" : "drained, down")
                          : up                      ? "up"
                                                    : "down";
      std::ostringstream probe;
      if (c.at("last_probe_ms").to_number<std::int64_t>() < 0)
        probe << "none";
      else
        probe << std::fixed << std::setprecision(1)
              << c.at("last_probe_ms").to_number<double>() / 1000.0 << " s ago, "
              << c.at("probe_rtt_ms").to_number<double>() << " ms";
      out << std::left << std::setw(40) << uri << std::setw(15) << state << std::setw(10)
          << text(c.at("in_flight")) << std::setw(10) << text(c.at("requests")) << std::setw(10)
          << text(c.at("failures")) << std::setw(8) << text(c.at("probes")) << probe.str() << '\n';
    }
  } else if (command == "unban") {
    const json::value& lifted = reply.at("lifted");
    if (lifted.is_bool()) {
      out << text(reply.at("source"))
          << (lifted.as_bool() ? ": ban lifted\n" : ": was not banned\n");
    } else {
      const std::string n = text(lifted);
      out << text(reply.at("source")) << ": "
          << (n == "0" ? "no ban inside it" : n + (n == "1" ? " ban lifted" : " bans lifted"))
          << '\n';
    }
  } else if (command == "flows") {
    out << std::left << std::setw(10) << "TRANSPORT"
        << "FLOWS\n";
    out << std::setw(10) << "udp" << text(reply.at("udp"));
    if (reply.at("udp_held").as_int64() > 0)
      out << " (" << text(reply.at("udp_held")) << " held: registered or in a dialog)";
    out << '\n'
        << std::setw(10) << "tcp" << text(reply.at("tcp")) << '\n'
        << std::setw(10) << "tls" << text(reply.at("tls")) << '\n';
    const json::array& flows = reply.at("flows").as_array();
    out << std::setw(10) << "total" << text(reply.at("total"));
    if (flows.size() < static_cast<std::size_t>(reply.at("total").as_int64()))
      out << " (the first " << flows.size() << " listed)";
    const json::object& r = reply.at("registrations").as_object();
    out << "\nregistrations " << text(r.at("total")) << " (udp " << text(r.at("udp")) << ", tcp "
        << text(r.at("tcp")) << ", tls " << text(r.at("tls")) << "; "
        << text(r.at("unauthenticated")) << " without a user authenticated at the edge)\n";
    const json::array& users = r.at("users").as_array();
    if (!users.empty())
      out << '\n'
          << std::setw(32) << "USER"
          << "REGISTRATIONS\n";
    for (const json::value& u : users)
      out << std::setw(31) << text(u.at("user")) << ' ' << text(u.at("registrations")) << '\n';
    if (!flows.empty())
      out << '\n'
          << std::setw(10) << "TRANSPORT" << std::setw(48) << "REMOTE" << std::setw(8) << "WORKER"
          << "NOTE\n";
    for (const json::value& f : flows) {
      const json::object& flow = f.as_object();
      std::string note;
      if (flow.contains("held") && flow.at("held").as_bool()) note = "held";
      if (flow.contains("identity")) note = text(flow.at("identity"));
      out << std::setw(10) << text(flow.at("transport")) << std::setw(48) << text(flow.at("remote"))
          << std::setw(8) << text(flow.at("worker")) << note << '\n';
    }
  } else if (command == "config") {
    out << "# running configuration " << text(reply.at("config")) << ", SHA-256 "
        << text(reply.at("sha256")) << '\n';
    if (reply.at("file_differs").as_bool())
      out << "# the file on disk differs (SHA-256 " << text(reply.at("file_sha256"))
          << "): a reload or a restart would read it\n";
    out << "# secrets are shown as <redacted>\n" << text(reply.at("text"));
  } else if (command == "core") {
    out << text(reply.at("core")) << ": " << text(reply.at("message")) << '\n';
  } else if (command == "reload") {
    out << text(reply.at("message")) << '\n';
  } else {
    for (const auto& [key, value] : reply)
      if (key != "ok") out << key << ' ' << text(value) << '\n';
  }
}

}  // namespace

std::optional<json::object> ctl_request(std::span<const std::string_view> words) {
  if (words.empty()) return std::nullopt;
  const std::string_view command = words[0];
  json::object request{{"command", command}};
  if (command == "status" || command == "cores" || command == "reload" || command == "config")
    return words.size() == 1 ? std::optional(request) : std::nullopt;
  if (command == "unban") {
    if (words.size() != 2) return std::nullopt;
    request["source"] = words[1];
    return request;
  }
  if (command == "core") {  // core drain|enable CORE
    if (words.size() != 3 || (words[1] != "drain" && words[1] != "enable")) return std::nullopt;
    request["action"] = words[1];
    request["core"] = words[2];
    return request;
  }
  // Options with a value: bans --source/--stage/--reason, flows --limit.
  for (std::size_t i = 1; i < words.size(); i += 2) {
    if (i + 1 >= words.size() || words[i + 1].starts_with("--")) return std::nullopt;
    const std::string_view option = words[i], value = words[i + 1];
    if (command == "bans" &&
        (option == "--source" || option == "--stage" || option == "--reason")) {
      request[option.substr(2)] = value;
    } else if (command == "flows" && option == "--limit") {
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size()) return std::nullopt;
      request["limit"] = n;
    } else {
      return std::nullopt;
    }
  }
  if (command == "bans" || command == "flows") return request;
  return std::nullopt;
}

int ctl_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err) {
  std::string socket = AdminSettings{}.socket;
  bool as_json = false;
  std::vector<std::string_view> rest;
  try {
    for (std::size_t i = 0; i < args.size(); ++i) {
      if (args[i] == "--json") {
        as_json = true;
      } else if ((args[i] == "--socket" || args[i] == "--config") && i + 1 < args.size()) {
        socket = args[i] == "--socket" ? std::string(args[i + 1])
                                       : load_config_file(std::string(args[i + 1])).admin.socket;
        ++i;
      } else {
        rest.push_back(args[i]);
      }
    }
  } catch (const ConfigError& e) {
    err << "sbc ctl: " << e.what() << '\n';
    return 2;
  }
  const std::optional<json::object> request = ctl_request(rest);
  if (!request) {
    err << kCtlUsage;
    return 2;
  }
  if (socket.empty()) {
    err << "sbc ctl: the configuration has no admin socket (admin.socket is \"\")\n";
    return 2;
  }
  std::string error;
  const auto reply_text = exchange(socket, json::serialize(*request) + "\n", error);
  if (!reply_text) {
    err << "sbc ctl: " << socket << ": " << error << '\n';
    return 3;
  }
  boost::system::error_code ec;
  const json::value reply = json::parse(*reply_text, ec);
  if (ec || !reply.is_object()) {
    err << "sbc ctl: not a JSON reply: " << *reply_text;
    return 3;
  }
  const json::object& object = reply.as_object();
  const bool ok = object.contains("ok") && object.at("ok").is_bool() && object.at("ok").as_bool();
  if (as_json) {
    out << *reply_text;
  } else if (ok) {
    print(rest[0], object, out);
  } else {
    err << "sbc ctl: "
        << (object.contains("error") ? text(object.at("error")) : text(object.at("message")))
        << '\n';
  }
  return ok ? 0 : 1;
}

}  // namespace sbc::app
