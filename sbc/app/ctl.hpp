#pragma once
// `sbc ctl COMMAND`: the client of the admin API (admin_server.hpp).

#include <boost/json/object.hpp>

#include <optional>
#include <ostream>
#include <span>
#include <string_view>

namespace sbc::app {

// The request of the words after `sbc ctl [options]` ("bans --stage scanner": {"command":
// "bans", "stage": "scanner"}); nullopt when they are no command (usage).
std::optional<boost::json::object> ctl_request(std::span<const std::string_view> words);

// 0: done; 1: the SBC refused (printed); 2: usage; 3: the SBC could not be reached.
int ctl_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace sbc::app
