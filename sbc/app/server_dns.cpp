// Cores by DNS name: the resolver thread (sbc/dns) and each new answer handed to every worker,
// which replaces its relay's cores and who may send to its inside sockets, on its own thread.

#include <fstream>
#include <sstream>

#include "sbc/app/config_reader.hpp"
#include "sbc/app/server.hpp"
#include "sbc/common/address.hpp"

namespace sbc::app {
namespace {

// The first "nameserver" of /etc/resolv.conf: the system's resolver, when dns.servers is empty.
std::optional<std::string> system_nameserver() {
  std::ifstream in("/etc/resolv.conf");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string key, value;
    if (words >> key >> value && key == "nameserver" && sbc::parse_address(value)) return value;
  }
  return std::nullopt;
}

}  // namespace

// Where the inside socket's address is found from (core.local_address unset): the route toward
// the first core given as an address, else toward the DNS server (in a cluster, both are
// reached from the pod's own address).
std::optional<std::string> Server::inside_route_target() const {
  if (!fixed_cores_.empty()) return fixed_cores_.front().ip;
  if (!config_.dns.servers.empty()) return split_server_address(config_.dns.servers.front()).first;
  return system_nameserver();
}

bool Server::start_resolver() {
  for (const proxy::CoreTarget& core : config_.core.targets)
    if (!core.name.empty()) named_cores_.push_back(core);
  resolved_.assign(named_cores_.size(), {});
  try {
    auto resolver = new_resolver(named_cores_);
    const std::lock_guard lock(resolver_mutex_);
    resolver_ = std::move(resolver);
  } catch (const std::runtime_error& e) {
    log_("error", e.what());
    return false;
  }
  if (resolver_) resolver_->start();
  return true;
}

// A resolver (not started) for the cores named by DNS name in `named`; none without names.
// Throws std::runtime_error as dns::Resolver does.
std::unique_ptr<dns::Resolver> Server::new_resolver(const std::vector<proxy::CoreTarget>& named) {
  std::vector<dns::Name> names;
  names.reserve(named.size());
  for (const proxy::CoreTarget& core : named)
    names.push_back({core.name, core.port, core.protocol, core.priority, core.weight});
  if (names.empty()) return nullptr;
  return std::make_unique<dns::Resolver>(
      config_.dns, std::move(names),
      [this](std::size_t name, const std::vector<dns::Address>& addresses) {
        cores_resolved(name, addresses);
      },
      [this](std::string_view level, const std::string& line) { log_(level, line); });
}

// On the resolver's thread: every worker gets the whole new set (addresses, then names).
void Server::cores_resolved(std::size_t name, const std::vector<dns::Address>& addresses) {
  const std::lock_guard lock(cores_mutex_);
  resolved_[name] = addresses;
  hand_out_cores();
}

// The cores given as addresses and those the names resolve to now, to every worker.
void Server::hand_out_cores() {
  std::vector<proxy::CoreTarget> cores = fixed_cores_;
  for (std::size_t n = 0; n < named_cores_.size(); ++n) {
    for (const dns::Address& a : resolved_[n]) {
      proxy::CoreTarget core;
      core.ip = a.ip;
      core.port = a.port;
      core.priority = a.priority;
      core.weight = a.weight;
      core.protocol = named_cores_[n].protocol;
      core.name = named_cores_[n].name;  // a TLS core's identity (RFC 5922)
      cores.push_back(core);
    }
  }
  auto peers = std::make_shared<const CorePeers>(core_peers(cores));
  auto shared = std::make_shared<const std::vector<proxy::CoreTarget>>(std::move(cores));
  const bool any_port = !config_.core.strict_source_port;
  for (unsigned w = 0; w < count_; ++w) {
    workers_[w]->post([this, w, shared, peers, any_port] {
      const std::size_t dropped = relays_[w]->replace_cores(*shared);
      workers_[w]->set_inside_peers(peers->udp, any_port);
      workers_[w]->set_inside_stream_cores(peers->stream);
      if (dropped != 0 && w == 0)
        log_("warn", std::to_string(dropped) + " core address(es) over the limit of " +
                         std::to_string(proxy::CoreSet::kMaxCores) + " are not used");
    });
  }
}

void Server::add_dns_families(std::vector<metrics::Family>& families) const {
  using Type = metrics::Family::Type;
  metrics::Family results{"sbc_core_resolution_total",
                          "Resolutions of core names (SRV, A, AAAA) by result.",
                          Type::Counter,
                          {}};
  metrics::Family targets{
      "sbc_core_targets",
      "Core targets: given as addresses (static), addresses DNS names yield (resolved), names "
      "with no address yet or any more (unresolved).",
      Type::Gauge,
      {}};
  const std::lock_guard lock(resolver_mutex_);
  const dns::ResolverStats* stats = resolver_ ? &resolver_->stats() : nullptr;
  for (std::size_t i = 0; i < dns::kResultNames.size(); ++i) {
    const double value =
        retired_resolutions_[i] + (stats ? static_cast<double>(stats->results[i].load()) : 0.0);
    results.samples.push_back({{{"result", std::string(dns::kResultNames[i])}}, value});
  }
  targets.samples.push_back({{{"state", "static"}}, static_cast<double>(static_cores_.load())});
  targets.samples.push_back(
      {{{"state", "resolved"}}, stats ? static_cast<double>(stats->addresses.load()) : 0.0});
  targets.samples.push_back(
      {{{"state", "unresolved"}}, stats ? static_cast<double>(stats->unresolved.load()) : 0.0});
  families.push_back(std::move(results));
  families.push_back(std::move(targets));
}

}  // namespace sbc::app
