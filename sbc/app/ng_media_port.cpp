#include "sbc/app/ng_media_port.hpp"

#include <array>
#include <boost/asio/post.hpp>

namespace sbc::app {

namespace {
constexpr std::array<std::string_view, 2> kReplace = {"origin", "session-connection"};
constexpr std::array<std::string_view, 1> kSipSource = {"SIP-source-address"};
// SRTP offered to a user agent (media.srtp): SDES only, and never a suite without encryption
// (NULL) nor the F8 mode hardly anyone implements: a callee must not pick media in clear.
constexpr std::array<std::string_view, 4> kSdesExcluded = {
    "no-NULL_HMAC_SHA1_80", "no-NULL_HMAC_SHA1_32", "no-F8_128_HMAC_SHA1_80",
    "no-F8_128_HMAC_SHA1_32"};
}  // namespace

NgMediaPort::NgMediaPort(boost::asio::io_context& io, const MediaConfig& config)
    : io_(io), config_(config), client_(io, config.ng) {}

void NgMediaPort::request(proxy::MediaOp op, const proxy::MediaCall& call,
                          proxy::MediaDone done) noexcept {
  try {
    auto finish = [this, op, done = std::move(done)](const media::NgResult& r) mutable {
      if (!r.ok()) note_failure(op, r);
      proxy::MediaResult result;
      result.ok = r.ok();
      result.sdp = r.sdp;
      result.error = r.ok() ? std::string_view() : media::to_string(r.error);
      if (!in_request_) return done(result);
      // Refused at once (overloaded, no instance): the relay hears of it later, as promised.
      boost::asio::post(io_, [done = std::move(done), ok = result.ok, sdp = std::string(r.sdp),
                              error = result.error] {
        proxy::MediaResult later;
        later.ok = ok;
        later.sdp = sdp;
        later.error = error;
        done(later);
      });
    };
    media::NgOptions options;
    if (call.from_outside) {
      options.from_interface = config_.outside_interface;
      options.to_interface = config_.inside_interface;
    } else {
      options.from_interface = config_.inside_interface;
      options.to_interface = config_.outside_interface;
    }
    options.replace = kReplace;
    options.ice = "remove";
    options.transport_protocol = call.transport_protocol;
    if (!call.received_from.empty()) {
      options.flags = kSipSource;  // trust-address off for the outside
      options.received_from = call.received_from;
    }
    if (call.transport_protocol == "RTP/SAVP") {
      options.dtls = "off";
      options.sdes = kSdesExcluded;
    }
    in_request_ = true;
    switch (op) {
      case proxy::MediaOp::Offer:
        client_.offer(call.session, call.from_tag, call.sdp, options, std::move(finish));
        break;
      case proxy::MediaOp::Answer:
        client_.answer(call.session, call.from_tag, call.to_tag, call.sdp, options,
                       std::move(finish));
        break;
      case proxy::MediaOp::Delete:
        client_.remove(call.session, {}, std::move(finish));
        break;
    }
    in_request_ = false;
  } catch (const std::exception&) {
    // Out of memory for a callback: the relay's deadline is the ng client's; nothing to do.
    in_request_ = false;
  }
}

void NgMediaPort::note_failure(proxy::MediaOp op, const media::NgResult& r) {
  constexpr std::chrono::seconds kEvery{10};
  const auto now = std::chrono::steady_clock::now();
  if (!warn_ || now - last_warn_ < kEvery) {
    ++unwarned_;
    return;
  }
  static constexpr std::array<std::string_view, 3> kOps = {"offer", "answer", "delete"};
  std::string line = "media: rtpengine ";
  line.append(kOps[static_cast<std::size_t>(op)]).append(" failed: ");
  line.append(media::to_string(r.error));
  if (!r.reason.empty()) line.append(" (").append(r.reason.substr(0, 200)).append(")");
  if (r.instance >= 0 && static_cast<std::size_t>(r.instance) < config_.ng.instances.size())
    line.append(", instance ")
        .append(config_.ng.instances[static_cast<std::size_t>(r.instance)].name);
  if (unwarned_ != 0) line.append("; ").append(std::to_string(unwarned_)).append(" more before");
  unwarned_ = 0;
  last_warn_ = now;
  warn_(line);
}

}  // namespace sbc::app
