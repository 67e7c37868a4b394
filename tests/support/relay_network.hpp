#pragma once
// The network the relay's unit tests (tests/unit/proxy/relay_harness.hpp) and its instruction
// figures (bench/instr/relay_figures.cpp) put the relay in: one UDP core at 10.0.0.10:5070, the
// SBC's inside address 10.0.0.1:15060, its outside listeners 198.51.100.1:5060 (UDP) and :5061
// (TLS), and no OPTIONS probes (nobody would answer them; the probe tests turn them on).

#include <chrono>

#include "sbc/proxy/relay_settings.hpp"

namespace sbc::test {

inline void relay_network(proxy::RelaySettings& s) {
  s.cores = {{"10.0.0.10", 5070, 1, 1}};
  s.inside_ip = "10.0.0.1";
  s.inside_port = 15060;
  s.outside_addresses = {{"198.51.100.1", 5060}, {"198.51.100.1", 5061}};
  s.probe_interval = std::chrono::milliseconds(0);
}

}  // namespace sbc::test
