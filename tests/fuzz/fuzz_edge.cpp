// The edge's pure path on arbitrary bytes: stream framing, then the policy chain and the handler's
// verdicts and the answers it builds by copying headers out of (possibly broken) requests.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "policy/policy_config.hpp"
#include "sbc/transport/edge_handler.hpp"
#include "sbc/transport/stream_framer.hpp"

using namespace sbc;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static transport::EdgeHandler handler({});
  // The default policy chain too (its tables fill across inputs: bans and buckets get exercised).
  static const std::unique_ptr<policy::Chain> chain = [] {
    auto c = policy::make_chain(policy::PolicyConfig{});
    handler.set_policy(c.get());
    return c;
  }();
  // Digest authentication at the edge alone (no bans, so every input reaches it).
  static transport::EdgeHandler auth_handler({});
  static const std::unique_ptr<policy::Chain> auth_chain = [] {
    policy::PolicyConfig config;
    config.chain = {"auth"};
    config.auth.ban_after_failures = 0;
    config.auth.credentials =
        std::make_shared<const policy::Credentials>(policy::Credentials::parse(
            policy::Credentials::line("alice", "sbc", sbc::crypto::DigestAlgorithm::Md5, "pw"),
            "sbc"));
    auto c = policy::make_chain(config);
    auth_handler.set_policy(c.get());
    return c;
  }();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  sbc::FlowInfo flow;
  flow.remote_ip = "198.51.100.7";
  flow.remote_port = 5060;

  auto check_reply = [](const transport::EdgeHandler::Outcome& o) {
    if (o.action == transport::EdgeHandler::Action::Reply &&
        (o.reply.size() < 12 || o.reply.substr(0, 8) != "SIP/2.0 " ||
         o.reply.substr(o.reply.size() - 4) != "\r\n\r\n"))
      std::abort();  // every answer is a complete status line ... empty line
  };
  check_reply(handler.handle(input, sip::Framing::Datagram, flow));
  check_reply(auth_handler.handle(input, sip::Framing::Datagram, flow));

  // Frame the input as a stream, as a connection would, unit by unit.
  const transport::StreamFramer framer(4096);
  std::string_view rest = input;
  for (int guard = 0; guard < 1000 && !rest.empty(); ++guard) {
    const auto r = framer.next(rest);
    using Kind = transport::StreamFramer::Kind;
    if (r.kind == Kind::NeedMore) break;
    if (r.length > rest.size() || r.header_length > rest.size()) std::abort();
    if (r.kind == Kind::Error) {
      if (r.header_length > 0)
        check_reply(
            handler.reject_stream(rest.substr(0, r.header_length), r.status, r.reason, flow));
      break;
    }
    if (r.length == 0) std::abort();  // no progress would loop forever
    if (r.kind == Kind::Message)
      check_reply(handler.handle(rest.substr(0, r.length), sip::Framing::Stream, flow));
    rest.remove_prefix(r.length);
  }
  return 0;
}
