#include "sbc/app/daemon.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/resource.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "metrics/exposition.hpp"
#include "policy/policy_config.hpp"
#include "sbc/app/policy_runtime.hpp"
#include "sbc/capture/live_capture.hpp"
#include "sbc/common/log.hpp"
#include "sbc/proxy/relay.hpp"
#include "sbc/transport/stream_session.hpp"
#include "sbc/transport/worker.hpp"
#include "tls/tls_client.hpp"
#include "tls/tls_server.hpp"
#include "tls/token_sealer.hpp"

namespace sbc::app {
namespace {

namespace asio = boost::asio;
using logging::Log;
using logging::LogLevel;

struct Listening {
  std::vector<std::unique_ptr<transport::UdpListener>> udp;
  std::vector<std::unique_ptr<transport::StreamAcceptor>> stream;
};

struct Totals {
  std::array<std::uint64_t, 3> received{};
  std::array<std::uint64_t, 3> sent{};
  std::array<std::array<std::uint64_t, 4>, 3> received_by_kind{};
  std::uint64_t stream_flows = 0, udp_flows = 0, tcp_connections = 0, tls_connections = 0;
  std::array<std::uint64_t, 7> answers{};
  std::array<std::uint64_t, 2> tls_ok{};
  std::uint64_t tls_failed = 0, tls_timed_out = 0;
  metrics::HistogramSnapshot tls_handshake_duration;
  std::array<metrics::HistogramSnapshot, 2> relay_processing;  // by transport::RelayDirection
  std::uint64_t invalid_answered = 0, invalid_dropped = 0, options_answered = 0,
                unrouted_answered = 0, acks_absorbed = 0, responses_dropped = 0,
                amplification_refused = 0;
  // Connections toward the core (TCP, TLS): opened, accepted, failed, refused.
  std::array<std::uint64_t, 4> core_connections{};
  std::uint64_t inside_dropped = 0;  // datagrams on the inside socket not from a core
  std::uint64_t udp_flows_evicted = 0, udp_flows_demoted = 0;
  std::array<std::uint64_t, transport::kStreamCloseReasons>
      stream_closed{};  // UDP flow table (flow_table.hpp)
  std::uint64_t total_received() const { return received[0] + received[1] + received[2]; }
};

// Adds up the workers' counters (each has one writer; reading them here is race-free).
Totals totals(const std::vector<std::unique_ptr<transport::Worker>>& workers) {
  Totals t;
  for (const auto& w : workers) {
    if (const transport::InsideStreams* inside = w->inside_streams()) {
      const transport::InsideStreamStats& c = inside->stats();
      t.core_connections[0] += c.opened.value();
      t.core_connections[1] += c.accepted.value();
      t.core_connections[2] += c.failed.value();
      t.core_connections[3] += c.refused.value();
    }
    t.inside_dropped += w->inside_dropped();
    t.udp_flows_evicted += w->flows().udp_evicted();
    for (std::size_t r = 0; r < transport::kStreamCloseReasons; ++r)
      t.stream_closed[r] += w->stream_closed(static_cast<transport::StreamCloseReason>(r));
    t.udp_flows_demoted += w->flows().udp_demoted();
    const transport::EdgeStats& s = w->handler().stats();
    for (std::size_t i = 0; i < t.received.size(); ++i) t.received[i] += s.received[i].value();
    for (std::size_t i = 0; i < t.sent.size(); ++i) t.sent[i] += s.sent[i].value();
    for (std::size_t p = 0; p < 3; ++p)
      for (std::size_t k = 0; k < 4; ++k)
        t.received_by_kind[p][k] += s.received_by_kind[p][k].value();
    t.stream_flows += w->stream_flows();
    t.udp_flows += w->udp_flows();
    t.tcp_connections += w->connections(transport::Protocol::Tcp);
    t.tls_connections += w->connections(transport::Protocol::Tls);
    for (std::size_t i = 0; i < t.answers.size(); ++i) t.answers[i] += s.answers[i].value();
    t.invalid_answered += s.invalid_answered.value();
    t.invalid_dropped += s.invalid_dropped.value();
    t.options_answered += s.options_answered.value();
    t.unrouted_answered += s.unrouted_answered.value();
    t.acks_absorbed += s.acks_absorbed.value();
    t.amplification_refused += s.amplification_refused.value();
    t.responses_dropped += s.responses_dropped.value();
    for (std::size_t i = 0; i < 2; ++i) t.tls_ok[i] += s.tls_handshakes_ok[i].value();
    t.tls_failed += s.tls_handshakes_failed.value();
    t.tls_timed_out += s.tls_handshakes_timed_out.value();
    s.tls_handshake_duration.add_to(t.tls_handshake_duration);
    for (std::size_t i = 0; i < 2; ++i) s.relay_processing[i].add_to(t.relay_processing[i]);
  }
  return t;
}

struct RelayTotals {
  std::uint64_t to_core = 0, to_outside = 0, responses_to_outside = 0, responses_to_core = 0,
                absorbed = 0, resent = 0, stateless = 0, timeouts = 0, cancels = 0,
                no_transaction = 0, flow_failed = 0, loops = 0, not_routable = 0, table_full = 0,
                stray = 0, inside_invalid = 0, too_large = 0, started = 0, ended = 0, failovers = 0,
                no_core = 0, dialog_refused = 0, untrusted_refused = 0, foreign_routes_removed = 0,
                relay_amplification = 0, stateless_acks = 0, dialogs_established = 0,
                dialogs_ended = 0, transport_errors = 0, sips_refused = 0, probe_mismatches = 0,
                memory_full = 0, transaction_bytes = 0;
  std::array<metrics::HistogramSnapshot, 4> transaction_time;  // as RelayStats::transaction_time
  struct Core {
    bool up = false;
    std::uint64_t requests = 0, failures = 0, probes = 0;
  };
  std::vector<Core> cores;
};

RelayTotals relay_totals(const std::vector<std::unique_ptr<proxy::Relay>>& relays) {
  RelayTotals t;
  for (const auto& r : relays) {
    const proxy::RelayStats& s = r->stats();
    t.to_core += s.requests_to_core.value();
    t.to_outside += s.requests_to_outside.value();
    t.responses_to_outside += s.responses_to_outside.value();
    t.responses_to_core += s.responses_to_core.value();
    t.absorbed += s.retransmissions_absorbed.value();
    t.resent += s.retransmissions_sent.value();
    t.stateless += s.stateless_forwarded.value();
    t.timeouts += s.timeouts.value();
    t.cancels += s.cancels.value();
    t.no_transaction += s.no_transaction.value();
    t.flow_failed += s.flow_failed.value();
    t.loops += s.loops.value();
    t.not_routable += s.not_routable.value();
    t.table_full += s.table_full.value();
    t.memory_full += s.memory_full.value();
    t.transaction_bytes += r->transaction_bytes();
    t.stray += s.stray_responses.value();
    t.inside_invalid += s.inside_invalid.value();
    t.probe_mismatches += s.probe_mismatches.value();
    t.too_large += s.too_large.value();
    t.started += s.transactions_started.value();
    t.ended += s.transactions_ended.value();
    t.failovers += s.failovers.value();
    t.no_core += s.no_core.value();
    t.dialog_refused += s.dialog_refused.value();
    t.untrusted_refused += s.untrusted_refused.value();
    t.foreign_routes_removed += s.foreign_routes_removed.value();
    t.relay_amplification += s.amplification_dropped.value();
    t.stateless_acks += s.stateless_acks_absorbed.value();
    t.dialogs_established += s.dialogs_established.value();
    t.dialogs_ended += s.dialogs_ended.value();
    t.transport_errors += s.transport_errors.value();
    t.sips_refused += s.sips_refused.value();
    for (std::size_t i = 0; i < t.transaction_time.size(); ++i)
      s.transaction_time[i].add_to(t.transaction_time[i]);
    const proxy::CoreSet& cores = r->cores();
    t.cores.resize(cores.size());
    for (std::size_t i = 0; i < cores.size(); ++i) {
      // Each worker probes on its own; a core is up when any worker reaches it.
      t.cores[i].up = t.cores[i].up || cores.stats(i).up.load(std::memory_order_relaxed);
      t.cores[i].requests += cores.stats(i).requests.value();
      t.cores[i].failures += cores.stats(i).failures.value();
      t.cores[i].probes += cores.stats(i).probes.value();
    }
  }
  return t;
}

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

metrics::Family counter(std::string name, std::string help, double value) {
  return {std::move(name), std::move(help), metrics::Family::Type::Counter, {{{}, value}}};
}
metrics::Family gauge(std::string name, std::string help, double value) {
  return {std::move(name), std::move(help), metrics::Family::Type::Gauge, {{{}, value}}};
}

void add_relay_families(std::vector<metrics::Family>& families, const RelayTotals& t) {
  using Type = metrics::Family::Type;
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  families.push_back({"sbc_relay_dialogs_total",
                      "Dialogs through the relay: established (a 2xx to an INVITE outside a "
                      "dialog) and ended (a 2xx to a BYE); their difference is the calls up.",
                      Type::Counter,
                      {{{{"event", "established"}}, d(t.dialogs_established)},
                       {{{"event", "ended"}}, d(t.dialogs_ended)}}});
  families.push_back({"sbc_relay_requests_total",
                      "New requests relayed, by direction.",
                      Type::Counter,
                      {{{{"direction", "to_core"}}, d(t.to_core)},
                       {{{"direction", "to_outside"}}, d(t.to_outside)}}});
  families.push_back({"sbc_relay_responses_total",
                      "Responses relayed, by direction.",
                      Type::Counter,
                      {{{{"direction", "to_outside"}}, d(t.responses_to_outside)},
                       {{{"direction", "to_core"}}, d(t.responses_to_core)}}});
  families.push_back(
      {"sbc_relay_retransmissions_total",
       "Retransmissions: absorbed (a peer's, answered from transaction state) and "
       "sent (ours, UDP timers).",
       Type::Counter,
       {{{{"kind", "absorbed"}}, d(t.absorbed)}, {{{"kind", "sent"}}, d(t.resent)}}});
  families.push_back(counter("sbc_relay_stateless_forwarded_total",
                             "Requests relayed without a transaction (ACK for 2xx).",
                             d(t.stateless)));
  families.push_back(
      counter("sbc_relay_cancels_total", "CANCEL requests matched and relayed.", d(t.cancels)));
  families.push_back({"sbc_relay_rejections_total",
                      "Requests the relay answered itself instead of relaying, by reason.",
                      Type::Counter,
                      {{{{"reason", "timeout"}}, d(t.timeouts)},
                       {{{"reason", "no_transaction"}}, d(t.no_transaction)},
                       {{{"reason", "flow_failed"}}, d(t.flow_failed)},
                       {{{"reason", "loop"}}, d(t.loops)},
                       {{{"reason", "not_routable"}}, d(t.not_routable)},
                       {{{"reason", "table_full"}}, d(t.table_full)},
                       {{{"reason", "memory"}}, d(t.memory_full)},
                       {{{"reason", "no_core"}}, d(t.no_core)},
                       {{{"reason", "dialog"}}, d(t.dialog_refused)},
                       {{{"reason", "untrusted_headers"}}, d(t.untrusted_refused)},
                       {{{"reason", "sips_no_tls"}}, d(t.sips_refused)},
                       {{{"reason", "too_large"}}, d(t.too_large)}}});
  families.push_back({"sbc_relay_messages_dropped_total",
                      "Messages the relay dropped, by reason.",
                      Type::Counter,
                      {{{{"reason", "stray_response"}}, d(t.stray)},
                       {{{"reason", "amplification"}}, d(t.relay_amplification)},
                       {{{"reason", "invalid_from_core"}}, d(t.inside_invalid)},
                       {{{"reason", "probe_mismatch"}}, d(t.probe_mismatches)}}});
  families.push_back(counter("sbc_relay_foreign_routes_removed_total",
                             "Requests from the outside whose preloaded Route entries (not the "
                             "SBC's own, not a dialog's route set) were removed.",
                             d(t.foreign_routes_removed)));
  families.push_back(
      gauge("sbc_relay_transactions_active", "Transactions in progress.", d(t.started - t.ended)));
  families.push_back(gauge("sbc_relay_transaction_bytes",
                           "Bytes the transactions keep (requests, answers), all workers; each "
                           "worker's share is bounded by relay.max_transaction_bytes.",
                           d(t.transaction_bytes)));
  families.push_back(counter("sbc_relay_failovers_total",
                             "Requests sent on to another core after a timeout, a 503 or a "
                             "transport error.",
                             d(t.failovers)));
  families.push_back(
      {"sbc_relay_transaction_seconds",
       "From a relayed request's arrival to its first final answer (the core's or the user "
       "agent's time, ringing included for INVITE; the SBC's own 408/503 too), by direction and "
       "method.",
       metrics::Family::Type::Histogram,
       {{{{"direction", "outside_to_core"}, {"method", "invite"}}, t.transaction_time[0]},
        {{{"direction", "outside_to_core"}, {"method", "other"}}, t.transaction_time[1]},
        {{{"direction", "core_to_outside"}, {"method", "invite"}}, t.transaction_time[2]},
        {{{"direction", "core_to_outside"}, {"method", "other"}}, t.transaction_time[3]}}});
  families.push_back(counter("sbc_relay_transport_errors_total",
                             "Requests toward a core whose connection could not be opened or broke "
                             "before they were sent (failed over, or answered 503).",
                             d(t.transport_errors)));
  // Cores are labelled by their index in core.targets (a bounded set), never by address.
  metrics::Family up{"sbc_core_up",
                     "1 while the core answers (probes, requests), by index in core.targets.",
                     Type::Gauge,
                     {}};
  metrics::Family requests{
      "sbc_core_requests_total", "New requests sent to each core.", Type::Counter, {}};
  metrics::Family failures{"sbc_core_failures_total",
                           "Timeouts and 503s of each core that made the relay try another.",
                           Type::Counter,
                           {}};
  metrics::Family probes{
      "sbc_core_probes_total", "OPTIONS health probes sent to each core.", Type::Counter, {}};
  for (std::size_t i = 0; i < t.cores.size(); ++i) {
    const std::vector<std::pair<std::string, std::string>> label{{"core", std::to_string(i)}};
    up.samples.push_back({label, t.cores[i].up ? 1.0 : 0.0});
    requests.samples.push_back({label, d(t.cores[i].requests)});
    failures.samples.push_back({label, d(t.cores[i].failures)});
    probes.samples.push_back({label, d(t.cores[i].probes)});
  }
  for (metrics::Family* f : {&up, &requests, &failures, &probes}) families.push_back(std::move(*f));
}

}  // namespace

int run_daemon(const Config& config, std::ostream& out,
               const std::optional<std::string>& config_path) {
  Log log(out, config.log_level);
  // BoringSSL writes to sockets with write(2): a peer that went away must give EPIPE, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  // Every connection is a descriptor: take the hard limit rather than the usual soft 1024.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  transport::Shared shared(config.stream_limits, config.policy.settings.ipv6_prefix,
                           config.policy.acl.trusted);
  const transport::EdgeOptions options{config.limits, config.proxy_require_supported};
  const unsigned count =
      config.workers != 0 ? config.workers : std::max(1u, std::thread::hardware_concurrency());

  // TLS contexts first: a bad certificate stops the start with its file name.
  std::vector<std::unique_ptr<tls::TlsServer>> tls_servers(config.listeners.size());
  for (std::size_t i = 0; i < config.listeners.size(); ++i) {
    const Listener& l = config.listeners[i];
    if (l.transport != Transport::Tls) continue;
    try {
      tls_servers[i] = std::make_unique<tls::TlsServer>(l.tls);
    } catch (const std::exception& e) {
      log("error", std::string("listener tls [") + l.address + "]:" + std::to_string(l.port) +
                       ": " + e.what());
      return 1;
    }
    if (tls_servers[i]->self_signed()) {
      log("warn",
          "WARNING: no certificate configured for the tls listener on port " +
              std::to_string(l.port) +
              "; using a self-signed certificate generated at start. Clients cannot verify it. "
              "Configure listeners[].tls.certificates for production.");
    }
    log("info", "tls port " + std::to_string(l.port) + ": " + tls_servers[i]->describe());
  }

  bool ipv6_available = true;
  {
    asio::io_context probe;
    asio::ip::udp::socket socket(probe);
    boost::system::error_code ec;
    socket.open(asio::ip::udp::v6(), ec);
    if (ec) {
      ipv6_available = false;
      log("warn", "IPv6 is not available on this host (" + ec.message() +
                      "); listeners on :: listen on 0.0.0.0 instead");
    }
  }

  const auto& chain_names = config.policy.chain;
  if (config.policy.enabled &&
      std::find(chain_names.begin(), chain_names.end(), "auth") != chain_names.end()) {
    if (config.policy.auth.mode == policy::AuthSettings::Mode::Core) {
      log("info",
          "authentication left to the core: its refusals of a source's credentials count "
          "towards a ban");
    } else {
      log("info", "digest authentication at the edge: realm " + config.policy.auth.realm + ", " +
                      std::to_string(config.policy.auth.credentials->users()) + " users");
    }
    if (config.policy.auth.mode == policy::AuthSettings::Mode::Edge &&
        !config.policy.auth.nonce_key_configured)
      log("warn",
          "no policy.auth.nonce_key configured: nonces are signed with a random key made at "
          "start; clients re-authenticate after a restart, and replicas cannot share nonces.");
  }
  std::vector<std::unique_ptr<transport::Worker>> workers;
  std::vector<Listening> listening(count);
  for (unsigned w = 0; w < count; ++w) {
    workers.push_back(std::make_unique<transport::Worker>(w, options, shared));
    transport::Worker& worker = *workers.back();
    if (log.enabled(LogLevel::Info) && config.log_rejections_per_second > 0)
      worker.set_reject_log(config.log_rejections_per_second, write_to_stderr);
  }
  // The policy chains: one per worker (its tables are the worker's own), reloaded on SIGHUP.
  PolicyRuntime policies(workers);
  policies.install(config.policy);
  std::atomic<std::uint64_t> reloads_ok{0}, reloads_failed{0};
  std::unique_ptr<capture::LiveCapture> live_capture;
  if (config.capture.enabled) {
    try {
      live_capture = std::make_unique<capture::LiveCapture>(
          config.capture, count, [&log](std::string_view line) { log("warn", line); });
    } catch (const std::exception& e) {
      log("error", std::string("capture: ") + e.what());
      return 1;
    }
    for (unsigned w = 0; w < count; ++w) workers[w]->handler().set_tap(&live_capture->tap(w));
    live_capture->start();
    log("info", "capturing " +
                    std::string(config.capture.what == capture::CaptureSettings::What::All
                                    ? "all messages"
                                    : "rejected messages") +
                    " to " + config.capture.directory);
  }
  for (unsigned w = 0; w < count; ++w) {
    transport::Worker& worker = *workers[w];
    for (std::size_t i = 0; i < config.listeners.size(); ++i) {
      const Listener& l = config.listeners[i];
      auto address = asio::ip::make_address(l.address);
      // "::" means every address; on a host without IPv6 that is every IPv4 address.
      if (address == asio::ip::address_v6::any() && !ipv6_available) {
        address = asio::ip::address_v4::any();
      }
      try {
        if (l.transport == Transport::Udp) {
          listening[w].udp.push_back(std::make_unique<transport::UdpListener>(
              worker, asio::ip::udp::endpoint(address, l.port)));
        } else {
          transport::StreamAcceptor::OnAccept on_accept;
          if (l.transport == Transport::Tcp) {
            on_accept = [&worker](asio::ip::tcp::socket s, transport::ConnectionTicket t) {
              transport::start_tcp_session(std::move(s), worker, std::move(t));
            };
          } else {
            tls::TlsServer* server = tls_servers[i].get();
            on_accept = [&worker, server](asio::ip::tcp::socket s, transport::ConnectionTicket t) {
              server->start_session(std::move(s), worker, std::move(t));
            };
          }
          listening[w].stream.push_back(std::make_unique<transport::StreamAcceptor>(
              worker, asio::ip::tcp::endpoint(address, l.port), std::move(on_accept)));
        }
      } catch (const boost::system::system_error& e) {
        log("error", "cannot listen on " + std::string(to_string(l.transport)) + " [" + l.address +
                         "]:" + std::to_string(l.port) + ": " + e.code().message());
        return 1;
      }
    }
  }
  // The relay: one per worker, each with its own inside socket, so that the core's answers and
  // requests come back to the worker that holds the transaction or the flow.
  std::vector<std::unique_ptr<proxy::Relay>> relays;
  if (!config.core.targets.empty()) {
    std::string inside_ip = config.core.local_address;
    try {
      if (inside_ip.empty())
        inside_ip =
            source_address_toward(config.core.targets.front().ip, config.core.targets.front().port);
    } catch (const boost::system::system_error& e) {
      log("error",
          "no route toward the core " + config.core.targets.front().ip + ": " + e.code().message());
      return 1;
    }
    std::vector<proxy::OwnAddress> outside;
    for (const Listener& l : config.listeners) {
      const auto address = asio::ip::make_address(l.address);
      std::string shown = !l.advertise.empty()       ? l.advertise
                          : address.is_unspecified() ? inside_ip
                                                     : transport::address_text(address);
      outside.push_back({shown, l.port});
    }
    // One key for all workers: a token sealed by one must open on another.
    std::vector<tls::TokenSealer::Key> keys = config.relay.token_keys;
    if (keys.empty()) {
      keys.push_back(tls::TokenSealer::random_key(0));
      log("warn",
          "no relay.token_keys configured: sealing the tokens in Path and Record-Route with a "
          "random key made at start. Registrations and dialogs do not survive a restart, and "
          "several SBC replicas must share a configured key.");
    }
    // Cores over TCP or TLS: each worker also listens on its inside port for the core's
    // connections and opens its own from there (sbc/transport/inside_streams.hpp).
    std::vector<std::string> stream_cores;
    bool any_tls = false;
    for (const proxy::CoreTarget& core : config.core.targets) {
      if (core.protocol != transport::Protocol::Udp) stream_cores.push_back(core.ip);
      any_tls = any_tls || core.protocol == transport::Protocol::Tls;
    }
    transport::TlsConnector tls_connector;
    if (any_tls) {
      try {
        tls_connector = tls::make_tls_connector(config.core.tls);
      } catch (const std::runtime_error& e) {
        log("error", e.what());
        return 1;
      }
      if (!config.core.tls.verify)
        log("warn", "core.tls.verify is false: the core's certificate is not checked");
    }
    for (unsigned w = 0; w < count; ++w) {
      proxy::RelaySettings settings = config.relay;
      settings.token_keys = keys;
      settings.cores = config.core.targets;
      settings.outside_addresses = outside;
      try {
        const std::uint16_t port = config.core.local_port == 0
                                       ? 0
                                       : static_cast<std::uint16_t>(config.core.local_port + w);
        // With any port, the UDP port the kernel picks may be taken for TCP: pick again.
        for (int attempt = 0;; ++attempt) {
          const auto bound = workers[w]->bind_inside({asio::ip::make_address(inside_ip), port});
          settings.inside_ip = transport::address_text(bound.address());
          settings.inside_port = bound.port();
          if (stream_cores.empty()) break;
          try {
            workers[w]->listen_inside_streams({bound.address(), bound.port()}, stream_cores,
                                              tls_connector);
            break;
          } catch (const boost::system::system_error& e) {
            if (port != 0 || attempt == 20 || e.code() != asio::error::address_in_use) throw;
          }
        }
      } catch (const boost::system::system_error& e) {
        log("error", "cannot bind the inside socket on [" + inside_ip +
                         "]:" + std::to_string(config.core.local_port) + ": " + e.code().message());
        return 1;
      }
      for (std::size_t i = 0; i < config.listeners.size(); ++i)
        if (config.listeners[i].transport == Transport::Udp)
          for (auto& u : listening[w].udp)
            if (u->address().local_port == config.listeners[i].port)
              u->set_advertised_ip(outside[i].ip);
      log("info", "worker " + std::to_string(w) + " relays to the core from [" +
                      settings.inside_ip + "]:" + std::to_string(settings.inside_port));
      // The inside UDP socket hears only the UDP cores (forged answers to probes are dropped).
      std::vector<asio::ip::udp::endpoint> udp_cores;
      for (const proxy::CoreTarget& core : config.core.targets)
        if (core.protocol == transport::Protocol::Udp)
          udp_cores.emplace_back(asio::ip::make_address(core.ip), core.port);
      workers[w]->set_inside_peers(udp_cores, !config.core.strict_source_port);
      relays.push_back(std::make_unique<proxy::Relay>(std::move(settings), *workers[w]));
      workers[w]->set_router(relays.back().get());
      policies.attach_relay(w, *relays.back());
    }
    for (const proxy::CoreTarget& core : config.core.targets)
      log("info",
          "core sip:" + (core.ip.find(':') != std::string::npos ? "[" + core.ip + "]" : core.ip) +
              ":" + std::to_string(core.port) +
              (core.protocol == transport::Protocol::Udp
                   ? std::string()
                   : ";transport=" +
                         std::string(core.protocol == transport::Protocol::Tcp ? "tcp" : "tls")));
  } else {
    log("warn",
        "no core configured (core.targets, or run --core sip:IP:PORT): requests are "
        "answered 503");
  }
  for (unsigned w = 0; w < count; ++w) {
    for (auto& u : listening[w].udp) u->start();
    for (auto& s : listening[w].stream) s->start();
    workers[w]->start();
  }
  // Metrics and health, on a thread of their own: a scrape only reads the workers' counters.
  std::atomic<bool> ready{true};
  std::unique_ptr<metrics::HttpServer> metrics_server;
  if (config.metrics.enabled) {
    auto collect = [&]() {
      const Totals t = totals(workers);
      const RelayTotals relay = relay_totals(relays);
      std::vector<metrics::Family> families;
      families.push_back({"sbc_build_info",
                          "Build information; the value is always 1.",
                          metrics::Family::Type::Gauge,
                          {{{{"version", SBC_VERSION},
                             {"compiler", SBC_COMPILER},
                             {"build_type", SBC_BUILD_TYPE},
                             {"flags", SBC_BUILD_FLAGS}},
                            1}}});
      families.push_back(
          gauge("sbc_ready", "1 while the SBC accepts traffic, 0 while draining.", ready ? 1 : 0));
      families.push_back(gauge("sbc_workers", "Worker threads.", static_cast<double>(count)));
      metrics::Family received{"sbc_messages_received_total",
                               "SIP messages received, by transport.",
                               metrics::Family::Type::Counter,
                               {}};
      const char* names[] = {"udp", "tcp", "tls"};
      for (std::size_t i = 0; i < 3; ++i)
        received.samples.push_back({{{"transport", names[i]}}, static_cast<double>(t.received[i])});
      families.push_back(std::move(received));
      metrics::Family sent{"sbc_messages_sent_total",
                           "SIP messages sent to the outside (the edge's answers and relayed "
                           "messages), by transport.",
                           metrics::Family::Type::Counter,
                           {}};
      for (std::size_t i = 0; i < 3; ++i)
        sent.samples.push_back({{{"transport", names[i]}}, static_cast<double>(t.sent[i])});
      families.push_back(std::move(sent));
      metrics::Family requests{"sbc_requests_received_total",
                               "SIP requests received (parsed far enough to tell), by transport "
                               "and method class.",
                               metrics::Family::Type::Counter,
                               {}};
      metrics::Family responses{"sbc_responses_received_total",
                                "SIP responses received from the outside, by transport.",
                                metrics::Family::Type::Counter,
                                {}};
      const char* kinds[] = {"register", "invite", "other"};
      for (std::size_t p = 0; p < 3; ++p) {
        for (std::size_t k = 0; k < 3; ++k)
          requests.samples.push_back({{{"transport", names[p]}, {"method", kinds[k]}},
                                      static_cast<double>(t.received_by_kind[p][k])});
        responses.samples.push_back(
            {{{"transport", names[p]}}, static_cast<double>(t.received_by_kind[p][3])});
      }
      families.push_back(std::move(requests));
      families.push_back(std::move(responses));
      families.push_back({"sbc_connections_active",
                          "Open connections by transport (refreshed every second).",
                          metrics::Family::Type::Gauge,
                          {{{{"transport", "tcp"}}, static_cast<double>(t.tcp_connections)},
                           {{{"transport", "tls"}}, static_cast<double>(t.tls_connections)}}});
      families.push_back({"sbc_core_connections_total",
                          "Connections toward the core (TCP, TLS): opened by the SBC, accepted "
                          "from a core, failed (could not be opened, or broke with messages "
                          "unsent), refused (not from a core address, or over the bound).",
                          metrics::Family::Type::Counter,
                          {{{{"event", "opened"}}, static_cast<double>(t.core_connections[0])},
                           {{{"event", "accepted"}}, static_cast<double>(t.core_connections[1])},
                           {{{"event", "failed"}}, static_cast<double>(t.core_connections[2])},
                           {{{"event", "refused"}}, static_cast<double>(t.core_connections[3])}}});
      families.push_back({"sbc_inside_dropped_total",
                          "Datagrams on the inside UDP socket dropped unread, by reason "
                          "(not_a_core: not from a UDP core's address and port, "
                          "core.strict_source_port).",
                          metrics::Family::Type::Counter,
                          {{{{"reason", "not_a_core"}}, static_cast<double>(t.inside_dropped)}}});
      families.push_back({"sbc_udp_flows_evicted_total",
                          "UDP flows that lost their place to a newer peer: evicted (an "
                          "unverified peer's flow removed) or demoted (a held peer's flow, of a "
                          "registration or dialog, moved to the unverified tier by a newer held "
                          "one; it is not removed).",
                          metrics::Family::Type::Counter,
                          {{{{"event", "evicted"}}, static_cast<double>(t.udp_flows_evicted)},
                           {{{"event", "demoted"}}, static_cast<double>(t.udp_flows_demoted)}}});
      families.push_back({"sbc_flows_active",
                          "Flows the edge can send requests down (refreshed every second): TCP/TLS "
                          "connections and remembered UDP peers.",
                          metrics::Family::Type::Gauge,
                          {{{{"kind", "stream"}}, static_cast<double>(t.stream_flows)},
                           {{{"kind", "udp"}}, static_cast<double>(t.udp_flows)}}});
      metrics::Family answers{"sbc_responses_sent_total",
                              "Responses the edge itself sent, by status class.",
                              metrics::Family::Type::Counter,
                              {}};
      for (std::size_t c = 1; c <= 6; ++c)
        answers.samples.push_back(
            {{{"class", std::to_string(c) + "xx"}}, static_cast<double>(t.answers[c])});
      families.push_back(std::move(answers));
      families.push_back({"sbc_invalid_messages_total",
                          "Messages that failed validation, by what the edge did with them.",
                          metrics::Family::Type::Counter,
                          {{{{"action", "answered"}}, static_cast<double>(t.invalid_answered)},
                           {{{"action", "dropped"}}, static_cast<double>(t.invalid_dropped)}}});
      families.push_back(counter(
          "sbc_amplification_refused_total",
          "UDP answers not sent: larger than their request, to a source that has not shown it "
          "receives our answers, with its budget of extra bytes spent (policy.amplification).",
          static_cast<double>(t.amplification_refused)));
      families.push_back(counter("sbc_options_answered_total",
                                 "OPTIONS addressed to the SBC itself, answered 200.",
                                 static_cast<double>(t.options_answered)));
      families.push_back(counter("sbc_unrouted_requests_total",
                                 "Valid requests answered 503 because no relay is configured.",
                                 static_cast<double>(t.unrouted_answered)));
      families.push_back(
          {"sbc_messages_discarded_total",
           "Valid messages that need no answer, by reason.",
           metrics::Family::Type::Counter,
           {{{{"reason", "ack"}}, static_cast<double>(t.acks_absorbed + relay.stateless_acks)},
            {{{"reason", "response_without_transaction"}},
             static_cast<double>(t.responses_dropped)}}});
      families.push_back(
          {"sbc_tls_handshakes_total",
           "TLS handshakes on the TLS listeners, by result and negotiated version.",
           metrics::Family::Type::Counter,
           {{{{"result", "ok"}, {"version", "TLSv1.2"}}, static_cast<double>(t.tls_ok[0])},
            {{{"result", "ok"}, {"version", "TLSv1.3"}}, static_cast<double>(t.tls_ok[1])},
            {{{"result", "failed"}, {"version", "none"}}, static_cast<double>(t.tls_failed)},
            {{{"result", "timeout"}, {"version", "none"}}, static_cast<double>(t.tls_timed_out)}}});
      add_relay_families(families, relay);
      policies.add_families(families);
      families.push_back({"sbc_config_reloads_total",
                          "Reloads of the policy configuration on SIGHUP, by result (failed: the "
                          "new file was refused and the running policy stayed).",
                          metrics::Family::Type::Counter,
                          {{{{"result", "ok"}}, static_cast<double>(reloads_ok.load())},
                           {{{"result", "failed"}}, static_cast<double>(reloads_failed.load())}}});
      if (live_capture)
        families.push_back(
            {"sbc_capture_packets_total",
             "SIP messages for the pcap capture, by result (dropped: queue full or unwritable).",
             metrics::Family::Type::Counter,
             {{{{"result", "written"}}, static_cast<double>(live_capture->written())},
              {{{"result", "dropped"}}, static_cast<double>(live_capture->dropped())}}});
      if (live_capture) {
        families.push_back(
            counter("sbc_capture_credentials_redacted_total",
                    "Credential values (the Digest response) blanked in captured "
                    "messages before they reach the disk (capture.redact_credentials).",
                    static_cast<double>(live_capture->redacted())));
        families.push_back(
            counter("sbc_capture_files_refused_total",
                    "Capture file names skipped because they existed already (a file "
                    "or symlink this run did not create): never written through.",
                    static_cast<double>(live_capture->refused_files())));
      }
      families.push_back(gauge("sbc_stream_connections_active", "Open TCP and TLS connections.",
                               static_cast<double>(shared.limiter.total())));
      std::array<std::uint64_t, transport::ConnectionLimiter::kRefusals> refused{};
      for (const Listening& l : listening)
        for (const auto& a : l.stream)
          for (std::size_t r = 0; r < refused.size(); ++r)
            refused[r] += a->refused(static_cast<transport::ConnectionLimiter::Refusal>(r));
      families.push_back(
          {"sbc_stream_connections_closed_total",
           "TCP and TLS connections of the outside the SBC closed, by reason: send_queue_full (a "
           "message did not fit the bounded outgoing queue: the peer stopped reading), "
           "write_timeout (queued bytes unread for transport.write_timeout_ms), banned (the "
           "source was banned).",
           metrics::Family::Type::Counter,
           {{{{"reason", "send_queue_full"}}, static_cast<double>(t.stream_closed[0])},
            {{{"reason", "write_timeout"}}, static_cast<double>(t.stream_closed[1])},
            {{{"reason", "banned"}}, static_cast<double>(t.stream_closed[2])}}});
      families.push_back(
          {"sbc_stream_connections_refused_total",
           "TCP and TLS connections refused by the connection limits, by reason: total "
           "(max_connections, or draining), reserved (only the share kept for trusted and "
           "authenticated sources is left), source (max_connections_per_source), network "
           "(max_connections_per_ipv4_24 / _per_ipv6_48).",
           metrics::Family::Type::Counter,
           {{{{"reason", "total"}}, static_cast<double>(refused[0])},
            {{{"reason", "reserved"}}, static_cast<double>(refused[1])},
            {{{"reason", "source"}}, static_cast<double>(refused[2])},
            {{{"reason", "network"}}, static_cast<double>(refused[3])}}});
      families.push_back({"sbc_tls_handshake_duration_seconds",
                          "Time from accepting a TLS connection to its completed handshake.",
                          metrics::Family::Type::Histogram,
                          {{{}, t.tls_handshake_duration}}});
      families.push_back(
          {"sbc_relay_processing_seconds",
           "The SBC's own time for a relayed message, from its arrival to its hand-off toward "
           "the other side, by direction.",
           metrics::Family::Type::Histogram,
           {{{{"direction", "outside_to_core"}}, t.relay_processing[0]},
            {{{"direction", "core_to_outside"}}, t.relay_processing[1]}}});
      metrics::Family expiry{"sbc_tls_certificate_expiry_timestamp_seconds",
                             "Earliest notAfter of the certificates of each TLS listener.",
                             metrics::Family::Type::Gauge,
                             {}};
      for (std::size_t i = 0; i < config.listeners.size(); ++i) {
        if (!tls_servers[i]) continue;
        // The port alone is not unique: two TLS listeners may share it on two addresses.
        const Listener& l = config.listeners[i];
        const std::string address =
            l.address.find(':') != std::string::npos ? "[" + l.address + "]" : l.address;
        expiry.samples.push_back({{{"listener", address + ":" + std::to_string(l.port)},
                                   {"port", std::to_string(l.port)}},
                                  tls_servers[i]->earliest_expiry()});
      }
      families.push_back(std::move(expiry));
      return families;
    };
    try {
      metrics_server = std::make_unique<metrics::HttpServer>(
          config.metrics.address, config.metrics.port, collect, [&ready, &relays] {
            // Ready: serving, and with a relay, at least one core reachable.
            if (!ready.load()) return false;
            if (relays.empty()) return true;
            for (const auto& r : relays)
              for (std::size_t i = 0; i < r->cores().size(); ++i)
                if (r->cores().stats(i).up.load(std::memory_order_relaxed)) return true;
            return false;
          });
    } catch (const std::exception& e) {
      log("error", "cannot serve metrics on [" + config.metrics.address +
                       "]:" + std::to_string(config.metrics.port) + ": " + e.what());
      for (auto& w : workers) w->stop();
      return 1;
    }
    metrics_server->start();
    log("info", "metrics on http://[" + config.metrics.address +
                    "]:" + std::to_string(config.metrics.port) + "/metrics (/healthz, /readyz)");
  }
  for (const Listener& l : config.listeners)
    log("info", "listening on " + std::string(to_string(l.transport)) + " [" + l.address +
                    "]:" + std::to_string(l.port));
  log(LogLevel::Info, "sbc started",
      {{"version", SBC_VERSION}, {"workers", std::to_string(count)}});

  // The main thread only handles signals and the certificate file watch.
  asio::io_context control;
  asio::signal_set signals(control, SIGINT, SIGTERM, SIGHUP);
  asio::steady_timer poll(control);
  bool stopping = false;

  auto reload_certificates = [&](std::string_view why) {
    for (auto& server : tls_servers) {
      if (!server) continue;
      const auto result = server->reload();
      log(result.ok ? "info" : "error", std::string(why) + ": " + result.message);
    }
  };
  std::function<void()> schedule_poll = [&] {
    if (config.certificate_poll.count() == 0) return;
    poll.expires_after(config.certificate_poll);
    poll.async_wait([&](boost::system::error_code ec) {
      if (ec || stopping) return;
      for (auto& server : tls_servers) {
        if (server && server->files_changed()) {
          reload_certificates("certificate files changed");
          break;
        }
      }
      schedule_poll();
    });
  };
  schedule_poll();

  // The policy section (and the credentials file it names) reloads on SIGHUP; the rest of the
  // configuration needs a restart. A file that does not validate changes nothing.
  auto reload_policy = [&] {
    const std::string source = config_path ? *config_path : std::string("<embedded default>");
    try {
      const Config fresh = config_path ? load_config_file(*config_path)
                                       : parse_config(default_config_text(), "<default>");
      policy::PolicyConfig next = fresh.policy;
      // Without a configured nonce key, keep the one made at start (one per process).
      if (!next.auth.nonce_key_configured) next.auth.nonce_key = policies.config().auth.nonce_key;
      if (!policies.reload(
              next, [&control](std::function<void()> f) { asio::post(control, std::move(f)); })) {
        ++reloads_failed;
        log("warn", "SIGHUP: the previous policy reload is still being handed over; try again");
        return;
      }
      ++reloads_ok;
      std::string chain;
      for (const std::string& name : next.chain) chain += (chain.empty() ? "" : ",") + name;
      log(LogLevel::Info, "policy reloaded",
          {{"file", source},
           {"enabled", next.enabled ? "true" : "false"},
           {"chain", chain},
           {"users", std::to_string(next.auth.credentials ? next.auth.credentials->users() : 0)},
           {"note", "only the policy section reloads; other changes need a restart"}});
    } catch (const ConfigError& e) {
      ++reloads_failed;
      log("error",
          std::string("SIGHUP: policy reload refused, the running policy stays: ") + e.what());
    }
  };

  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload_certificates("SIGHUP");
        reload_policy();
        wait_signal();
        return;
      }
      // Drain: stop accepting and reading new datagrams, let connections finish what they
      // have in hand for the grace period, then stop.
      stopping = true;
      poll.cancel();
      log("info", std::string("received ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                      ", draining for " + std::to_string(config.shutdown_grace.count()) + " ms");
      shared.draining = true;
      ready = false;
      for (unsigned w = 0; w < count; ++w) {
        workers[w]->post([&listening, w] {
          for (auto& s : listening[w].stream) s->close();
          for (auto& u : listening[w].udp) u->close();
        });
      }
      auto grace = std::make_shared<asio::steady_timer>(control, config.shutdown_grace);
      grace->async_wait([grace, &control](boost::system::error_code) { control.stop(); });
    });
  };
  wait_signal();
  control.run();

  if (metrics_server) metrics_server->stop();
  for (auto& w : workers) w->stop();
  if (live_capture) live_capture->stop();
  const Totals t = totals(workers);
  log(LogLevel::Info, "stopped",
      {{"received", std::to_string(t.total_received())},
       {"invalid_answered", std::to_string(t.invalid_answered)},
       {"invalid_dropped", std::to_string(t.invalid_dropped)},
       {"options_answered", std::to_string(t.options_answered)},
       {"unrouted_answered", std::to_string(t.unrouted_answered)}});
  return 0;
}

}  // namespace sbc::app
