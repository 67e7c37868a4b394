#pragma once
// `sbc ctl COMMAND`: the client of the admin API (admin_server.hpp).

#include <ostream>
#include <span>
#include <string_view>

namespace sbc::app {

// 0: done; 1: the SBC refused (printed); 2: usage; 3: the SBC could not be reached.
int ctl_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace sbc::app
