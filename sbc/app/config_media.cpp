// The `media` section: anchoring the calls' media through rtpengine (ng_media_port.hpp).
//   media: {enabled, rtpengine: [{address: "IP:PORT", weight}], timeout_ms, retries,
//           ping_interval_s, max_in_flight, on_failure: reject|pass, interfaces: {outside, inside},
//           srtp: [{port, mode: required|optional|off}]}

#include <algorithm>
#include <boost/asio/ip/address.hpp>

#include "sbc/app/config_reader.hpp"
#include "sbc/cluster/fleet_codec.hpp"
#include "sbc/common/address.hpp"

namespace sbc::app {
namespace {

using Srtp = proxy::RelaySettings::Srtp;

// media.srtp: per TLS listener (by its port), so that SDES keys never travel in clear.
void read_srtp(const ConfigReader& r, const YAML::Node& list, Config& config) {
  if (!list.IsSequence()) r.fail(list, "media.srtp", "must be a list of {port, mode}");
  auto& srtp = config.relay.media_srtp;
  for (std::size_t i = 0; i < list.size(); ++i) {
    const YAML::Node entry = list[i];
    const std::string at = "media.srtp[" + std::to_string(i) + "]";
    r.reject_unknown_keys(entry, at, {"port", "mode"});
    if (!entry["port"] || !entry["mode"]) r.fail(entry, at, "needs a port and a mode");
    std::uint16_t port = 0;
    r.read_uint<std::uint16_t>(entry, at, "port", port, 1, 65535);
    if (std::none_of(config.listeners.begin(), config.listeners.end(), [port](const Listener& l) {
          return l.port == port && l.transport == Transport::Tls;
        }))
      r.fail(entry["port"], at + ".port",
             "port " + std::to_string(port) +
                 " is not the port of a TLS listener (SDES keys must not travel in clear)");
    if (std::any_of(srtp.begin(), srtp.end(), [port](const auto& p) { return p.first == port; }))
      r.fail(entry["port"], at + ".port", "port " + std::to_string(port) + " is listed twice");
    const std::string mode = entry["mode"].as<std::string>();
    if (mode != "required" && mode != "optional" && mode != "off")
      r.fail(entry["mode"], at + ".mode",
             "must be required, optional or off (got \"" + mode + "\")");
    srtp.emplace_back(port, mode == "required"   ? Srtp::Required
                            : mode == "optional" ? Srtp::Optional
                                                 : Srtp::Off);
  }
}

}  // namespace

void read_media(const ConfigReader& r, const YAML::Node& m, Config& config) {
  r.reject_unknown_keys(m, "media",
                        {"enabled", "rtpengine", "timeout_ms", "retries", "ping_interval_s",
                         "max_in_flight", "on_failure", "interfaces", "srtp"});
  MediaConfig& media = config.media;
  r.read_bool(m, "media", "enabled", media.enabled);
  r.read_uint<unsigned>(m, "media", "timeout_ms", media.ng.timeout_ms, 50, 10000);
  r.read_uint<unsigned>(m, "media", "retries", media.ng.retries, 0, 5);
  r.read_uint<unsigned>(m, "media", "ping_interval_s", media.ng.ping_interval_s, 0, 3600);
  r.read_uint<std::size_t>(m, "media", "max_in_flight", media.ng.max_outstanding, 16, 65536);
  if (const YAML::Node failure = m["on_failure"]) {
    const std::string text = failure.as<std::string>();
    if (text == "reject") {
      config.relay.media_on_failure = proxy::RelaySettings::MediaFailure::Reject;
    } else if (text == "pass") {
      config.relay.media_on_failure = proxy::RelaySettings::MediaFailure::Pass;
    } else {
      r.fail(failure, "media.on_failure", "must be reject or pass (got \"" + text + "\")");
    }
  }
  if (const YAML::Node names = m["interfaces"]) {
    r.reject_unknown_keys(names, "media.interfaces", {"outside", "inside"});
    for (const char* side : {"outside", "inside"}) {
      const YAML::Node name = names[side];
      if (!name) continue;
      const std::string text = name.as<std::string>();
      if (text.empty() || text.size() > 64 || text.find_first_of(" \t\r\n/") != std::string::npos)
        r.fail(name, std::string("media.interfaces.") + side,
               "must be the name of an rtpengine --interface (1-64 characters, no space or /)");
      (std::string_view(side) == "outside" ? media.outside_interface : media.inside_interface) =
          text;
    }
  }
  if (const YAML::Node list = m["rtpengine"]) {
    if (!list.IsSequence()) r.fail(list, "media.rtpengine", "must be a list of {address, weight}");
    for (std::size_t i = 0; i < list.size(); ++i) {
      const YAML::Node entry = list[i];
      const std::string at = "media.rtpengine[" + std::to_string(i) + "]";
      r.reject_unknown_keys(entry, at, {"address", "weight"});
      const YAML::Node address = entry["address"];
      if (!address) r.fail(entry, at, "needs an address (IP:PORT of its ng port)");
      const std::string text = address.as<std::string>();
      const auto host_port = cluster::split_host_port(text);
      if (!host_port || !sbc::parse_address(host_port->first))
        r.fail(address, at + ".address",
               "must be IP:PORT (\"127.0.0.1:2223\", \"[::1]:2223\"; got \"" + text + "\")");
      media::NgInstanceConfig instance;
      instance.name = text;
      instance.endpoint = {boost::asio::ip::make_address(host_port->first), host_port->second};
      r.read_uint<unsigned>(entry, at, "weight", instance.weight, 1, 1000);
      media.ng.instances.push_back(std::move(instance));
    }
    if (media.ng.instances.size() > 32) r.fail(list, "media.rtpengine", "at most 32 instances");
  }
  if (media.enabled && media.ng.instances.empty())
    r.fail(m, "media", "enabled needs at least one rtpengine instance (media.rtpengine)");
  if (const YAML::Node srtp = m["srtp"]) {
    read_srtp(r, srtp, config);
    if (!media.enabled && !config.relay.media_srtp.empty())
      r.fail(srtp, "media.srtp", "needs media.enabled: rtpengine bridges SRTP and RTP");
  }
}

}  // namespace sbc::app
