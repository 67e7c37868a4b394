#include <boost/asio/ip/udp.hpp>
#include <boost/asio/post.hpp>

#include "sbc/app/server.hpp"
#include "sbc/common/address.hpp"
#include "sbc/crypto/token_sealer.hpp"
#include "tls/tls_client.hpp"

// The relay: one per worker, each with its own inside socket, so that the core's answers and
// requests come back to the worker that holds the transaction or the flow.

namespace sbc::app {
namespace {

namespace asio = boost::asio;

// The address this host sends from toward `ip` (no packet is sent: connect() on UDP only
// picks the route).
std::string source_address_toward(const std::string& ip, std::uint16_t port) {
  asio::io_context io;
  asio::ip::udp::socket socket(io);
  const auto address = asio::ip::make_address(ip);
  socket.open(address.is_v4() ? asio::ip::udp::v4() : asio::ip::udp::v6());
  socket.connect({address, port});
  return transport::address_text(socket.local_endpoint().address());
}

std::string describe(const proxy::CoreTarget& core) {
  std::string text = "core sip:";
  text += core.name.empty() ? sbc::host_for_uri(core.ip) : core.name;
  if (core.port != 0) {
    text += ':';
    text += std::to_string(core.port);
  }
  if (core.protocol != sbc::Protocol::Udp)
    text += std::string(";transport=") + std::string(sbc::transport_name(core.protocol));
  return text;
}

// A core's address, and its DNS name when it came from one: for the core state log.
std::string core_address(const proxy::CoreTarget& core) {
  std::string text = core_uri(core);
  if (!core.name.empty()) text += " (" + core.name + ")";
  return text;
}

}  // namespace

std::string core_uri(const proxy::CoreTarget& core) {
  std::string uri("sip:");
  uri.append(sbc::host_for_uri(core.ip)).append(":").append(std::to_string(core.port));
  if (core.protocol != sbc::Protocol::Udp)
    uri.append(";transport=").append(sbc::transport_name(core.protocol));
  return uri;
}

bool Server::start_relays() {
  if (config_.core.targets.empty()) {
    log_("warn",
         "no core configured (core.targets, or run --core sip:IP:PORT): requests are "
         "answered 503");
    return true;
  }
  // Targets with an address are cores from the start; names join when they resolve.
  bool streams = false, any_tls = false;
  core_targets_ = config_.core.targets;
  for (const proxy::CoreTarget& core : config_.core.targets) {
    if (core.name.empty()) fixed_cores_.push_back(core);
    streams = streams || core.protocol != sbc::Protocol::Udp;
    any_tls = any_tls || core.protocol == sbc::Protocol::Tls;
  }
  static_cores_ = fixed_cores_.size();
  inside_streams_ = streams;
  inside_tls_ = any_tls;
  std::string inside_ip = config_.core.local_address;
  try {
    if (inside_ip.empty()) {
      const std::optional<std::string> toward = inside_route_target();
      if (!toward) {
        log_("error",
             "core.local_address is needed: no core target is an address, and no DNS server is "
             "known to find the route toward the cores");
        return false;
      }
      inside_ip = source_address_toward(*toward, 5060);
    }
  } catch (const boost::system::system_error& e) {
    log_("error", "no route toward the core: " + e.code().message());
    return false;
  }
  std::vector<proxy::OwnAddress> outside;
  for (const Listener& l : config_.listeners) {
    const auto address = asio::ip::make_address(l.address);
    std::string shown = !l.advertise.empty()       ? l.advertise
                        : address.is_unspecified() ? inside_ip
                                                   : transport::address_text(address);
    outside.push_back({shown, l.advertise_port != 0 ? l.advertise_port : l.port});
  }
  // One key for all workers: a token sealed by one must open on another.
  std::vector<sbc::crypto::TokenSealer::Key> keys = config_.relay.token_keys;
  token_keys_configured_ = !keys.empty();
  configured_token_keys_ = keys;
  if (keys.empty()) {
    keys.push_back(sbc::crypto::TokenSealer::random_key(0));
    log_("warn",
         "no relay.token_keys configured: sealing the tokens in Path and Record-Route with a "
         "random key made at start. Registrations and dialogs do not survive a restart, and "
         "several SBC replicas must share a configured key.");
  }
  token_keys_ = keys;
  transport::TlsConnector tls_connector;
  if (any_tls) {
    try {
      tls_connector = tls::make_tls_connector(config_.core.tls);
    } catch (const std::runtime_error& e) {
      log_("error", e.what());
      return false;
    }
    if (!config_.core.tls.verify)
      log_("warn", "core.tls.verify is false: the core's certificate is not checked");
  }
  // Cores over TCP or TLS: each worker also listens on its inside port for the core's
  // connections and opens its own from there (sbc/transport/inside_streams.hpp).
  const CorePeers peers = core_peers(fixed_cores_);
  // policy.calls counts a user's calls on every worker (always made: a reload may set limits).
  auto call_counts = std::make_shared<proxy::CallCounts>(count_, 2 * config_.relay.max_dialogs);
  for (unsigned w = 0; w < count_; ++w) {
    proxy::RelaySettings settings = config_.relay;
    settings.call_counts = call_counts;
    settings.worker = w;
    settings.token_keys = keys;
    settings.cores = fixed_cores_;
    settings.outside_addresses = outside;
    // Why a core left the rotation or came back, once per worker that saw it.
    settings.on_core_state = [this, w](const proxy::CoreTarget& core, bool up,
                                       std::string_view reason) {
      log_(up ? "info" : "warn", "core " + core_address(core) + (up ? " up" : " down") + " (" +
                                     std::string(reason) + ", worker " + std::to_string(w) + ")");
    };
    if (!bind_inside(w, inside_ip, streams ? &peers.stream : nullptr, tls_connector, settings))
      return false;
    for (std::size_t i = 0; i < config_.listeners.size(); ++i)
      if (config_.listeners[i].transport == Transport::Udp)
        for (auto& u : listening_[w].udp)
          if (u->bound_port() == config_.listeners[i].port)
            u->set_advertised(outside[i].ip, outside[i].port);
    log_("info", "worker " + std::to_string(w) + " relays to the core from [" + settings.inside_ip +
                     "]:" + std::to_string(settings.inside_port));
    // The inside UDP socket hears only the UDP cores (forged answers to probes are dropped).
    workers_[w]->set_inside_peers(peers.udp, !config_.core.strict_source_port);
    relays_.push_back(std::make_unique<proxy::Relay>(std::move(settings), *workers_[w]));
    if (config_.media.enabled) {
      media_ports_.push_back(std::make_unique<NgMediaPort>(workers_[w]->io(), config_.media));
      std::string error;
      if (!media_ports_.back()->start(error)) {
        log_("error", "media: " + error);
        return false;
      }
      media_ports_.back()->set_warn([this, w](const std::string& line) {
        log_("warn", line + " (worker " + std::to_string(w) + ")");
      });
      relays_.back()->set_media_port(media_ports_.back().get());
    }
    workers_[w]->set_router(relays_.back().get());
    policies_->attach_relay(w, *relays_.back());
  }
  hand_unknown_byes();
  for (const proxy::CoreTarget& core : config_.core.targets) log_("info", describe(core));
  if (config_.media.enabled)
    log_("info", "media anchored through " + std::to_string(config_.media.ng.instances.size()) +
                     " rtpengine instance(s), interfaces " + config_.media.outside_interface +
                     " (outside) and " + config_.media.inside_interface + " (inside)");
  return start_resolver();
}

// A BYE from the outside that reaches another worker than its call's (UDP from another source
// port, a new connection) ends the call there too: its places and its media session go.
void Server::hand_unknown_byes() {
  for (unsigned w = 0; w < count_ && count_ > 1; ++w)
    relays_[w]->set_unknown_bye_listener(
        [this, w](std::string_view call_id, std::string_view from_tag, std::string_view to_tag) {
          try {
            for (unsigned o = 0; o < count_; ++o) {
              if (o == w) continue;
              boost::asio::post(workers_[o]->io(),
                                [relay = relays_[o].get(), call = std::string(call_id),
                                 from = std::string(from_tag),
                                 to = std::string(to_tag)] { relay->end_call(call, from, to); });
            }
          } catch (const std::exception&) {
            // Out of memory: the call ends at its session timeout instead.
          }
        });
}

Server::CorePeers Server::core_peers(const std::vector<proxy::CoreTarget>& cores) {
  CorePeers peers;
  for (const proxy::CoreTarget& core : cores) {
    if (core.protocol == sbc::Protocol::Udp)
      peers.udp.emplace_back(asio::ip::make_address(core.ip), core.port);
    else
      peers.stream.push_back({core.ip, core.name});
  }
  return peers;
}

// Binds worker `w`'s inside socket (UDP, and the stream listener for TCP/TLS cores) and writes
// the address it got into `settings`.
bool Server::bind_inside(unsigned w, const std::string& inside_ip,
                         const std::vector<transport::StreamCore>* stream_cores,
                         const transport::TlsConnector& tls_connector,
                         proxy::RelaySettings& settings) {
  const std::uint16_t port =
      config_.core.local_port == 0 ? 0 : static_cast<std::uint16_t>(config_.core.local_port + w);
  try {
    // With any port, the UDP port the kernel picks may be taken for TCP: pick again.
    for (int attempt = 0;; ++attempt) {
      const auto bound = workers_[w]->bind_inside({asio::ip::make_address(inside_ip), port});
      settings.inside_ip = transport::address_text(bound.address());
      settings.inside_port = bound.port();
      if (stream_cores == nullptr) return true;
      try {
        workers_[w]->listen_inside_streams({bound.address(), bound.port()}, *stream_cores,
                                           tls_connector);
        return true;
      } catch (const boost::system::system_error& e) {
        if (port != 0 || attempt == 20 || e.code() != asio::error::address_in_use) throw;
      }
    }
  } catch (const boost::system::system_error& e) {
    log_("error", "cannot bind the inside socket on [" + inside_ip +
                      "]:" + std::to_string(config_.core.local_port) + ": " + e.code().message());
    return false;
  }
}

}  // namespace sbc::app
