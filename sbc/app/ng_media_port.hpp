#pragma once
// The relay's media port (proxy/media_port.hpp) over rtpengine's ng protocol (media/ng_client.hpp):
// one per worker, on its io_context. An offer from the outside crosses from the outside interface
// to the inside one (rtpengine's "direction"), one from the core the other way; the origin and
// session connection lines are replaced and ICE candidates removed, so that no address of either
// side reaches the other; the session name is the relay's (one per leg).

#include <chrono>
#include <functional>
#include <string>

#include "sbc/media/ng_client.hpp"
#include "sbc/proxy/media_port.hpp"

namespace sbc::app {

struct MediaConfig {
  bool enabled = false;
  media::NgSettings ng;
  std::string outside_interface = "outside";  // rtpengine --interface names
  std::string inside_interface = "inside";
};

class NgMediaPort final : public proxy::MediaPort {
 public:
  NgMediaPort(boost::asio::io_context& io, const MediaConfig& config);
  // Opens the sockets toward the rtpengine instances (before the worker runs).
  bool start(std::string& error) { return client_.start(error); }
  void stop() { client_.stop(); }
  void request(proxy::MediaOp op, const proxy::MediaCall& call,
               proxy::MediaDone done) noexcept override;
  const media::NgClient& client() const noexcept { return client_; }
  // Where failed requests are told (on the worker's thread), at most one line every 10 s with
  // how many more there were: an operator sees rtpengine trouble in the log, not only in metrics.
  void set_warn(std::function<void(const std::string&)> warn) { warn_ = std::move(warn); }

 private:
  boost::asio::io_context& io_;
  MediaConfig config_;
  media::NgClient client_;
  bool in_request_ = false;  // a completion within request() is posted (the port's contract)
  void note_failure(proxy::MediaOp op, const media::NgResult& r);
  std::function<void(const std::string&)> warn_;
  std::chrono::steady_clock::time_point last_warn_{};
  unsigned unwarned_ = 0;
};

}  // namespace sbc::app
