#include "sbc/app/server.hpp"

#include <boost/asio/ip/udp.hpp>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <exception>
#include <thread>

namespace sbc::app {
namespace {

namespace asio = boost::asio;
using logging::LogLevel;

// The workers' rejection lines go straight to standard error, one write(2) each: no lock shared
// with the daemon's log (a line shorter than PIPE_BUF does not interleave with another on a pipe).
void write_to_stderr(std::string_view line) {
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report it: the log is the thing failing
    done += static_cast<std::size_t>(n);
  }
}

unsigned worker_count(const Config& config) {
  return config.workers != 0 ? config.workers : std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace

Server::Server(const Config& config, logging::Log& log)
    : config_(config),
      log_(log),
      shared_(config.stream_limits, config.policy.settings.ipv6_prefix, config.policy.acl.trusted),
      options_{config.limits, config.proxy_require_supported},
      count_(worker_count(config)) {}

Server::~Server() = default;

bool Server::start() {
  // TLS contexts first: a bad certificate stops the start with its file name.
  if (!prepare_tls()) return false;
  detect_ipv6();
  announce_auth();
  make_workers();
  if (!start_capture() || !open_listeners() || !start_relays()) return false;
  start_workers();
  if (!start_fleet() || !serve_metrics()) {
    if (store_resolver_) store_resolver_->stop();
    if (fleet_) fleet_->stop();
    for (auto& w : workers_) w->stop();
    return false;
  }
  for (const Listener& l : config_.listeners)
    log_("info", "listening on " + std::string(to_string(l.transport)) + " [" + l.address +
                     "]:" + std::to_string(l.port));
  log_(LogLevel::Info, "sbc started",
       {{"version", SBC_VERSION}, {"workers", std::to_string(count_)}});
  return true;
}

bool Server::prepare_tls() {
  tls_servers_.resize(config_.listeners.size());
  for (std::size_t i = 0; i < config_.listeners.size(); ++i) {
    const Listener& l = config_.listeners[i];
    if (l.transport != Transport::Tls) continue;
    try {
      tls_servers_[i] = std::make_unique<tls::TlsServer>(l.tls);
    } catch (const std::exception& e) {
      log_("error", std::string("listener tls [") + l.address + "]:" + std::to_string(l.port) +
                        ": " + e.what());
      return false;
    }
    if (tls_servers_[i]->self_signed()) {
      log_("warn",
           "WARNING: no certificate configured for the tls listener on port " +
               std::to_string(l.port) +
               "; using a self-signed certificate generated at start. Clients cannot verify it. "
               "Configure listeners[].tls.certificates for production.");
    }
    log_("info", "tls port " + std::to_string(l.port) + ": " + tls_servers_[i]->describe());
  }
  return true;
}

void Server::detect_ipv6() {
  asio::io_context probe;
  asio::ip::udp::socket socket(probe);
  boost::system::error_code ec;
  socket.open(asio::ip::udp::v6(), ec);
  if (ec) {
    ipv6_available_ = false;
    log_("warn", "IPv6 is not available on this host (" + ec.message() +
                     "); listeners on :: listen on 0.0.0.0 instead");
  }
}

void Server::announce_auth() {
  const auto& chain_names = config_.policy.chain;
  if (config_.policy.enabled &&
      std::find(chain_names.begin(), chain_names.end(), "auth") != chain_names.end()) {
    if (config_.policy.auth.mode == policy::AuthSettings::Mode::Core) {
      log_("info",
           "authentication left to the core: its refusals of a source's credentials count "
           "towards a ban");
    } else {
      log_("info", "digest authentication at the edge: realm " + config_.policy.auth.realm + ", " +
                       std::to_string(config_.policy.auth.credentials->users()) + " users");
    }
    if (config_.policy.auth.mode == policy::AuthSettings::Mode::Edge &&
        !config_.policy.auth.nonce_key_configured)
      log_("warn",
           "no policy.auth.nonce_key configured: nonces are signed with a random key made at "
           "start; clients re-authenticate after a restart, and replicas cannot share nonces.");
  }
}

void Server::make_workers() {
  listening_.resize(count_);
  for (unsigned w = 0; w < count_; ++w) {
    workers_.push_back(std::make_unique<transport::Worker>(w, options_, shared_));
    transport::Worker& worker = *workers_.back();
    if (log_.enabled(LogLevel::Info) && config_.log_rejections_per_second > 0)
      worker.set_reject_log(config_.log_rejections_per_second, write_to_stderr);
  }
  // The policy chains: one per worker (its tables are the worker's own), reloaded on SIGHUP.
  policies_ = std::make_unique<PolicyRuntime>(workers_);
  make_fleet();
  policies_->install(config_.policy);
}

bool Server::start_capture() {
  capture_settings_ = config_.capture;
  if (config_.capture.enabled) {
    try {
      live_capture_ = make_capture(config_.capture);
    } catch (const std::exception& e) {
      log_("error", std::string("capture: ") + e.what());
      return false;
    }
    for (unsigned w = 0; w < count_; ++w) workers_[w]->handler().set_tap(&live_capture_->tap(w));
    live_capture_->start();
    log_("info", "capturing " +
                     std::string(config_.capture.what == capture::CaptureSettings::What::All
                                     ? "all messages"
                                     : "rejected messages") +
                     " to " + config_.capture.directory);
  }
  return true;
}

bool Server::open_listeners() {
  for (unsigned w = 0; w < count_; ++w) {
    transport::Worker& worker = *workers_[w];
    for (std::size_t i = 0; i < config_.listeners.size(); ++i) {
      const Listener& l = config_.listeners[i];
      auto address = asio::ip::make_address(l.address);
      // "::" means every address; on a host without IPv6 that is every IPv4 address.
      if (address == asio::ip::address_v6::any() && !ipv6_available_) {
        address = asio::ip::address_v4::any();
      }
      try {
        if (l.transport == Transport::Udp) {
          listening_[w].udp.push_back(std::make_unique<transport::UdpListener>(
              worker, asio::ip::udp::endpoint(address, l.port)));
        } else {
          transport::StreamAcceptor::OnAccept on_accept;
          if (l.transport == Transport::Tcp) {
            on_accept = [&worker, ip = l.advertise, port = l.advertise_port](
                            asio::ip::tcp::socket s, transport::ConnectionTicket t) {
              transport::start_tcp_session(std::move(s), worker, std::move(t), ip, port);
            };
          } else {
            tls::TlsServer* server = tls_servers_[i].get();
            on_accept = [&worker, server, ip = l.advertise, port = l.advertise_port](
                            asio::ip::tcp::socket s, transport::ConnectionTicket t) {
              server->start_session(std::move(s), worker, std::move(t), ip, port);
            };
          }
          listening_[w].stream.push_back(std::make_unique<transport::StreamAcceptor>(
              worker, asio::ip::tcp::endpoint(address, l.port), std::move(on_accept)));
        }
      } catch (const boost::system::system_error& e) {
        log_("error", "cannot listen on " + std::string(to_string(l.transport)) + " [" + l.address +
                          "]:" + std::to_string(l.port) + ": " + e.code().message());
        return false;
      }
    }
  }
  return true;
}

void Server::start_workers() {
  for (unsigned w = 0; w < count_; ++w) {
    for (auto& u : listening_[w].udp) u->start();
    for (auto& s : listening_[w].stream) s->start();
    workers_[w]->start();
  }
}

bool Server::serve_metrics() {
  if (!config_.metrics.enabled) return true;
  // Brackets for IPv6 only: the line is a URL an operator pastes into curl.
  const std::string where =
      sbc::host_for_uri(config_.metrics.address) + ":" + std::to_string(config_.metrics.port);
  try {
    metrics_server_ = std::make_unique<metrics::HttpServer>(
        config_.metrics.address, config_.metrics.port, [this] { return collect(); },
        [this] { return ready(); });
  } catch (const std::exception& e) {
    log_("error", "cannot serve metrics on " + where + ": " + e.what());
    return false;
  }
  metrics_server_->start();
  log_("info", "metrics on http://" + where + "/metrics (/healthz, /readyz)");
  return true;
}

// Ready: serving, and with a relay, at least one core reachable.
bool Server::ready() const {
  if (!ready_.load()) return false;
  if (relays_.empty()) return true;
  for (const auto& r : relays_)
    for (std::size_t i = 0; i < r->cores().size(); ++i)
      if (const proxy::CoreStats& s = r->cores().stats(i);
          s.active.load(std::memory_order_relaxed) && s.up.load(std::memory_order_relaxed) &&
          !s.drained.load(std::memory_order_relaxed))
        return true;
  return false;
}

bool Server::certificate_files_changed() const {
  return std::any_of(tls_servers_.begin(), tls_servers_.end(),
                     [](const auto& server) { return server && server->files_changed(); });
}

void Server::reload_certificates(std::string_view why) {
  for (auto& server : tls_servers_) {
    if (!server) continue;
    const auto result = server->reload();
    log_(result.ok ? "info" : "error", std::string(why) + ": " + result.message);
  }
}

void Server::stop() {
  if (resolver_) resolver_->stop();              // before the workers: it posts to them
  if (store_resolver_) store_resolver_->stop();  // before the store: it tells it
  if (fleet_) fleet_->stop();                    // before the workers: it posts to them
  if (metrics_server_) metrics_server_->stop();
  for (auto& w : workers_) w->stop();
  // The workers' threads are gone: the media ports' outstanding requests complete now, into
  // relays that no longer ask them for anything.
  for (auto& r : relays_) r->set_media_port(nullptr);
  for (auto& port : media_ports_) port->stop();
  {
    const std::lock_guard lock(capture_mutex_);
    for (auto& retiring : retiring_captures_) retiring->stop();
    if (live_capture_) live_capture_->stop();
  }
  log_totals();
}

// Not ready at once; no new connection; the UDP sockets stay open (still read) for the grace
// period, so that running transactions get their answers and dialogs their in-dialog requests,
// while new requests are refused 503 (the relay and the edge read shared_.draining).
void Server::begin_drain() {
  shared_.draining = true;
  ready_ = false;
  for (unsigned w = 0; w < count_; ++w) {
    workers_[w]->post([this, w] {
      for (auto& s : listening_[w].stream) s->close();
    });
  }
}

}  // namespace sbc::app
