// The relay on arbitrary message sequences: the input is split at 0xFF bytes into chunks; each
// chunk's first byte says what it is (a message from the outside over TLS or UDP, a datagram
// from the core, or time passing) and the rest is the message. Outside messages go through the
// edge first, as in production. Everything the relay sends must itself be a valid SIP message:
// the relay must never turn valid input into something broken, whatever the sequence. With the
// last byte's bit 2, calls' media are anchored through a fake media port whose requests a chunk
// completes (ok or not, with the chunk's bytes as the rewritten SDP).
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string_view>

#include "sbc/crypto/token_sealer.hpp"
#include "sbc/proxy/relay.hpp"
#include "sbc/transport/edge_handler.hpp"

using namespace sbc;

namespace {

constexpr std::uint64_t kTlsFlow = 0x0100000200000003ull;
constexpr std::uint64_t kUdpFlow = 0x0100000500000007ull;

struct CheckingWire : transport::Wire {
  std::unique_ptr<sip::Message> message = std::make_unique<sip::Message>();
  void check(std::string_view bytes) {
    if (!message->parse(bytes, sip::Framing::Datagram, {}).is_valid()) std::abort();
  }
  bool send_outside(std::uint64_t token, std::string_view bytes) noexcept override {
    if (token != kTlsFlow && token != kUdpFlow) return false;
    check(bytes);
    return true;
  }
  std::optional<transport::FlowAddress> flow_address(std::uint64_t token) const noexcept override {
    if (token == kTlsFlow)
      return transport::FlowAddress{sbc::Protocol::Tls, "198.51.100.1", 5061, "203.0.113.5", 5061};
    if (token == kUdpFlow)
      return transport::FlowAddress{sbc::Protocol::Udp, "198.51.100.1", 5060, "203.0.113.9", 5060};
    return std::nullopt;
  }
  void send_inside(sbc::Protocol, std::string_view, std::uint16_t,
                   std::string_view bytes) noexcept override {
    check(bytes);
  }
};

// Media requests wait here until a chunk completes the oldest.
struct FuzzMedia : proxy::MediaPort {
  std::deque<proxy::MediaDone> pending;
  void request(proxy::MediaOp, const proxy::MediaCall&, proxy::MediaDone done) noexcept override {
    if (pending.size() < 64) pending.push_back(std::move(done));
  }
};

sbc::FlowInfo flow(bool tls) {
  sbc::FlowInfo f;
  f.protocol = tls ? sbc::Protocol::Tls : sbc::Protocol::Udp;
  f.local_ip = "198.51.100.1";
  f.local_port = tls ? 5061 : 5060;
  f.remote_ip = tls ? "203.0.113.5" : "203.0.113.9";
  f.remote_port = tls ? 40000 : 5062;
  f.flow_token = tls ? kTlsFlow : kUdpFlow;
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static CheckingWire wire;
  static transport::EdgeHandler edge({});
  auto now = proxy::Clock::time_point(std::chrono::seconds(1000));
  proxy::RelaySettings settings;
  // The input's last byte also picks the cores: one over UDP, or one over TCP and one over TLS
  // (no retransmissions, transport errors, sips: only to the TLS one).
  const bool streams = size > 0 && (data[size - 1] & 2) != 0;
  if (streams) {
    settings.cores = {{"10.0.0.10", 5070, 1, 1, sbc::Protocol::Tcp},
                      {"10.0.0.11", 5071, 2, 1, sbc::Protocol::Tls}};
  } else {
    settings.cores = {{"10.0.0.10", 5070, 1, 1}};
  }
  settings.inside_ip = "10.0.0.1";
  settings.inside_port = 15060;
  settings.outside_addresses = {{"198.51.100.1", 5060}, {"198.51.100.1", 5061}};
  settings.max_transactions = 16;
  // Small tables, and the fraud limits on, so that their ends (full, over a limit) are reached.
  settings.max_dialogs = 16;
  settings.call_limits.max_per_source = 3;
  settings.call_limits.max_total = 8;
  settings.branch_seed = 1;
  settings.token_keys = {
      *sbc::crypto::TokenSealer::parse_key("1:000102030405060708090a0b0c0d0e0f")};
  // The input's last byte picks Call-ID masking, so both ways of relaying are explored.
  settings.mask_call_id = size > 0 && (data[size - 1] & 1) != 0;
  FuzzMedia media;
  proxy::Relay relay(settings, wire, [&now] { return now; });
  if (size > 0 && (data[size - 1] & 4) != 0) relay.set_media_port(&media);
  edge.set_router(&relay);

  std::string_view input(reinterpret_cast<const char*>(data), size);
  for (int guard = 0; guard < 64 && !input.empty(); ++guard) {
    const std::size_t end = input.find('\xff');
    const std::string_view chunk = input.substr(0, end);
    input = end == std::string_view::npos ? std::string_view{} : input.substr(end + 1);
    if (chunk.empty()) continue;
    const std::string_view message = chunk.substr(1);
    switch (static_cast<unsigned char>(chunk[0]) % 7) {
      case 0:
        (void)edge.handle(message, sip::Framing::Datagram, flow(true));
        break;
      case 1:
        (void)edge.handle(message, sip::Framing::Datagram, flow(false));
        break;
      case 2:
        relay.datagram_from_inside(message, "10.0.0.10", 5070);
        break;
      case 3:
        now += std::chrono::milliseconds(100 * (1 + (message.empty() ? 0 : message[0] & 0x7F)));
        relay.tick();
        break;
      case 4:  // from the second core over its connection
        relay.message_from_inside(message, streams ? sbc::Protocol::Tls : sbc::Protocol::Udp,
                                  "10.0.0.11", 5071);
        break;
      case 5:  // a connection toward a core failed
        relay.inside_failed(
            message.empty() || (message[0] & 1) == 0 ? sbc::Protocol::Tcp : sbc::Protocol::Tls,
            message.size() > 1 && (message[1] & 1) != 0 ? "10.0.0.11" : "10.0.0.10",
            message.size() > 1 && (message[1] & 1) != 0 ? 5071 : 5070);
        break;
      case 6:  // the media relay answers the oldest request
        if (!media.pending.empty()) {
          proxy::MediaDone done = std::move(media.pending.front());
          media.pending.pop_front();
          proxy::MediaResult result;
          result.ok = message.empty() || (message[0] & 1) == 0;
          result.sdp = message.empty() ? message : message.substr(1);
          done(result);
        }
        break;
    }
  }
  edge.set_router(nullptr);
  return 0;
}
