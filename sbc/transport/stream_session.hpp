#pragma once
// One TCP or TLS connection: frames messages out of the byte stream, hands each to the worker's
// edge handler and writes the answers back, in order. A template over an `Io` policy that reads
// and writes without blocking (TcpIo below; tls/ provides one over BoringSSL), driven in reactor
// style: the session waits for readiness and only then borrows a receive buffer, so an idle
// connection holds no buffer at all.
//
// Deadlines (slowloris defence): a first byte within first_byte_timeout; once a message has
// started it must be complete within message_timeout, however slowly its bytes trickle; between
// messages the connection may stay idle for idle_timeout. The outgoing queue is bounded: reading
// pauses while it is full, and a message that would take it past max_queued_bytes (a request or
// answer the core sends down the flow, which no pause holds back) closes the connection instead,
// as does a queue that makes no progress for write_timeout: a peer that stops reading cannot make
// us buffer without end. A refused send_down() tells the relay the flow failed (430).
//
// Io concept:
//   asio::ip::tcp::socket& socket();
//   std::size_t read_some(char* data, std::size_t size, IoWant& want);   // 0: see want
//   std::size_t write_some(const char* data, std::size_t size, IoWant& want);
//   bool has_buffered_input() const;   // bytes already decrypted, invisible to the socket
//   void close();

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <memory>
#include <string>

#include "sbc/transport/flow_table.hpp"
#include "sbc/transport/io_want.hpp"
#include "sbc/transport/stream_framer.hpp"
#include "sbc/transport/worker.hpp"

namespace sbc::transport {

// Plain TCP.
class TcpIo {
 public:
  explicit TcpIo(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
  }
  asio::ip::tcp::socket& socket() noexcept { return socket_; }
  bool handshake(IoWant& /*want*/) noexcept { return true; }  // plain TCP has none
  std::size_t read_some(char* data, std::size_t size, IoWant& want) noexcept {
    boost::system::error_code ec;
    const std::size_t n = socket_.read_some(asio::buffer(data, size), ec);
    return settle(n, ec, IoWant::Read, want);
  }
  std::size_t write_some(const char* data, std::size_t size, IoWant& want) noexcept {
    boost::system::error_code ec;
    const std::size_t n = socket_.write_some(asio::buffer(data, size), ec);
    return settle(n, ec, IoWant::Write, want);
  }
  bool has_buffered_input() const noexcept { return false; }
  void close() noexcept {
    boost::system::error_code ec;
    socket_.shutdown(asio::socket_base::shutdown_both, ec);
    socket_.close(ec);
  }

 private:
  static std::size_t settle(std::size_t n, const boost::system::error_code& ec, IoWant blocked,
                            IoWant& want) noexcept {
    if (!ec && n > 0) return n;
    want =
        (ec == asio::error::would_block || ec == asio::error::try_again) ? blocked : IoWant::Closed;
    return 0;
  }
  asio::ip::tcp::socket socket_;
};

template <class Io>
class StreamSession : public FlowSink, public std::enable_shared_from_this<StreamSession<Io>> {
 public:
  // Owns the strings the FlowInfo views point into.
  struct Identity {
    std::string local_ip, remote_ip, tls_version, server_name, peer_identity;
    std::uint16_t advertised_port = 0;  // listeners[].advertise's port; 0: the bound one
  };

  StreamSession(Io io, Worker& worker, Protocol protocol, Identity identity,
                std::uint16_t local_port, std::uint16_t remote_port, ConnectionTicket ticket)
      : io_(std::move(io)),
        worker_(worker),
        timer_(worker.io()),
        write_timer_(worker.io()),
        framer_(worker.handler_limits().max_message_bytes),
        identity_(std::move(identity)),
        ticket_(std::move(ticket)) {
    flow_.protocol = protocol;
    flow_.local_ip = identity_.local_ip;
    flow_.local_port = identity_.advertised_port != 0 ? identity_.advertised_port : local_port;
    flow_.listener_port = local_port;
    flow_.remote_ip = identity_.remote_ip;
    flow_.remote_port = remote_port;
    flow_.tls = {identity_.tls_version, identity_.server_name, identity_.peer_identity};
  }

  void start() {
    token_ =
        worker_.flows().add_stream(std::static_pointer_cast<FlowSink>(this->shared_from_this()));
    if (!token_) return close();  // cannot happen: the connection limits are smaller
    flow_.flow_token = token_.value;
    worker_.count_connection(flow_.protocol, +1);
    arm(worker_.shared().limits.first_byte_timeout);
    // Try a read at once rather than waiting: over TLS it also flushes what the handshake left
    // to send (TLS 1.3 session tickets), which would otherwise wait for the client's first byte.
    on_readable();
  }

  // A request from the core for this flow (RFC 5626): queued behind any answers in progress.
  bool send_down(std::string_view bytes) override { return send(bytes); }
  FlowAddress address() const override {
    return {flow_.protocol, flow_.local_ip, flow_.local_port, flow_.remote_ip, flow_.bound_port()};
  }
  const FlowInfo* flow_info() const override { return &flow_; }
  void shut() override { close(); }
  void shut_after_sent() override {
    if (closed_) return;
    close_after_write_ = true;
    if (queue_.empty()) close();
  }

 private:
  static constexpr std::size_t kInitialBuffer = 2048;
  static constexpr int kReadsPerEvent = 16;

  void arm(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->close();
    });
  }

  void wait_readable() {
    if (closed_ || waiting_read_ || close_after_write_) return;
    waiting_read_ = true;
    auto self = this->shared_from_this();
    if (io_.has_buffered_input()) {
      asio::post(worker_.io(), [self] {
        self->waiting_read_ = false;
        self->on_readable();
      });
      return;
    }
    io_.socket().async_wait(asio::socket_base::wait_read, [self](boost::system::error_code ec) {
      self->waiting_read_ = false;
      if (ec) return self->close();
      self->on_readable();
    });
  }

  void on_readable() {
    if (closed_) return;
    const bool was_empty = used_ == 0;
    // A bounded number of reads per readiness event, and none while the answer queue is full:
    // one busy client must not monopolise its worker or make us buffer without end.
    const std::size_t max_queued = worker_.shared().limits.max_queued_bytes;
    for (int reads = 0;
         reads < kReadsPerEvent && !closed_ && !close_after_write_ && queued_bytes_ < max_queued;
         ++reads) {
      if (buffer_.size() < kInitialBuffer) buffer_.resize(kInitialBuffer);
      if (used_ == buffer_.size()) buffer_.resize(buffer_.size() * 2);  // the framer caps it
      IoWant want = IoWant::Read;
      const std::size_t n = io_.read_some(buffer_.data() + used_, buffer_.size() - used_, want);
      if (n == 0) {
        if (want == IoWant::Closed) return close();
        if (want == IoWant::Write) return wait_writable_then_read();
        break;
      }
      used_ += n;
      received_any_ = true;
      process();
    }
    if (closed_ || close_after_write_) return;
    if (!received_any_) {
      // Still before the first byte: its deadline stands.
      std::string().swap(buffer_);
    } else if (used_ == 0) {
      // Idle: give the buffer back, so that idle connections cost no receive memory.
      std::string().swap(buffer_);
      arm(worker_.shared().limits.idle_timeout);
    } else if (was_empty || message_started_) {
      // A new message began: its deadline starts now and does not move with each byte.
      message_started_ = false;
      arm(worker_.shared().limits.message_timeout);
    }
    if (queued_bytes_ < worker_.shared().limits.max_queued_bytes) wait_readable();
  }

  void wait_writable_then_read() {
    waiting_read_ = true;
    io_.socket().async_wait(asio::socket_base::wait_write,
                            [self = this->shared_from_this()](boost::system::error_code ec) {
                              self->waiting_read_ = false;
                              if (ec) return self->close();
                              self->on_readable();
                            });
  }

  void process() {
    while (!close_after_write_ && !closed_) {
      const std::string_view buffered(buffer_.data(), used_);
      const StreamFramer::Result r = framer_.next(buffered);
      switch (r.kind) {
        case StreamFramer::Kind::NeedMore:
          return;
        case StreamFramer::Kind::Skip:
          consume(r.length);
          break;
        case StreamFramer::Kind::KeepAlive:
          consume(r.length);
          send("\r\n");  // RFC 5626 3.5.1: pong
          break;
        case StreamFramer::Kind::Message: {
          const Worker::InHand in_hand(worker_, RelayDirection::OutsideToCore);
          const auto outcome =
              worker_.handler().handle(buffered.substr(0, r.length), sip::Framing::Stream, flow_);
          worker_.note(outcome, flow_);
          // A source that authenticated may use the connections kept in reserve.
          if (outcome.authenticated) ticket_.authenticated();
          if (outcome.action == EdgeHandler::Action::Reply) send(outcome.reply);
          if (outcome.close_after) shut_after_sent();
          consume(r.length);
          message_started_ = used_ > 0;
          break;
        }
        case StreamFramer::Kind::Error: {
          // The framing is lost: answer if the headers allow it, then close (RFC 3261 18.3).
          if (r.header_length > 0) {
            const auto outcome = worker_.handler().reject_stream(
                buffered.substr(0, r.header_length), r.status, r.reason, flow_);
            worker_.note(outcome, flow_);
            if (outcome.action == EdgeHandler::Action::Reply) send(outcome.reply);
          }
          close_after_write_ = true;
          if (queue_.empty()) close();
          return;
        }
      }
    }
  }

  void consume(std::size_t n) {
    std::copy(buffer_.begin() + static_cast<std::ptrdiff_t>(n),
              buffer_.begin() + static_cast<std::ptrdiff_t>(used_), buffer_.begin());
    used_ -= n;
  }

  // False when the connection is closed, or closes now because `bytes` do not fit its queue.
  bool send(std::string_view bytes) {
    if (closed_) return false;
    if (!queue_.empty() &&
        queued_bytes_ + bytes.size() > worker_.shared().limits.max_queued_bytes) {
      worker_.count_stream_closed(StreamCloseReason::SendQueueFull);
      close();
      return false;
    }
    queue_.emplace_back(bytes);
    queued_bytes_ += bytes.size();
    if (!writing_) flush();
    return !closed_;
  }

  // While the queue waits for the peer to read: closed when no byte left for write_timeout.
  void arm_write_deadline() {
    wrote_since_armed_ = false;
    if (write_deadline_armed_) return;
    write_deadline_armed_ = true;
    write_timer_.expires_after(worker_.shared().limits.write_timeout);
    write_timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
      self->write_deadline_armed_ = false;
      if (ec || self->closed_ || self->queue_.empty()) return;
      if (self->wrote_since_armed_) return self->arm_write_deadline();
      self->worker_.count_stream_closed(StreamCloseReason::WriteTimeout);
      self->close();
    });
  }

  void flush() {
    while (!queue_.empty() && !closed_) {
      const std::string& front = queue_.front();
      IoWant want = IoWant::Write;
      const std::size_t n = io_.write_some(front.data() + written_, front.size() - written_, want);
      if (n == 0) {
        if (want != IoWant::Write) return close();
        arm_write_deadline();
        writing_ = true;
        io_.socket().async_wait(asio::socket_base::wait_write,
                                [self = this->shared_from_this()](boost::system::error_code ec) {
                                  self->writing_ = false;
                                  if (ec) return self->close();
                                  self->flush();
                                });
        return;
      }
      written_ += n;
      wrote_since_armed_ = true;
      if (written_ == front.size()) {
        queued_bytes_ -= front.size();
        queue_.pop_front();
        written_ = 0;
      }
    }
    if (closed_) return;
    if (close_after_write_) return close();
    wait_readable();  // resumes reading if it had paused on a full queue
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    if (token_) worker_.count_connection(flow_.protocol, -1);
    worker_.flows().remove(token_);
    timer_.cancel();
    write_timer_.cancel();
    io_.close();
    // What could not be sent is dropped now, not when the last handler lets go of the session.
    std::deque<std::string>().swap(queue_);
    queued_bytes_ = 0;
  }

  Io io_;
  Worker& worker_;
  asio::steady_timer timer_;
  asio::steady_timer write_timer_;
  StreamFramer framer_;
  Identity identity_;
  ConnectionTicket ticket_;
  FlowInfo flow_;
  FlowToken token_;
  std::string buffer_;  // empty while idle
  std::size_t used_ = 0;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  std::size_t written_ = 0;  // of queue_.front()
  bool waiting_read_ = false;
  bool writing_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
  bool message_started_ = false;
  bool received_any_ = false;
  bool write_deadline_armed_ = false;
  bool wrote_since_armed_ = false;
};

// Starts a plain TCP session on an accepted socket. `advertised_ip` and `advertised_port`: what
// our Via and Record-Route show for the listener (listeners[].advertise); empty and 0 = the
// socket's address and port.
void start_tcp_session(asio::ip::tcp::socket socket, Worker& worker, ConnectionTicket ticket,
                       const std::string& advertised_ip, std::uint16_t advertised_port);

}  // namespace sbc::transport
