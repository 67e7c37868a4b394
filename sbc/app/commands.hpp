#pragma once
// The `sbc` command line: each sub-command is a function from arguments and streams to an exit
// status, so tests can call them without spawning a process.

#include <iosfwd>
#include <span>
#include <string_view>

namespace sbc::app {

// sbc validate [--config FILE] FILE...: 0 when every file is valid, 1 otherwise, 2 on usage errors.
int validate_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
// sbc replay [--config FILE] FILE.pcap: 0 with the report printed, 2 when the file cannot be read
// (or on usage errors).
int replay_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
// sbc check-config FILE: 0 when the configuration is valid, 1 otherwise.
int check_config_command(std::span<const std::string_view> args, std::ostream& out,
                         std::ostream& err);
// sbc run [--config FILE]
// Credentials-file lines for USER REALM and the password on `in`'s first line.
int ha1_command(std::span<const std::string_view> args, std::istream& in, std::ostream& out,
                std::ostream& err);
int run_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);
// Dispatches argv to the commands above.
int main_command(std::span<const std::string_view> args, std::ostream& out, std::ostream& err);

}  // namespace sbc::app
