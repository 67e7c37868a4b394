#include "metrics/exposition.hpp"

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <limits>
#include <thread>

namespace sbc::metrics {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

}  // namespace

std::string render_text(const std::vector<Family>& families) {
  std::vector<prometheus::MetricFamily> out;
  out.reserve(families.size());
  for (const Family& f : families) {
    prometheus::MetricFamily family;
    family.name = f.name;
    family.help = f.help;
    switch (f.type) {
      case Family::Type::Counter:
        family.type = prometheus::MetricType::Counter;
        break;
      case Family::Type::Gauge:
        family.type = prometheus::MetricType::Gauge;
        break;
      case Family::Type::Histogram:
        family.type = prometheus::MetricType::Histogram;
        break;
    }
    for (const Sample& s : f.samples) {
      prometheus::ClientMetric metric;
      for (const auto& [name, value] : s.labels) metric.label.push_back({name, value});
      if (f.type == Family::Type::Counter) {
        metric.counter.value = s.value;
      } else if (f.type == Family::Type::Gauge) {
        metric.gauge.value = s.value;
      } else {
        const HistogramSnapshot& h = s.histogram;
        metric.histogram.sample_count = h.count;
        metric.histogram.sample_sum = h.sum;
        for (std::size_t i = 0; i < h.upper_bounds.size() && i < h.cumulative.size(); ++i)
          metric.histogram.bucket.push_back({h.cumulative[i], h.upper_bounds[i]});
        // prometheus-cpp writes the buckets it is given; +Inf is the count.
        metric.histogram.bucket.push_back({h.count, std::numeric_limits<double>::infinity()});
      }
      family.metric.push_back(std::move(metric));
    }
    out.push_back(std::move(family));
  }
  return prometheus::TextSerializer().Serialize(out);
}

// One HTTP/1.1 exchange per connection, with a deadline: scrapes and probes are short.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const HttpServer::Collect& collect, const HttpServer::Ready& ready)
      : stream_(std::move(socket)), collect_(collect), ready_(ready) {}

  void start() {
    stream_.expires_after(std::chrono::seconds(10));
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (!ec) self->respond();
                     });
  }

 private:
  void respond() {
    response_.version(request_.version());
    response_.keep_alive(false);
    response_.set(http::field::server, "sbc");
    const auto target = request_.target();
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      response_.result(http::status::method_not_allowed);
      response_.body() = "method not allowed\n";
    } else if (target == "/metrics") {
      response_.result(http::status::ok);
      response_.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
      response_.body() = render_text(collect_());
    } else if (target == "/healthz") {
      response_.result(http::status::ok);
      response_.body() = "ok\n";
    } else if (target == "/readyz") {
      const bool ready = ready_();
      response_.result(ready ? http::status::ok : http::status::service_unavailable);
      response_.body() = ready ? "ready\n" : "not ready\n";
    } else {
      response_.result(http::status::not_found);
      response_.body() = "not found\n";
    }
    if (response_.find(http::field::content_type) == response_.end())
      response_.set(http::field::content_type, "text/plain; charset=utf-8");
    response_.prepare_payload();
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code, std::size_t) {
                        beast::error_code ignored;
                        self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                      });
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  http::request<http::empty_body> request_;
  http::response<http::string_body> response_;
  const HttpServer::Collect& collect_;
  const HttpServer::Ready& ready_;
};

struct HttpServer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  Collect collect;
  Ready ready;
  std::thread thread;

  void accept() {
    acceptor.async_accept(io, [this](beast::error_code ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) std::make_shared<Session>(std::move(socket), collect, ready)->start();
      accept();
    });
  }
};

HttpServer::HttpServer(const std::string& address, std::uint16_t port, Collect collect, Ready ready)
    : impl_(std::make_unique<Impl>()) {
  impl_->collect = std::move(collect);
  impl_->ready = std::move(ready);
  const tcp::endpoint endpoint(asio::ip::make_address(address), port);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
}

HttpServer::~HttpServer() {
  try {
    stop();
  } catch (...) {
    // Nothing sensible to do while shutting down: the process is exiting anyway.
  }
}

void HttpServer::start() {
  impl_->accept();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

void HttpServer::stop() {
  if (!impl_) return;
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->io.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

std::uint16_t HttpServer::port() const {
  return impl_->acceptor.local_endpoint().port();
}

}  // namespace sbc::metrics
