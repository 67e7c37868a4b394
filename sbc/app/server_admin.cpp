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
  gather<Flows>(
      workers_,
      [limit](transport::Worker& worker) {
        Flows flows;
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
        return flows;
      },
      [limit, done = std::move(done)](std::vector<Flows> parts) {
        Flows all;
        for (Flows& part : parts) {
          all.udp += part.udp;
          all.udp_held += part.udp_held;
          all.tcp += part.tcp;
          all.tls += part.tls;
          for (FlowView& flow : part.list)
            if (all.list.size() < limit) all.list.push_back(std::move(flow));
        }
        done(std::move(all));
      });
}

void Server::list_cores(std::function<void(std::vector<CoreView>)> done) {
  if (relays_.empty()) return done({});
  const proxy::Relay& relay = *relays_[0];
  workers_[0]->post([&relay, done = std::move(done)] {
    std::vector<CoreView> cores;
    const proxy::CoreSet& set = relay.cores();
    for (std::size_t i = 0; i < set.size(); ++i) {
      const proxy::CoreTarget& t = set.target(i);
      const proxy::CoreStats& s = set.stats(i);
      cores.push_back({core_uri(t), t.name, set.active(i), s.up.load(), s.requests.value(),
                       s.failures.value(), s.probes.value()});
    }
    done(std::move(cores));
  });
}

}  // namespace sbc::app
