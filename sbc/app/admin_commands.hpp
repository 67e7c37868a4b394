#pragma once
// The admin API's commands (status, bans, unban, cores, reload), answered from the running
// Server for AdminServer. The command names and reply fields are what `sbc ctl` prints.

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
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

void answer_admin(AdminContext& context, const boost::json::object& request,
                  AdminServer::Reply reply);

}  // namespace sbc::app
