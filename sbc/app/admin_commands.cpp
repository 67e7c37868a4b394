#include "sbc/app/admin_commands.hpp"

#include <yaml-cpp/yaml.h>
#include <boost/json/array.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <sstream>
#include <string_view>

#include "sbc/common/address.hpp"
#include "sbc/crypto/digest.hpp"

namespace sbc::app {
namespace {

namespace json = boost::json;

json::object failure(std::string_view why) {
  return {{"ok", false}, {"error", why}};
}

std::string sha256(std::string_view text) {
  std::array<char, 64> out;
  const std::string_view parts[] = {text};
  return std::string(sbc::crypto::digest_hex(sbc::crypto::DigestAlgorithm::Sha256, parts, out));
}

// SHA-256 of the configuration file as it is on disk now (what a reload would read).
std::string file_sha256(const std::optional<std::string>& path) {
  if (!path) return sha256(default_config_text());
  std::ifstream in(*path, std::ios::binary);
  if (!in) return "";
  std::ostringstream all;
  all << in.rdbuf();
  return sha256(all.str());
}

// An optional string field of a request: false (and an error reply) when it is there but no
// string.
bool string_field(const json::object& request, std::string_view name, std::string& out,
                  AdminServer::Reply& reply) {
  const json::value* v = request.if_contains(name);
  if (v == nullptr) return true;
  if (!v->is_string()) {
    reply(failure(std::string("\"").append(name).append("\" must be a string")));
    return false;
  }
  out = std::string(v->as_string());
  return true;
}

std::string not_a_prefix(const std::string& text) {
  return std::string("\"").append(text).append(
      "\" is not an address or a prefix (192.0.2.1, 10.0.0.0/8, 2001:db8::/32)");
}

void status(AdminContext& c, AdminServer::Reply& reply) {
  const auto uptime = std::chrono::steady_clock::now() - c.started;
  reply({{"ok", true},
         {"version", SBC_VERSION},
         {"config", c.config_path ? *c.config_path : "<embedded default>"},
         {"config_sha256", file_sha256(c.config_path)},
         {"workers", c.server.workers()},
         {"uptime_seconds", std::chrono::duration_cast<std::chrono::seconds>(uptime).count()}});
}

void bans(AdminContext& c, const json::object& request, AdminServer::Reply& reply) {
  Server::BanFilter filter;
  std::string source;
  if (!string_field(request, "source", source, reply) ||
      !string_field(request, "stage", filter.stage, reply) ||
      !string_field(request, "reason", filter.reason, reply))
    return;
  if (request.contains("source")) {
    filter.source = sbc::parse_cidr(source);
    if (!filter.source) return reply(failure(not_a_prefix(source)));
  }
  c.server.list_bans(
      std::move(filter), [post = c.post, reply](const std::vector<Server::BanView>& list) {
        json::array out;
        for (const auto& b : list)
          out.push_back(json::object{{"source", b.source},
                                     {"scope", b.scope},
                                     {"stage", b.stage},
                                     {"reason", b.reason},
                                     {"since_seconds", b.since_seconds},
                                     {"remaining_seconds", b.remaining_seconds},
                                     {"offences", b.offences}});
        post([reply, out = std::move(out)] { reply({{"ok", true}, {"bans", out}}); });
      });
}

void unban(AdminContext& c, const json::object& request, AdminServer::Reply& reply) {
  const json::value* source = request.if_contains("source");
  if (source == nullptr || !source->is_string())
    return reply(failure("unban needs a \"source\" (an address or a prefix)"));
  const std::string text(source->as_string());
  // A prefix: every ban inside it, and how many.
  if (text.find('/') != std::string::npos) {
    const auto block = sbc::parse_cidr(text);
    if (!block) return reply(failure(not_a_prefix(text)));
    c.server.share_unban(text);
    c.server.lift_bans(*block, [post = c.post, reply, text](std::size_t lifted) {
      post([reply, text, lifted] { reply({{"ok", true}, {"source", text}, {"lifted", lifted}}); });
    });
    return;
  }
  const bool valid = c.server.lift_ban(text, [post = c.post, reply, text](bool lifted) {
    post([reply, text, lifted] { reply({{"ok", true}, {"source", text}, {"lifted", lifted}}); });
  });
  if (!valid) return reply(failure(not_a_prefix(text)));
  c.server.share_unban(text);
}

constexpr std::size_t kDefaultFlows = 100, kMaxFlows = 10000;

void flows(AdminContext& c, const json::object& request, AdminServer::Reply& reply) {
  std::size_t limit = kDefaultFlows;
  if (const json::value* v = request.if_contains("limit")) {
    if (!v->is_int64() || v->as_int64() < 0 || v->as_int64() > std::int64_t{kMaxFlows})
      return reply(failure("\"limit\" must be a number from 0 to 10000"));
    limit = static_cast<std::size_t>(v->as_int64());
  }
  c.server.list_flows(limit, [post = c.post, reply](const Server::Flows& f) {
    json::array list;
    for (const auto& flow : f.list) {
      json::object entry{
          {"transport", flow.transport}, {"remote", flow.remote}, {"worker", flow.worker}};
      if (flow.transport == "udp") entry["held"] = flow.held;
      if (!flow.identity.empty()) entry["identity"] = flow.identity;
      list.push_back(std::move(entry));
    }
    const proxy::RegistrationSummary& r = f.registrations;
    json::array users;
    for (const auto& u : r.users)
      users.push_back(json::object{{"user", u.user}, {"registrations", u.registrations}});
    json::object out{{"ok", true},
                     {"udp", f.udp},
                     {"udp_held", f.udp_held},
                     {"tcp", f.tcp},
                     {"tls", f.tls},
                     {"total", f.udp + f.tcp + f.tls},
                     {"flows", std::move(list)},
                     {"registrations", json::object{{"total", r.total},
                                                    {"udp", r.udp},
                                                    {"tcp", r.tcp},
                                                    {"tls", r.tls},
                                                    {"unauthenticated", r.unauthenticated},
                                                    {"users", std::move(users)}}}};
    post([reply, out = std::move(out)] { reply(out); });
  });
}

void config(AdminContext& c, AdminServer::Reply& reply) {
  const std::string running = sha256(c.running_text);
  const std::string on_disk = file_sha256(c.config_path);
  std::string text;
  try {
    text = redact_config(c.running_text);
  } catch (const ConfigError& e) {
    return reply(failure(e.what()));
  }
  reply({{"ok", true},
         {"config", c.config_path ? *c.config_path : "<embedded default>"},
         {"sha256", running},
         {"file_sha256", on_disk},
         {"file_differs", on_disk != running},
         {"text", text}});
}

void cores(AdminContext& c, AdminServer::Reply& reply) {
  c.server.list_cores([post = c.post, reply](const std::vector<Server::CoreView>& list) {
    json::array out;
    for (const auto& core : list) {
      if (!core.active) continue;
      out.push_back(json::object{{"uri", core.uri},
                                 {"name", core.name},
                                 {"up", core.up},
                                 {"drained", core.drained},
                                 {"in_flight", core.in_flight},
                                 {"last_probe_ms", core.last_probe_ms},
                                 {"probe_rtt_ms", core.probe_rtt_ms},
                                 {"requests", core.requests},
                                 {"failures", core.failures},
                                 {"probes", core.probes}});
    }
    post([reply, out = std::move(out)] { reply({{"ok", true}, {"cores", out}}); });
  });
}

// {"command": "core", "action": "drain" | "enable", "core": URI, NAME or IP:PORT}
void core(AdminContext& c, const json::object& request, AdminServer::Reply& reply) {
  const json::value* action = request.if_contains("action");
  const json::value* which = request.if_contains("core");
  const std::string_view verb =
      action != nullptr && action->is_string() ? std::string_view(action->as_string()) : "";
  if ((verb != "drain" && verb != "enable") || which == nullptr || !which->is_string())
    return reply(failure(
        "core needs an \"action\" (drain or enable) and a \"core\" (a URI as cores shows it, "
        "a DNS name, or IP:PORT)"));
  const std::string name(which->as_string());
  const bool drain = verb == "drain";
  c.server.set_core_drained(name, drain, [post = c.post, reply, name, drain](std::size_t named) {
    post([reply, name, drain, named] {
      if (named == 0) return reply(failure("no core is \"" + name + "\" (see sbc ctl cores)"));
      reply({{"ok", true},
             {"core", name},
             {"drained", drain},
             {"cores", named},
             {"message", std::string(drain ? "drained: no new transactions; running ones finish"
                                           : "enabled: back in rotation")}});
    });
  });
}

bool secret_key(std::string name) {
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  static constexpr std::string_view kSecrets[] = {"nonce_key", "token_keys",  "token", "tokens",
                                                  "password",  "credentials", "bearer"};
  for (std::string_view s : kSecrets)
    if (name == s) return true;
  return name.find("password") != std::string::npos || name.find("secret") != std::string::npos ||
         name.find("passphrase") != std::string::npos;
}

// A node is a handle: the values are replaced in the tree it refers to.
void redact(YAML::Node node) {  // NOLINT(performance-unnecessary-value-param)
  if (node.IsMap()) {
    for (auto entry : node) {
      if (entry.first.IsScalar() && secret_key(entry.first.Scalar())) {
        entry.second = "<redacted>";
        continue;
      }
      redact(entry.second);
    }
  } else if (node.IsSequence()) {
    for (auto item : node) redact(item);
  }
}

}  // namespace

std::string redact_config(std::string_view yaml_text) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    throw ConfigError(std::string("the running configuration is not YAML: ") + e.msg);
  }
  redact(root);
  YAML::Emitter out;
  out << root;
  std::string text(out.c_str(), out.size());
  if (!text.empty() && text.back() != '\n') text += '\n';
  return text;
}

void answer_admin(AdminContext& context, const json::object& request, AdminServer::Reply reply) {
  const json::value& command = request.at("command");
  const std::string_view name = command.is_string() ? std::string_view(command.as_string()) : "";
  if (name == "status") return status(context, reply);
  if (name == "bans") return bans(context, request, reply);
  if (name == "unban") return unban(context, request, reply);
  if (name == "flows") return flows(context, request, reply);
  if (name == "config") return config(context, reply);
  if (name == "cores") return cores(context, reply);
  if (name == "core") return core(context, request, reply);
  if (name == "reload") {
    const auto [ok, message] = context.reload();
    return reply({{"ok", ok}, {"message", message}});
  }
  reply(failure("unknown command \"" + std::string(name) +
                "\" (status, bans, unban, flows, config, cores, core, reload)"));
}

}  // namespace sbc::app
