#include "sbc/app/daemon.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/resource.h>

#include <chrono>
#include <csignal>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include "sbc/transport/stream_session.hpp"
#include "sbc/transport/worker.hpp"
#include "tls/tls_server.hpp"

namespace sbc::app {
namespace {

namespace asio = boost::asio;

class Log {
 public:
  explicit Log(std::ostream& out) : out_(out) {}
  void operator()(std::string_view level, std::string_view message) {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    out_ << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ") << " level=" << level << " msg=\"" << message
         << "\"" << std::endl;
  }

 private:
  std::ostream& out_;
};

struct Listening {
  std::vector<std::unique_ptr<transport::UdpListener>> udp;
  std::vector<std::unique_ptr<transport::StreamAcceptor>> stream;
};

}  // namespace

int run_daemon(const Config& config, std::ostream& out) {
  Log log(out);
  // BoringSSL writes to sockets with write(2): a peer that went away must give EPIPE, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  // Every connection is a descriptor: take the hard limit rather than the usual soft 1024.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
  transport::Shared shared(config.stream_limits);
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

  std::vector<std::unique_ptr<transport::Worker>> workers;
  std::vector<Listening> listening(count);
  for (unsigned w = 0; w < count; ++w) {
    workers.push_back(std::make_unique<transport::Worker>(w, options, shared));
    transport::Worker& worker = *workers.back();
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
  for (unsigned w = 0; w < count; ++w) {
    for (auto& u : listening[w].udp) u->start();
    for (auto& s : listening[w].stream) s->start();
    workers[w]->start();
  }
  for (const Listener& l : config.listeners)
    log("info", "listening on " + std::string(to_string(l.transport)) + " [" + l.address +
                    "]:" + std::to_string(l.port));
  log("info", "sbc started with " + std::to_string(count) + " workers");

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

  std::function<void()> wait_signal = [&] {
    signals.async_wait([&](boost::system::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        reload_certificates("SIGHUP");
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

  for (auto& w : workers) w->stop();
  transport::EdgeStats total;
  for (auto& w : workers) {
    const auto& s = w->handler().stats();
    total.received += s.received;
    total.invalid_answered += s.invalid_answered;
    total.invalid_dropped += s.invalid_dropped;
    total.options_answered += s.options_answered;
    total.unrouted_answered += s.unrouted_answered;
  }
  log("info", "stopped: received=" + std::to_string(total.received) +
                  " invalid_answered=" + std::to_string(total.invalid_answered) +
                  " invalid_dropped=" + std::to_string(total.invalid_dropped) +
                  " options_answered=" + std::to_string(total.options_answered) +
                  " unrouted_answered=" + std::to_string(total.unrouted_answered));
  return 0;
}

}  // namespace sbc::app
