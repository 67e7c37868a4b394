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
          return reload_policy("sbc ctl reload");
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
        reload_policy("SIGHUP");
        wait_signal();
        return;
      }
      drain(signal);
    });
  }

  // The policy section (and the credentials file it names) reloads on SIGHUP; the rest of the
  // configuration needs a restart. A file that does not validate changes nothing. Whether it
  // applied, and why not.
  std::pair<bool, std::string> reload_policy(const std::string& why) {
    const std::string source = config_path_ ? *config_path_ : std::string("<embedded default>");
    PolicyRuntime& policies = server_.policies();
    try {
      const Config fresh = config_path_ ? load_config_file(*config_path_)
                                        : parse_config(default_config_text(), "<default>");
      policy::PolicyConfig next = fresh.policy;
      // Without a configured nonce key, keep the one made at start (one per process).
      if (!next.auth.nonce_key_configured) next.auth.nonce_key = policies.config().auth.nonce_key;
      if (!policies.reload(next,
                           [this](std::function<void()> f) { asio::post(io_, std::move(f)); })) {
        server_.count_reload(false);
        const std::string busy =
            why + ": the previous policy reload is still being handed over; try again";
        log_("warn", busy);
        return {false, busy};
      }
      server_.count_reload(true);
      if (admin_context_) admin_context_->running_text = fresh.text;
      std::string chain;
      for (const std::string& name : next.chain) chain += (chain.empty() ? "" : ",") + name;
      log_(LogLevel::Info, "policy reloaded",
           {{"file", source},
            {"enabled", next.enabled ? "true" : "false"},
            {"chain", chain},
            {"users", std::to_string(next.auth.credentials ? next.auth.credentials->users() : 0)},
            {"note", "only the policy section reloads; other changes need a restart"}});
      return {true, "policy reloaded from " + source + " (chain " + chain +
                        "); only the policy section reloads, other changes need a restart"};
    } catch (const ConfigError& e) {
      server_.count_reload(false);
      const std::string refused =
          why + ": policy reload refused, the running policy stays: " + e.what();
      log_("error", refused);
      return {false, refused};
    }
  }

  // Drain: stop accepting and reading new datagrams, let connections finish what they have in
  // hand for the grace period, then stop.
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
