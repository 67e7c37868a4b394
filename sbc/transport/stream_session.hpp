#pragma once
// One TCP or TLS connection: frames messages out of the byte stream, hands each to the worker's
// edge handler and writes the answers back, in order. Header-only because it is a template over
// the stream type; tls/ instantiates it over an SSL stream, sbc/transport over a plain socket.
//
// Deadlines (slowloris defence): a first byte within first_byte_timeout; once a message has
// started it must be complete within message_timeout, however slowly its bytes trickle; between
// messages the connection may stay idle for idle_timeout. The answer queue is bounded: reading
// pauses while it is full, so a client that does not read cannot make us buffer without end.

#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <deque>
#include <memory>
#include <string>

#include "sbc/transport/stream_framer.hpp"
#include "sbc/transport/worker.hpp"

namespace sbc::transport {

template <class Stream>
class StreamSession : public std::enable_shared_from_this<StreamSession<Stream>> {
 public:
  // `flow` string views must point into `identity`, which the session keeps.
  struct Identity {
    std::string local_ip, remote_ip, tls_version, server_name, peer_identity;
  };

  StreamSession(Stream stream, Worker& worker, Protocol protocol, Identity identity,
                std::uint16_t local_port, std::uint16_t remote_port, ConnectionTicket ticket)
      : stream_(std::move(stream)),
        worker_(worker),
        timer_(worker.io()),
        framer_(worker.handler_limits().max_message_bytes),
        identity_(std::move(identity)),
        ticket_(std::move(ticket)) {
    flow_.protocol = protocol;
    flow_.local_ip = identity_.local_ip;
    flow_.local_port = local_port;
    flow_.remote_ip = identity_.remote_ip;
    flow_.remote_port = remote_port;
    flow_.tls = {identity_.tls_version, identity_.server_name, identity_.peer_identity};
  }

  void start() {
    arm(worker_.shared().limits.first_byte_timeout);
    read();
  }

 private:
  static constexpr std::size_t kInitialBuffer = 2048;

  void arm(std::chrono::milliseconds timeout) {
    timer_.expires_after(timeout);
    timer_.async_wait([self = this->shared_from_this()](boost::system::error_code ec) {
      if (!ec) self->close();
    });
  }

  void read() {
    if (closed_ || reading_) return;
    const std::size_t max = framer_limit();
    if (buffer_.size() < kInitialBuffer) buffer_.resize(kInitialBuffer);
    if (used_ == buffer_.size()) {
      if (buffer_.size() >= max) return close();  // cannot happen: the framer errs first
      buffer_.resize(std::min(buffer_.size() * 2, max));
    }
    reading_ = true;
    stream_.async_read_some(
        boost::asio::buffer(buffer_.data() + used_, buffer_.size() - used_),
        [self = this->shared_from_this()](boost::system::error_code ec, std::size_t n) {
          self->reading_ = false;
          self->on_read(ec, n);
        });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    if (ec || closed_) return close();
    const bool was_empty = used_ == 0;
    used_ += n;
    process();
    if (closed_ || close_after_write_) return;
    if (used_ == 0) {
      arm(worker_.shared().limits.idle_timeout);
    } else if (was_empty || message_started_) {
      // A new message began: its deadline starts now and does not move with each byte.
      message_started_ = false;
      arm(worker_.shared().limits.message_timeout);
    }
    if (queued_bytes_ < worker_.shared().limits.max_queued_bytes) read();
  }

  void process() {
    while (!close_after_write_) {
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
          const auto outcome =
              worker_.handler().handle(buffered.substr(0, r.length), sip::Framing::Stream, flow_);
          if (outcome.action == EdgeHandler::Action::Reply) send(outcome.reply);
          consume(r.length);
          message_started_ = used_ > 0;
          break;
        }
        case StreamFramer::Kind::Error: {
          // The framing is lost: answer if the headers allow it, then close (RFC 3261 18.3).
          if (r.header_length > 0) {
            const auto outcome = worker_.handler().reject_stream(
                buffered.substr(0, r.header_length), r.status, r.reason, flow_);
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
    // Give memory back once a large message is done: idle connections stay small.
    if (used_ == 0 && buffer_.size() > kInitialBuffer) {
      buffer_.resize(kInitialBuffer);
      buffer_.shrink_to_fit();
    }
  }

  void send(std::string_view bytes) {
    queue_.emplace_back(bytes);
    queued_bytes_ += bytes.size();
    if (!writing_) write();
  }

  void write() {
    writing_ = true;
    boost::asio::async_write(
        stream_, boost::asio::buffer(queue_.front()),
        [self = this->shared_from_this()](boost::system::error_code ec, std::size_t) {
          self->writing_ = false;
          if (ec || self->closed_) return self->close();
          self->queued_bytes_ -= self->queue_.front().size();
          self->queue_.pop_front();
          if (!self->queue_.empty()) return self->write();
          if (self->close_after_write_) return self->close();
          self->read();  // resumes if reading had paused on a full queue
        });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    timer_.cancel();
    stream_.lowest_layer().shutdown(boost::asio::socket_base::shutdown_both, ec);
    stream_.lowest_layer().close(ec);
  }

  std::size_t framer_limit() const { return worker_.handler_limits().max_message_bytes; }

  Stream stream_;
  Worker& worker_;
  boost::asio::steady_timer timer_;
  StreamFramer framer_;
  Identity identity_;
  ConnectionTicket ticket_;
  FlowInfo flow_;
  std::string buffer_;
  std::size_t used_ = 0;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;
  bool reading_ = false;
  bool writing_ = false;
  bool closed_ = false;
  bool close_after_write_ = false;
  bool message_started_ = false;
};

// Starts a plain TCP session on an accepted socket.
void start_tcp_session(asio::ip::tcp::socket socket, Worker& worker, ConnectionTicket ticket);

}  // namespace sbc::transport
