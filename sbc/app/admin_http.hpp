#pragma once
// The admin API over HTTP (admin.http), for tools that cannot reach the Unix socket: on the
// control thread, never on the metrics port. Every request needs `Authorization: Bearer TOKEN`
// (the first line of admin.http.token_file, compared in constant time); without it, or with
// another token: 401 with `WWW-Authenticate: Bearer`, counted in
// sbc_admin_requests_total{interface="http",result="unauthorized"}. The token is never logged.
//
//   POST /v1/COMMAND   body: nothing, or a JSON object of the command's fields ({"source": ...})
//   POST /v1/admin     body: the JSON request of the Unix socket ({"command": "bans", ...})
//
// The reply is the Unix socket's JSON: 200 when "ok" is true, 400 otherwise. One request per
// connection, a deadline, a bounded request and a cap on open connections, as on the socket.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <memory>

#include "sbc/app/admin_counters.hpp"
#include "sbc/app/admin_server.hpp"
#include "sbc/app/config.hpp"
#include "sbc/common/log.hpp"

namespace sbc::app {

class AdminHttpServer {
 public:
  AdminHttpServer(boost::asio::io_context& io, const AdminSettings::Http& settings,
                  AdminServer::Handler handler, AdminCounters& counters, logging::Log& log);
  ~AdminHttpServer();
  AdminHttpServer(const AdminHttpServer&) = delete;
  AdminHttpServer& operator=(const AdminHttpServer&) = delete;

  // Listens (nothing when admin.http is absent). False when it cannot: logged, and the SBC runs
  // without the HTTP admin.
  bool start();
  void stop();

 private:
  class Session;
  void accept();

  boost::asio::io_context& io_;
  AdminSettings::Http settings_;
  AdminServer::Handler handler_;
  AdminCounters& counters_;
  logging::Log& log_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::shared_ptr<unsigned> open_ = std::make_shared<unsigned>(0);
};

}  // namespace sbc::app
