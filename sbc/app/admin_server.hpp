#pragma once
// The admin API (issue 17): a Unix stream socket on the control thread, never on the metrics
// port. One request per connection: a JSON object on one line ({"command": "bans"}), answered by
// one JSON object, then the connection closes. Who may connect is the socket file's mode
// (admin.mode, 0600 by default: the SBC's own user). Every connection has a deadline and a
// bounded request; `sbc ctl` (ctl.cpp) is the client.

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/json/object.hpp>

#include <functional>
#include <memory>
#include <string>

#include "sbc/app/admin_counters.hpp"
#include "sbc/app/config.hpp"
#include "sbc/common/log.hpp"

namespace sbc::app {

class AdminServer {
 public:
  // Sends the reply to one request (once, on the control thread).
  using Reply = std::function<void(boost::json::object reply)>;
  // Answers `request` by calling `reply`, now or later (after asking the workers).
  using Handler = std::function<void(const boost::json::object& request, Reply reply)>;

  // `counters`, when given, counts every request (sbc_admin_requests_total{interface="unix"}).
  AdminServer(boost::asio::io_context& io, const AdminSettings& settings, Handler handler,
              logging::Log& log, AdminCounters* counters = nullptr);
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds the socket (a stale file of a dead SBC is replaced; a live one is left alone). False
  // when it cannot: logged, and the SBC runs without an admin API.
  bool start();
  void stop();

 private:
  class Session;
  void accept();

  boost::asio::io_context& io_;
  AdminSettings settings_;
  Handler handler_;
  logging::Log& log_;
  AdminCounters* counters_;
  std::unique_ptr<boost::asio::local::stream_protocol::acceptor> acceptor_;
  bool bound_ = false;
  // Connections in progress (shared with them: a session may end after the server).
  std::shared_ptr<unsigned> open_ = std::make_shared<unsigned>(0);
};

}  // namespace sbc::app
