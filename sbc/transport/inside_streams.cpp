#include "sbc/transport/inside_streams.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <deque>

#include "sbc/transport/stream_framer.hpp"
#include "sbc/transport/stream_session.hpp"
#include "sbc/transport/worker.hpp"

namespace sbc::transport {
namespace {

using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

}  // namespace

class InsideConnection : public std::enable_shared_from_this<InsideConnection> {
 public:
  InsideConnection(InsideStreams& owner, Protocol protocol, std::string ip, std::uint16_t port)
      : owner_(owner),
        protocol_(protocol),
        ip_(std::move(ip)),
        port_(port),
        socket_(owner.worker_.io()),
        timer_(owner.worker_.io()),
        framer_(owner.worker_.handler_limits().max_message_bytes) {}

  bool is(Protocol protocol, std::string_view ip, std::uint16_t port) const noexcept {
    return protocol == protocol_ && port == port_ && ip == ip_;
  }

  // Opens the connection from our inside address (falling back to any port when that one cannot
  // be used, e.g. while an earlier connection to the same core lingers in TIME_WAIT).
  void open(const asio::ip::tcp::endpoint& local, const asio::ip::tcp::endpoint& remote,
            bool bind_local = true) {
    boost::system::error_code ec;
    socket_.open(remote.protocol(), ec);
    if (!ec && remote.address().is_v6()) socket_.set_option(asio::ip::v6_only(false), ec);
    if (ec) return close(true);
    if (bind_local) {
      socket_.set_option(asio::socket_base::reuse_address(true), ec);
      socket_.set_option(reuse_port(true), ec);
      socket_.bind(local, ec);
      if (ec) {
        socket_.close(ec);
        return open(local, remote, false);
      }
    }
    timer_.expires_after(owner_.worker_.shared().limits.inside_connect_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code wait_error) {
      if (!wait_error && self->state_ != State::Open) self->close(true);
    });
    socket_.async_connect(remote, [self = shared_from_this(), local, remote,
                                   bind_local](boost::system::error_code error) {
      if (self->state_ == State::Closed) return;
      if (error == boost::system::errc::address_not_available && bind_local) {
        boost::system::error_code ignored;
        self->socket_.close(ignored);
        self->timer_.cancel();
        return self->open(local, remote, false);
      }
      if (error) return self->close(true);
      self->connected();
    });
  }

  // A connection the core opened to us (plain TCP).
  void adopt(asio::ip::tcp::socket socket) {
    io_ = std::make_unique<InsideIoOver<TcpIo>>(TcpIo(std::move(socket)));
    state_ = State::Open;
    wait_readable();
  }

  void send(std::string_view bytes) {
    if (state_ == State::Closed) return;
    if (queued_bytes_ + bytes.size() > owner_.worker_.shared().limits.max_queued_bytes)
      return close(true);  // the core stopped reading: as good as gone
    queue_.emplace_back(bytes);
    queued_bytes_ += bytes.size();
    if (state_ == State::Open && !writing_) flush();
  }

  void close(bool failure) noexcept {
    if (state_ == State::Closed) return;
    const auto keep = weak_from_this().lock();  // forget() may drop the pool's reference
    state_ = State::Closed;
    timer_.cancel();
    boost::system::error_code ec;
    if (io_) {
      io_->close();
    } else {
      socket_.close(ec);
    }
    // Requests were lost when some are unsent, or when the core never sent a byte back over a
    // connection we wrote to (over TLS 1.3 a refused client certificate shows only after our
    // first write; a core that crashed at once looks the same).
    const bool lost = !queue_.empty() || (written_any_ && !received_any_);
    owner_.forget(this);
    if (failure || lost) owner_.report_failure(protocol_, ip_, port_);
  }

 private:
  enum class State : std::uint8_t { Connecting, Handshaking, Open, Closed };

  void connected() {
    boost::system::error_code ec;
    socket_.set_option(asio::ip::tcp::no_delay(true), ec);
    if (protocol_ == Protocol::Tls) {
      if (owner_.tls_) io_ = owner_.tls_(std::move(socket_), ip_, owner_.core_name(ip_));
      if (!io_) return close(true);
    } else {
      io_ = std::make_unique<InsideIoOver<TcpIo>>(TcpIo(std::move(socket_)));
    }
    state_ = State::Handshaking;
    handshake();
  }

  void handshake() {
    IoWant want = IoWant::Read;
    if (io_->handshake(want)) {
      state_ = State::Open;
      timer_.cancel();
      flush();
      if (state_ == State::Open) wait_readable();
      return;
    }
    if (want == IoWant::Closed) return close(true);
    io_->socket().async_wait(
        want == IoWant::Write ? asio::socket_base::wait_write : asio::socket_base::wait_read,
        [self = shared_from_this()](boost::system::error_code ec) {
          if (self->state_ == State::Closed) return;
          if (ec) return self->close(true);
          self->handshake();
        });
  }

  void wait_readable() {
    if (state_ != State::Open || waiting_read_) return;
    waiting_read_ = true;
    auto self = shared_from_this();
    if (io_->has_buffered_input()) {
      asio::post(owner_.worker_.io(), [self] {
        self->waiting_read_ = false;
        self->on_readable();
      });
      return;
    }
    io_->socket().async_wait(asio::socket_base::wait_read, [self](boost::system::error_code ec) {
      self->waiting_read_ = false;
      if (self->state_ == State::Closed) return;
      if (ec) return self->close(false);
      self->on_readable();
    });
  }

  void on_readable() {
    static constexpr std::size_t kInitialBuffer = 4096;
    static constexpr int kReadsPerEvent = 16;
    for (int reads = 0; reads < kReadsPerEvent && state_ == State::Open; ++reads) {
      if (buffer_.size() < kInitialBuffer) buffer_.resize(kInitialBuffer);
      if (used_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // the framer caps it
      IoWant want = IoWant::Read;
      const std::size_t n = io_->read_some(buffer_.data() + used_, buffer_.size() - used_, want);
      if (n == 0) {
        if (want == IoWant::Closed) return close(false);
        break;  // over TLS a read wanting a write resolves once our queue flushes
      }
      used_ += n;
      received_any_ = true;
      process();
    }
    wait_readable();
  }

  void process() {
    while (state_ == State::Open) {
      const StreamFramer::Result r = framer_.next({buffer_.data(), used_});
      switch (r.kind) {
        case StreamFramer::Kind::NeedMore:
          return;
        case StreamFramer::Kind::Skip:
          consume(r.length);
          break;
        case StreamFramer::Kind::KeepAlive:
          consume(r.length);
          send("\r\n");
          break;
        case StreamFramer::Kind::Message: {
          if (Router* router = owner_.worker_.router(); router != nullptr) {
            const Worker::InHand in_hand(owner_.worker_, RelayDirection::CoreToOutside);
            router->message_from_inside({buffer_.data(), r.length}, protocol_, ip_, port_);
          }
          consume(r.length);
          break;
        }
        case StreamFramer::Kind::Error:
          return close(false);  // the framing is lost; the core reconnects
      }
    }
  }

  void consume(std::size_t n) {
    std::copy(buffer_.begin() + static_cast<std::ptrdiff_t>(n),
              buffer_.begin() + static_cast<std::ptrdiff_t>(used_), buffer_.begin());
    used_ -= n;
  }

  void flush() {
    while (!queue_.empty() && state_ == State::Open) {
      const std::string& front = queue_.front();
      IoWant want = IoWant::Write;
      const std::size_t n = io_->write_some(front.data() + written_, front.size() - written_, want);
      if (n == 0) {
        if (want == IoWant::Closed) return close(true);
        writing_ = true;
        io_->socket().async_wait(
            want == IoWant::Read ? asio::socket_base::wait_read : asio::socket_base::wait_write,
            [self = shared_from_this()](boost::system::error_code ec) {
              self->writing_ = false;
              if (self->state_ == State::Closed) return;
              if (ec) return self->close(true);
              self->flush();
              self->wait_readable();
            });
        return;
      }
      written_ += n;
      written_any_ = true;
      if (written_ == front.size()) {
        queued_bytes_ -= front.size();
        queue_.pop_front();
        written_ = 0;
      }
    }
  }

  InsideStreams& owner_;
  Protocol protocol_;
  std::string ip_;
  std::uint16_t port_;
  asio::ip::tcp::socket socket_;  // until connected; then io_ owns it
  std::unique_ptr<InsideIo> io_;
  asio::steady_timer timer_;
  StreamFramer framer_;
  State state_ = State::Connecting;
  std::string buffer_;
  std::size_t used_ = 0;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t written_ = 0;
  bool waiting_read_ = false;
  bool writing_ = false;
  bool written_any_ = false;
  bool received_any_ = false;
};

InsideStreams::InsideStreams(Worker& worker, asio::ip::tcp::endpoint local,
                             std::vector<StreamCore> cores, TlsConnector tls)
    : worker_(worker), local_(std::move(local)), cores_(std::move(cores)), tls_(std::move(tls)) {}

InsideStreams::~InsideStreams() {
  close();
}

void InsideStreams::listen() {
  acceptor_ = std::make_unique<asio::ip::tcp::acceptor>(worker_.io());
  acceptor_->open(local_.protocol());
  if (local_.address().is_v6()) acceptor_->set_option(asio::ip::v6_only(false));
  acceptor_->set_option(asio::socket_base::reuse_address(true));
  // Our outgoing connections bind this same address and port.
  acceptor_->set_option(reuse_port(true));
  acceptor_->bind(local_);
  acceptor_->listen(asio::socket_base::max_listen_connections);
  accept();
}

std::string_view InsideStreams::core_name(std::string_view ip) const noexcept {
  for (const StreamCore& c : cores_)
    if (c.ip == ip && !c.name.empty()) return c.name;
  return {};
}

void InsideStreams::accept() {
  acceptor_->async_accept([this](boost::system::error_code ec, asio::ip::tcp::socket socket) {
    if (closed_ || ec == asio::error::operation_aborted) return;
    if (!ec) {
      boost::system::error_code endpoint_error;
      const auto remote = socket.remote_endpoint(endpoint_error);
      std::string ip = endpoint_error ? std::string() : address_text(remote.address());
      const bool from_core = std::any_of(cores_.begin(), cores_.end(),
                                         [&ip](const StreamCore& c) { return c.ip == ip; });
      if (!from_core || connections_.size() >= worker_.shared().limits.max_inside_connections) {
        stats_.refused.inc();  // closing the socket refuses it
      } else {
        socket.set_option(asio::ip::tcp::no_delay(true), endpoint_error);
        auto connection =
            std::make_shared<InsideConnection>(*this, Protocol::Tcp, std::move(ip), remote.port());
        connections_.push_back(connection);
        stats_.accepted.inc();
        connection->adopt(std::move(socket));
      }
    }
    accept();
  });
}

void InsideStreams::send(Protocol protocol, std::string_view ip, std::uint16_t port,
                         std::string_view bytes) noexcept {
  if (closed_) return;
  try {
    send_or_open(protocol, ip, port, bytes);
  } catch (...) {  // out of memory or descriptors: as if the connection could not be opened
    report_failure(protocol, std::string(ip), port);
  }
}

void InsideStreams::send_or_open(Protocol protocol, std::string_view ip, std::uint16_t port,
                                 std::string_view bytes) {
  for (const auto& c : connections_)
    if (c->is(protocol, ip, port)) return c->send(bytes);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(ip, ec);
  if (ec || connections_.size() >= worker_.shared().limits.max_inside_connections) {
    report_failure(protocol, std::string(ip), port);
    return;
  }
  if (local_.address().is_v6() && address.is_v4())
    address = asio::ip::make_address_v6(asio::ip::v4_mapped, address.to_v4());
  auto connection = std::make_shared<InsideConnection>(*this, protocol, std::string(ip), port);
  connections_.push_back(connection);
  stats_.opened.inc();
  connection->send(bytes);  // queued until the connection is open
  connection->open(local_, asio::ip::tcp::endpoint(address, port));
}

void InsideStreams::close() noexcept {
  if (closed_) return;
  closed_ = true;
  boost::system::error_code ec;
  if (acceptor_) acceptor_->close(ec);
  // Closing reports nothing: the worker is stopping.
  const auto connections = std::move(connections_);
  for (const auto& c : connections) c->close(false);
  connections_.clear();
}

void InsideStreams::forget(const InsideConnection* connection) noexcept {
  const auto it = std::find_if(connections_.begin(), connections_.end(),
                               [&](const auto& c) { return c.get() == connection; });
  if (it != connections_.end()) connections_.erase(it);
}

void InsideStreams::report_failure(Protocol protocol, std::string ip, std::uint16_t port) noexcept {
  if (closed_) return;
  stats_.failed.inc();
  // Posted: the router may send again (fail over) and must not re-enter a send in progress.
  try {
    asio::post(worker_.io(), [this, protocol, ip = std::move(ip), port] {
      if (closed_) return;
      if (Router* router = worker_.router(); router != nullptr)
        router->inside_failed(protocol, ip, port);
    });
  } catch (...) {
    // Out of memory: the transactions time out instead (timers B/F).
  }
}

}  // namespace sbc::transport
