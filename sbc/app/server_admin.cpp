#include <arpa/inet.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>

#include "sbc/app/server.hpp"
#include "sbc/common/address.hpp"

// The Server's answers to the admin API: bans and cores, read on a worker's own thread (no
// lock, as everything the workers own).

namespace sbc::app {
namespace {

// A ban's key as text: an IPv4 address, or an IPv6 address cut to the policy's prefix.
std::string source_text(const sbc::SourceKey& key, unsigned ipv6_prefix) {
  char text[INET6_ADDRSTRLEN] = {};
  const auto& b = key.bytes;
  const bool v4 = std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t x) { return x == 0; }) &&
                  b[10] == 0xff && b[11] == 0xff;
  if (v4) {
    inet_ntop(AF_INET, b.data() + 12, text, sizeof text);
    return text;
  }
  inet_ntop(AF_INET6, b.data(), text, sizeof text);
  std::string out(text);
  if (ipv6_prefix < 128) out.append("/").append(std::to_string(ipv6_prefix));
  return out;
}

// Runs `each(worker)` on every worker's thread and `done(parts)` (by worker) on the thread of
// the last one to finish. Each part is written by its own worker only; the count hands them over.
template <class T, class Each>
void gather(const std::vector<std::unique_ptr<transport::Worker>>& workers, Each each,
            std::function<void(std::vector<T>)> done) {
  struct State {
    std::vector<T> parts;
    std::atomic<std::size_t> left;
    std::function<void(std::vector<T>)> done;
  };
  auto state = std::make_shared<State>();
  state->parts.resize(workers.size());
  state->left = workers.size();
  state->done = std::move(done);
  for (std::size_t w = 0; w < workers.size(); ++w) {
    transport::Worker& worker = *workers[w];
    worker.post([&worker, w, each, state] {
      state->parts[w] = each(worker);
      if (state->left.fetch_sub(1, std::memory_order_acq_rel) == 1)
        state->done(std::move(state->parts));
    });
  }
}

std::string endpoint_text(const boost::asio::ip::udp::endpoint& peer) {
  auto address = peer.address();
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    address = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, address.to_v6());
  std::string out = address.is_v6() ? host_for_uri(address.to_string()) : address.to_string();
  return out.append(":").append(std::to_string(peer.port()));
}

struct FlowsPart {
  Server::Flows flows;
  std::vector<proxy::RegistrationRecord> registrations;
};

}  // namespace

void Server::list_bans(BanFilter filter, std::function<void(std::vector<BanView>)> done) {
  const unsigned prefix = config_.policy.settings.ipv6_prefix;
  transport::Worker& worker = *workers_[0];
  worker.post([&worker, prefix, filter = std::move(filter), done = std::move(done)] {
    std::vector<BanView> bans;
    const auto now = std::chrono::steady_clock::now();
    if (policy::Chain* chain = worker.handler().policy())
      chain->bans().for_each_active(
          now, [&](const sbc::SourceKey& key, const policy::BanRecord& ban) {
            using std::chrono::duration_cast, std::chrono::seconds;
            if ((filter.source && !sbc::overlaps(*filter.source, key, prefix)) ||
                (!filter.stage.empty() && filter.stage != ban.cause.stage) ||
                (!filter.reason.empty() && filter.reason != ban.cause.reason))
              return;
            bans.push_back({source_text(key, prefix),
                            ban.scope == policy::BanScope::All ? "all" : "udp",
                            duration_cast<seconds>(ban.until - now).count() + 1,
                            std::string(ban.cause.stage), std::string(ban.cause.reason),
                            duration_cast<seconds>(now - ban.since).count(), ban.offences});
          });
    done(std::move(bans));
  });
}

bool Server::lift_ban(std::string_view source, const std::function<void(bool)>& done) {
  const auto key = sbc::source_key(source, config_.policy.settings.ipv6_prefix);
  if (!key) return false;
  for (unsigned w = 0; w < count_; ++w) {
    transport::Worker& worker = *workers_[w];
    worker.post([&worker, key = *key, done = w == 0 ? done : nullptr] {
      bool lifted = false;
      if (policy::Chain* chain = worker.handler().policy())
        lifted = chain->bans().lift(key, std::chrono::steady_clock::now());
      if (done) done(lifted);
    });
  }
  return true;
}

void Server::lift_bans(const sbc::Cidr& block, std::function<void(std::size_t)> done) {
  const unsigned prefix = config_.policy.settings.ipv6_prefix;
  gather<std::size_t>(
      workers_,
      [block, prefix](transport::Worker& worker) -> std::size_t {
        policy::Chain* chain = worker.handler().policy();
        if (chain == nullptr) return 0;
        return chain->bans().lift_if(
            std::chrono::steady_clock::now(),
            [&](const sbc::SourceKey& key) { return sbc::overlaps(block, key, prefix); });
      },
      [done = std::move(done)](std::vector<std::size_t> lifted) {
        done(*std::max_element(lifted.begin(), lifted.end()));
      });
}

void Server::list_flows(std::size_t limit, std::function<void(Flows)> done) {
  gather<FlowsPart>(
      workers_,
      [this, limit](transport::Worker& worker) {
        FlowsPart part;
        if (worker.index() < relays_.size())
          proxy::copy_entries(relays_[worker.index()]->registrations(),
                              std::chrono::steady_clock::now(), part.registrations);
        Flows& flows = part.flows;
        transport::FlowTable& table = worker.flows();
        flows.udp = table.udp_peers();
        flows.udp_held = table.udp_held();
        table.for_each_stream([&](transport::FlowSink& sink) {
          const FlowInfo* info = sink.flow_info();
          const Protocol protocol = info != nullptr ? info->protocol : sink.address().protocol;
          ++(protocol == Protocol::Tls ? flows.tls : flows.tcp);
          if (flows.list.size() >= limit || info == nullptr) return;
          std::string remote = host_for_uri(info->remote_ip);
          remote.append(":").append(std::to_string(info->remote_port));
          flows.list.push_back({std::string(transport_name(protocol)), std::move(remote),
                                worker.index(), false, std::string(info->tls.peer_identity)});
        });
        table.for_each_udp([&](const boost::asio::ip::udp::endpoint& peer, bool held) {
          if (flows.list.size() >= limit) return false;
          flows.list.push_back({"udp", endpoint_text(peer), worker.index(), held, {}});
          return true;
        });
        return part;
      },
      [limit, done = std::move(done)](std::vector<FlowsPart> parts) {
        Flows all;
        for (FlowsPart& p : parts) {
          Flows& part = p.flows;
          all.udp += part.udp;
          all.udp_held += part.udp_held;
          all.tcp += part.tcp;
          all.tls += part.tls;
          for (FlowView& flow : part.list)
            if (all.list.size() < limit) all.list.push_back(std::move(flow));
        }
        std::vector<std::vector<proxy::RegistrationRecord>> registrations;
        registrations.reserve(parts.size());
        for (FlowsPart& p : parts) registrations.push_back(std::move(p.registrations));
        all.registrations = proxy::summarize(registrations, limit);
        done(std::move(all));
      });
}

void Server::list_cores(std::function<void(std::vector<CoreView>)> done) {
  if (relays_.empty()) return done({});
  // Worker 0 describes the cores; then each worker in turn adds its counts and transactions in
  // flight, handing the list on (no lock: one worker holds it at a time).
  workers_[0]->post([this, done = std::move(done)]() mutable {
    std::vector<CoreView> cores;
    const proxy::CoreSet& set = relays_[0]->cores();
    const auto now = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < set.size(); ++i) {
      const proxy::CoreTarget& t = set.target(i);
      const auto probe = set.probe_times(i);
      CoreView view{core_uri(t), t.name, set.active(i), set.stats(i).up.load(), set.drained(i)};
      if (probe.answered != proxy::CoreSet::TimePoint{}) {
        view.last_probe_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - probe.answered).count();
        view.probe_rtt_ms = static_cast<double>(probe.round_trip.count()) / 1000.0;
      }
      cores.push_back(std::move(view));
    }
    add_core_counts(0, std::move(cores), std::move(done));
  });
}

// Worker w's counts into `cores`, on its thread; then the next worker's, or `done`.
void Server::add_core_counts(unsigned w, std::vector<CoreView> cores,
                             std::function<void(std::vector<CoreView>)> done) {
  const proxy::Relay& relay = *relays_[w];
  const auto in_flight = relay.in_flight_by_core();
  for (std::size_t i = 0; i < cores.size() && i < relay.cores().size(); ++i) {
    const proxy::CoreStats& s = relay.cores().stats(i);
    cores[i].requests += s.requests.value();
    cores[i].failures += s.failures.value();
    cores[i].probes += s.probes.value();
    cores[i].in_flight += in_flight[i];
  }
  if (w + 1 == count_) return done(std::move(cores));
  workers_[w + 1]->post([this, w, cores = std::move(cores), done = std::move(done)]() mutable {
    add_core_counts(w + 1, std::move(cores), std::move(done));
  });
}

void Server::set_core_drained(std::string_view which, bool drained,
                              const std::function<void(std::size_t)>& done) {
  if (relays_.empty()) return done(0);
  // A URI as `cores` shows it, the DNS name of a core (all its addresses), or IP:PORT.
  auto names = [which = std::string(which)](const proxy::CoreTarget& t) {
    const std::string address = sbc::host_for_uri(t.ip) + ":" + std::to_string(t.port);
    return which == core_uri(t) || (!t.name.empty() && which == t.name) || which == address;
  };
  for (unsigned w = 0; w < count_; ++w) {
    proxy::Relay& relay = *relays_[w];
    workers_[w]->post([&relay, names, drained, done = w == 0 ? done : nullptr] {
      const std::size_t named = relay.set_drained(names, drained);
      if (done) done(named);
    });
  }
}

}  // namespace sbc::app
