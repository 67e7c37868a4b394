#pragma once
// `sbc run`: starts the workers and listeners of a validated configuration and serves until
// SIGTERM or SIGINT (drain, then exit 0). SIGHUP reloads the TLS certificates.

#include <iosfwd>

#include "sbc/app/config.hpp"

namespace sbc::app {

// Returns the process exit status. Start-up failures (a port in use, a bad certificate) are
// reported on `log` and give 1.
int run_daemon(const Config& config, std::ostream& log);

}  // namespace sbc::app
