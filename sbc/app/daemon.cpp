#include "sbc/app/daemon.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/resource.h>

#include <csignal>
#include <functional>
#include <memory>

#include "sbc/app/admin_commands.hpp"
#include "sbc/app/admin_http.hpp"
#include "sbc/app/admin_server.hpp"
#include "sbc/app/server.hpp"
#include "sbc/common/log.hpp"

// run_daemon: the process around the Server. The main thread only handles signals (SIGHUP:
// reload; SIGINT, SIGTERM: drain, then stop), the certificate file watch and the admin API
// (`sbc ctl`).

namespace sbc::app {
namespace {

namespace asio = boost::asio;
using logging::Log;
using logging::LogLevel;

void prepare_process() {
  // BoringSSL writes to sockets with write(2): a peer that went away must give EPIPE, not kill us.
  std::signal(SIGPIPE, SIG_IGN);
  // Every connection is a descriptor: take the hard limit rather than the usual soft 1024.
  rlimit files{};
  if (getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    setrlimit(RLIMIT_NOFILE, &files);
  }
}

class Control {
 public:
  Control(const Config& config, const std::optional<std::string>& config_path, Server& server,
          Log& log)
      : config_(config), config_path_(config_path), server_(server), log_(log) {}

  // Runs until a drain has ended.
  void run() {
    schedule_poll();
    wait_signal();
    admin_context_ = std::make_unique<AdminContext>(AdminContext{
        server_, config_path_, [this](std::function<void()> f) { asio::post(io_, std::move(f)); },
        [this] {
          server_.reload_certificates("sbc ctl reload");
          return reload("sbc ctl reload");
        }});
    admin_context_->running_text = config_.text;
    admin_ = std::make_unique<AdminServer>(
        io_, config_.admin,
        [this](const boost::json::object& request, AdminServer::Reply reply) {
          answer_admin(*admin_context_, request, std::move(reply));
        },
        log_, &server_.admin_counters());
    admin_->start();
    admin_http_ = std::make_unique<AdminHttpServer>(
        io_, config_.admin.http,
        [this](const boost::json::object& request, AdminServer::Reply reply) {
          answer_admin(*admin_context_, request, std::move(reply));
        },
        server_.admin_counters(), log_);
    admin_http_->start();
    io_.run();
  }

 private:
  void schedule_poll() {
    if (config_.certificate_poll.count() == 0) return;
    poll_.expires_after(config_.certificate_poll);
    poll_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopping_) return;
      if (server_.certificate_files_changed())
        server_.reload_certificates("certificate files changed");
      schedule_poll();
    });
  }

  void wait_signal() {
    signals_.async_wait([this](boost::system::error_code ec, int signal) {
      if (ec) return;
      if (signal == SIGHUP) {
        server_.reload_certificates("SIGHUP");
        reload("SIGHUP");
        wait_signal();
        return;
      }
      drain(signal);
    });
  }

  // A reload (SIGHUP, sbc ctl reload): the file again, and what of it can change while calls
  // run (Server::reload). A file that does not validate changes nothing. Whether it applied, and
  // what it did.
  std::pair<bool, std::string> reload(const std::string& why) {
    const std::string source = config_path_ ? *config_path_ : std::string("<embedded default>");
    Server::ReloadReport report;
    std::string fresh_text;
    try {
      const Config fresh = config_path_ ? load_config_file(*config_path_)
                                        : parse_config(default_config_text(), "<default>");
      fresh_text = fresh.text;
      report =
          server_.reload(fresh, [this](std::function<void()> f) { asio::post(io_, std::move(f)); });
    } catch (const ConfigError& e) {
      report.error = e.what();
    }
    server_.count_reload(report.error.empty());
    if (!report.error.empty()) {
      const std::string refused =
          why + ": reload refused, the running configuration stays: " + report.error;
      log_("error", refused);
      return {false, refused};
    }
    auto joined = [](const std::vector<std::string>& parts) {
      std::string text;
      for (const std::string& part : parts) text.append(text.empty() ? "" : "; ").append(part);
      return text;
    };
    if (admin_context_) admin_context_->running_text = fresh_text;
    const std::string applied = joined(report.applied), restart = joined(report.restart);
    log_(LogLevel::Info, "configuration reloaded",
         {{"file", source}, {"applied", applied}, {"needs_restart", restart}});
    if (!report.restart.empty())
      log_("warn", why + ": left as they run until a restart: " + restart);
    std::string message = "reloaded from " + source + ": " + applied;
    if (!report.restart.empty()) message.append("\nneeds a restart: ").append(restart);
    return {true, message};
  }

  // Drain (Server::begin_drain): not ready, no new connection, new requests refused 503 while
  // running transactions and dialogs go on, over UDP too, for the grace period; then stop.
  void drain(int signal) {
    stopping_ = true;
    poll_.cancel();
    log_("info", std::string("received ") + (signal == SIGINT ? "SIGINT" : "SIGTERM") +
                     ", draining for " + std::to_string(config_.shutdown_grace.count()) + " ms");
    server_.begin_drain();
    grace_.expires_after(config_.shutdown_grace);
    grace_.async_wait([this](boost::system::error_code) { io_.stop(); });
  }

  const Config& config_;
  const std::optional<std::string>& config_path_;
  Server& server_;
  Log& log_;
  std::unique_ptr<AdminContext> admin_context_;
  asio::io_context io_;
  // After io_: closed before it goes (its sessions hold no reference to it when they end).
  std::unique_ptr<AdminServer> admin_;
  std::unique_ptr<AdminHttpServer> admin_http_;
  asio::signal_set signals_{io_, SIGINT, SIGTERM, SIGHUP};
  asio::steady_timer poll_{io_};
  asio::steady_timer grace_{io_};
  bool stopping_ = false;
};

}  // namespace

int run_daemon(const Config& config, std::ostream& out,
               const std::optional<std::string>& config_path) {
  Log log(out, config.log_level);
  prepare_process();
  Server server(config, log);
  if (!server.start()) return 1;
  // Signals are handled from here on: before, the default action (stop) is right.
  Control control(config, config_path, server, log);
  control.run();
  server.stop();
  return 0;
}

}  // namespace sbc::app
