#pragma once
// Building the families a scrape shows (server_metrics.cpp: the workers' and the server's;
// relay_metrics.cpp: the relays' and the cores'). Internal to sbc/app.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metrics/exposition.hpp"
#include "sbc/proxy/relay.hpp"

namespace sbc::app {

inline metrics::Family counter(std::string name, std::string help, double value) {
  return {std::move(name), std::move(help), metrics::Family::Type::Counter, {{{}, value}}};
}
inline metrics::Family gauge(std::string name, std::string help, double value) {
  return {std::move(name), std::move(help), metrics::Family::Type::Gauge, {{{}, value}}};
}

void add_relay_families(std::vector<metrics::Family>& families,
                        const std::vector<std::unique_ptr<proxy::Relay>>& relays);
// ACKs the relays absorbed without a transaction (counted with the edge's in one family).
std::uint64_t stateless_acks(const std::vector<std::unique_ptr<proxy::Relay>>& relays);

}  // namespace sbc::app
