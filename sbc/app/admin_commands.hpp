#pragma once
// The admin API's commands (status, bans, unban, flows, config, cores, reload), answered from the
// running Server for AdminServer. The command names and reply fields are what `sbc ctl` prints.

#include <boost/json/object.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include "sbc/app/admin_server.hpp"
#include "sbc/app/server.hpp"

namespace sbc::app {

struct AdminContext {
  Server& server;
  const std::optional<std::string>& config_path;
  // Runs a function on the control thread (where replies are written).
  std::function<void(std::function<void()>)> post;
  // Reloads what SIGHUP reloads: whether it applied, and what the log said.
  std::function<std::pair<bool, std::string>()> reload;
  // The configuration text loaded at start or by the last reload that applied (`config`).
  std::string running_text = {};
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

void answer_admin(AdminContext& context, const boost::json::object& request,
                  AdminServer::Reply reply);

// `yaml_text` (a configuration) as YAML again, every secret's value replaced by "<redacted>":
// policy.auth.nonce_key, relay.token_keys, and any key named like a password, secret or token.
// Comments are not kept. Throws ConfigError when it is not YAML.
std::string redact_config(std::string_view yaml_text);

}  // namespace sbc::app
