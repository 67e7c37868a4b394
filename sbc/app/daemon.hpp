#pragma once
// `sbc run`: starts the workers and listeners of a validated configuration and serves until
// SIGTERM or SIGINT (drain, then exit 0). SIGHUP reloads the TLS certificates and the policy
// section of the configuration (re-read from `config_path`, or the embedded default).

#include <iosfwd>
#include <optional>
#include <string>

#include "sbc/app/config.hpp"

namespace sbc::app {

// Returns the process exit status. Start-up failures (a port in use, a bad certificate) are
// reported on `log` and give 1.
int run_daemon(const Config& config, std::ostream& log,
               const std::optional<std::string>& config_path = std::nullopt);

}  // namespace sbc::app
