#include "sbc/app/admin_commands.hpp"

#include <boost/json/array.hpp>

#include <array>
#include <fstream>
#include <sstream>
#include <string_view>

#include "sbc/crypto/digest.hpp"

namespace sbc::app {
namespace {

namespace json = boost::json;

json::object failure(std::string_view why) {
  return {{"ok", false}, {"error", why}};
}

// SHA-256 of the configuration file as it is on disk now (what a reload would read).
std::string file_sha256(const std::optional<std::string>& path) {
  std::string text(default_config_text());
  if (path) {
    std::ifstream in(*path, std::ios::binary);
    if (!in) return "";
    std::ostringstream all;
    all << in.rdbuf();
    text = all.str();
  }
  std::array<char, 64> out;
  const std::string_view parts[] = {text};
  return std::string(sbc::crypto::digest_hex(sbc::crypto::DigestAlgorithm::Sha256, parts, out));
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

void bans(AdminContext& c, AdminServer::Reply& reply) {
  c.server.list_bans([post = c.post, reply](const std::vector<Server::BanView>& list) {
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
    return reply(failure("unban needs a \"source\" (an address)"));
  const std::string text(source->as_string());
  const bool valid = c.server.lift_ban(text, [post = c.post, reply, text](bool lifted) {
    post([reply, text, lifted] { reply({{"ok", true}, {"source", text}, {"lifted", lifted}}); });
  });
  if (!valid) reply(failure("\"" + text + "\" is not an IPv4 or IPv6 address"));
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

}  // namespace

void answer_admin(AdminContext& context, const json::object& request, AdminServer::Reply reply) {
  const json::value& command = request.at("command");
  const std::string_view name = command.is_string() ? std::string_view(command.as_string()) : "";
  if (name == "status") return status(context, reply);
  if (name == "bans") return bans(context, reply);
  if (name == "unban") return unban(context, request, reply);
  if (name == "cores") return cores(context, reply);
  if (name == "core") return core(context, request, reply);
  if (name == "reload") {
    const auto [ok, message] = context.reload();
    return reply({{"ok", ok}, {"message", message}});
  }
  reply(failure("unknown command \"" + std::string(name) +
                "\" (status, bans, unban, cores, core, reload)"));
}

}  // namespace sbc::app
