#include "sbc/app/admin_server.hpp"

#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace sbc::app {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {
constexpr std::size_t kMaxRequestBytes = 4096;
constexpr auto kDeadline = std::chrono::seconds(5);
constexpr unsigned kMaxOpen = 16;
}  // namespace

class AdminServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(AdminServer& owner, local::socket socket)
      : owner_(owner),
        open_(owner.open_),
        socket_(std::move(socket)),
        timer_(owner.io_),
        request_(kMaxRequestBytes) {}

  void start() {
    ++*open_;
    timer_.expires_after(kDeadline);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->socket_.close();  // too slow: the read or write in progress fails
    });
    asio::async_read_until(socket_, request_, '\n',
                           [self = shared_from_this()](boost::system::error_code ec,
                                                       std::size_t n) { self->handle(ec, n); });
  }
  ~Session() { --*open_; }

 private:
  void handle(boost::system::error_code ec, std::size_t n) {
    if (ec) return finish({{"ok", false}, {"error", "no request line (at most 4096 bytes)"}});
    std::string line(asio::buffers_begin(request_.data()),
                     asio::buffers_begin(request_.data()) + static_cast<std::ptrdiff_t>(n));
    boost::system::error_code parse_error;
    const boost::json::value request = boost::json::parse(line, parse_error);
    if (parse_error || !request.is_object() || !request.as_object().contains("command"))
      return finish({{"ok", false}, {"error", "a request is a JSON object with a \"command\""}});
    // The reply may come from a worker after the deadline, or never (shutdown): it holds the
    // session weakly, the deadline's timer strongly.
    owner_.handler_(request.as_object(),
                    [weak = weak_from_this()](const boost::json::object& reply) {
                      if (auto self = weak.lock()) self->finish(reply);
                    });
  }

  void finish(const boost::json::object& reply) {
    if (!socket_.is_open()) return;
    if (owner_.counters_ != nullptr) {
      const bool ok = reply.contains("ok") && reply.at("ok").is_bool() && reply.at("ok").as_bool();
      owner_.counters_->count(AdminCounters::Unix, ok ? AdminCounters::Ok : AdminCounters::Error);
    }
    reply_ = boost::json::serialize(reply) + "\n";
    asio::async_write(socket_, asio::buffer(reply_),
                      [self = shared_from_this()](boost::system::error_code, std::size_t) {
                        boost::system::error_code ignored;
                        self->socket_.shutdown(local::socket::shutdown_both, ignored);
                        self->socket_.close(ignored);
                        self->timer_.cancel();
                      });
  }

  AdminServer& owner_;  // used only while the control thread runs it
  std::shared_ptr<unsigned> open_;
  local::socket socket_;
  asio::steady_timer timer_;
  asio::streambuf request_;
  std::string reply_;
};

AdminServer::AdminServer(asio::io_context& io, const AdminSettings& settings, Handler handler,
                         logging::Log& log, AdminCounters* counters)
    : io_(io), settings_(settings), handler_(std::move(handler)), log_(log), counters_(counters) {}

AdminServer::~AdminServer() {
  stop();
}

bool AdminServer::start() {
  const std::string& path = settings_.socket;
  if (path.empty()) return true;  // no admin API
  auto refuse = [&](const std::string& why) {
    log_("warn", "no admin socket at " + path + ": " + why + " (sbc ctl will not reach this SBC)");
    return false;
  };
  std::error_code fs_error;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), fs_error);
  if (fs_error) return refuse(fs_error.message());
  // A socket file left by an SBC that died is replaced; one a running SBC answers on is not.
  if (std::filesystem::exists(path, fs_error)) {
    local::socket probe(io_);
    boost::system::error_code ec;
    probe.connect(local::endpoint(path), ec);
    if (!ec) return refuse("another SBC serves it");
    ::unlink(path.c_str());
  }
  acceptor_ = std::make_unique<local::acceptor>(io_);
  boost::system::error_code ec;
  acceptor_->open(local(), ec);
  // Bound with no permission for anyone, then opened to admin.mode: no window where others may
  // connect.
  const mode_t old_mask = ::umask(0777);
  if (!ec) acceptor_->bind(local::endpoint(path), ec);
  ::umask(old_mask);
  if (!ec && ::chmod(path.c_str(), settings_.mode) != 0)
    ec.assign(errno, boost::system::system_category());
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.reset();
    return refuse(ec.message());
  }
  bound_ = true;
  char mode[8];
  std::snprintf(mode, sizeof mode, "%04o", settings_.mode);
  log_(logging::LogLevel::Info, "admin socket", {{"path", path}, {"mode", mode}});
  accept();
  return true;
}

void AdminServer::stop() {
  if (acceptor_) {
    boost::system::error_code ignored;
    acceptor_->close(ignored);
    acceptor_.reset();
  }
  if (bound_) {
    ::unlink(settings_.socket.c_str());
    bound_ = false;
  }
}

void AdminServer::accept() {
  acceptor_->async_accept([this](boost::system::error_code ec, local::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_) return;
    if (!ec && *open_ < kMaxOpen) std::make_shared<Session>(*this, std::move(socket))->start();
    accept();
  });
}

}  // namespace sbc::app
