#pragma once
// What the policy tests share: SIP requests to decide on, and a chain driven as the edge drives
// it (admit, then decide), at a clock the test moves.

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "policy/policy_config.hpp"
#include "sbc/sip/message.hpp"

namespace policy_tests {

using namespace std::chrono_literals;
namespace policy = sbc::policy;
namespace sip = sbc::sip;
using policy::Decision;

inline std::string request(std::string_view method, std::string_view user_agent = {},
                           std::string_view branch = "z9hG4bK1") {
  std::string m = std::string(method) + " sip:bob@example.com SIP/2.0\r\n";
  m += "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=" + std::string(branch) + "\r\n";
  m += "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=1\r\nTo: <sip:bob@example.com>\r\n";
  m += "Call-ID: a@b\r\nCSeq: 1 " + std::string(method) + "\r\n";
  if (!user_agent.empty()) m += "User-Agent: " + std::string(user_agent) + "\r\n";
  m += "Content-Length: 0\r\n\r\n";
  return m;
}

inline sbc::FlowInfo from(std::string_view ip) {
  sbc::FlowInfo f;
  f.remote_ip = ip;
  f.remote_port = 5060;
  return f;
}

// Runs one request from `ip` through `chain` as the edge does.
struct Runner {
  std::unique_ptr<policy::Chain> chain;
  std::unique_ptr<sip::Message> m = std::make_unique<sip::Message>();
  std::string bytes;
  policy::TimePoint now = policy::TimePoint(1000s);
  sbc::Protocol protocol = sbc::Protocol::Udp;

  explicit Runner(const policy::PolicyConfig& config, unsigned worker = 0)
      : chain(policy::make_chain(config, worker)) {}

  // "banned", "continue", "drop <stage>/<reason>", "respond <status> <stage>/<reason>"
  std::string run(std::string_view ip, const std::string& text) {
    bytes = text;
    sbc::FlowInfo flow = from(ip);
    flow.protocol = protocol;
    if (!chain->admit(flow, now)) return "banned";
    REQUIRE(m->parse(bytes, sip::Framing::Datagram, {}).is_valid());
    const auto out = chain->decide(*m);
    if (out.decision.proceeds()) return "continue";
    const std::string what = std::string(out.stage->name()) + "/" +
                             std::string(out.stage->reasons()[out.decision.reason]);
    if (out.decision.kind == Decision::Kind::Drop) return "drop " + what;
    return "respond " + std::to_string(out.decision.status) + " " + what;
  }
};

inline policy::PolicyConfig config_with(std::vector<std::string> chain) {
  policy::PolicyConfig c;
  c.chain = std::move(chain);
  return c;
}

}  // namespace policy_tests
