#include "sbc/app/admin_http.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <string>
#include <string_view>

#include "sbc/common/address.hpp"
#include "sbc/crypto/digest.hpp"

namespace sbc::app {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using tcp = asio::ip::tcp;

namespace {
constexpr std::size_t kMaxBodyBytes = 4096;
constexpr std::uint32_t kMaxHeaderBytes = 8192;
constexpr auto kDeadline = std::chrono::seconds(5);
constexpr unsigned kMaxOpen = 16;
constexpr std::string_view kBearer = "Bearer ";
}  // namespace

class AdminHttpServer::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(AdminHttpServer& owner, tcp::socket socket)
      : owner_(owner), open_(owner.open_), socket_(std::move(socket)), timer_(owner.io_) {
    parser_.body_limit(kMaxBodyBytes);
    parser_.header_limit(kMaxHeaderBytes);
  }
  ~Session() { --*open_; }

  void start() {
    ++*open_;
    timer_.expires_after(kDeadline);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->socket_.close();  // too slow: the read or write in progress fails
    });
    http::async_read(
        socket_, buffer_, parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->handle(ec); });
  }

 private:
  void handle(beast::error_code ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit)
      return finish(http::status::payload_too_large,
                    {{"ok", false}, {"error", "request too large (at most 4096 bytes of body)"}},
                    AdminCounters::Error);
    if (ec) return close();
    const auto& request = parser_.get();
    // The token first: nothing about the API is told to whoever does not have it.
    if (!authorized(request[http::field::authorization]))
      return finish(http::status::unauthorized, {{"ok", false}, {"error", "unauthorized"}},
                    AdminCounters::Unauthorized);
    if (request.method() != http::verb::post)
      return finish(http::status::method_not_allowed,
                    {{"ok", false}, {"error", "POST /v1/COMMAND or /v1/admin"}},
                    AdminCounters::Error);
    const std::string_view target = request.target();
    if (!target.starts_with("/v1/") || target.size() == 4 ||
        target.find_first_of("/?", 4) != std::string_view::npos)
      return finish(http::status::not_found,
                    {{"ok", false}, {"error", "POST /v1/COMMAND or /v1/admin"}},
                    AdminCounters::Error);
    json::object fields;
    if (!request.body().empty()) {
      boost::system::error_code parse_error;
      json::value body = json::parse(request.body(), parse_error);
      if (parse_error || !body.is_object())
        return finish(http::status::bad_request,
                      {{"ok", false}, {"error", "the body is a JSON object"}},
                      AdminCounters::Error);
      fields = std::move(body.as_object());
    }
    const std::string_view command = target.substr(4);
    if (command != "admin") fields["command"] = command;
    if (!fields.contains("command"))
      return finish(http::status::bad_request,
                    {{"ok", false}, {"error", "a request is a JSON object with a \"command\""}},
                    AdminCounters::Error);
    // The reply may come from a worker after the deadline, or never (shutdown): it holds the
    // session weakly, the deadline's timer strongly.
    owner_.handler_(fields, [weak = weak_from_this()](const json::object& reply) {
      if (auto self = weak.lock()) {
        const bool ok =
            reply.contains("ok") && reply.at("ok").is_bool() && reply.at("ok").as_bool();
        self->finish(ok ? http::status::ok : http::status::bad_request, reply,
                     ok ? AdminCounters::Ok : AdminCounters::Error);
      }
    });
  }

  bool authorized(std::string_view header) const {
    if (!header.starts_with(kBearer)) return false;
    return sbc::crypto::constant_time_equal(header.substr(kBearer.size()), owner_.settings_.token);
  }

  void finish(http::status status, const json::object& reply, AdminCounters::Result result) {
    if (!socket_.is_open()) return;
    owner_.counters_.count(AdminCounters::Http, result);
    response_.result(status);
    response_.version(11);
    response_.keep_alive(false);
    response_.set(http::field::server, "sbc");
    response_.set(http::field::content_type, "application/json");
    response_.set(http::field::cache_control, "no-store");
    if (status == http::status::unauthorized)
      response_.set(http::field::www_authenticate, "Bearer realm=\"sbc admin\"");
    response_.body() = json::serialize(reply) + "\n";
    response_.prepare_payload();
    http::async_write(
        socket_, response_,
        [self = shared_from_this()](beast::error_code, std::size_t) { self->close(); });
  }

  void close() {
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
  }

  AdminHttpServer& owner_;  // used only while the control thread runs it
  std::shared_ptr<unsigned> open_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  beast::flat_buffer buffer_{kMaxHeaderBytes + kMaxBodyBytes};
  http::request_parser<http::string_body> parser_;
  http::response<http::string_body> response_;
};

AdminHttpServer::AdminHttpServer(asio::io_context& io, const AdminSettings::Http& settings,
                                 AdminServer::Handler handler, AdminCounters& counters,
                                 logging::Log& log)
    : io_(io), settings_(settings), handler_(std::move(handler)), counters_(counters), log_(log) {}

AdminHttpServer::~AdminHttpServer() {
  stop();
}

bool AdminHttpServer::start() {
  if (settings_.address.empty()) return true;  // no HTTP admin
  const std::string where = host_for_uri(settings_.address) + ":" + std::to_string(settings_.port);
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(settings_.address, ec);
  acceptor_ = std::make_unique<tcp::acceptor>(io_);
  const tcp::endpoint endpoint(address, settings_.port);
  if (!ec) acceptor_->open(endpoint.protocol(), ec);
  if (!ec) acceptor_->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_->bind(endpoint, ec);
  if (!ec) acceptor_->listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    acceptor_.reset();
    log_("error", "no HTTP admin on " + where + ": " + ec.message());
    return false;
  }
  log_(logging::LogLevel::Info, "admin http",
       {{"url", "http://" + where + "/v1/"}, {"token_file", settings_.token_file}});
  accept();
  return true;
}

void AdminHttpServer::stop() {
  if (!acceptor_) return;
  boost::system::error_code ignored;
  acceptor_->close(ignored);
  acceptor_.reset();
}

void AdminHttpServer::accept() {
  acceptor_->async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_) return;
    if (!ec && *open_ < kMaxOpen) std::make_shared<Session>(*this, std::move(socket))->start();
    accept();
  });
}

}  // namespace sbc::app
