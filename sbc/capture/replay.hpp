#pragma once
// `sbc replay`: every SIP message of a capture through validation and the policy chain, as if it
// arrived live from its source, with the capture's timestamps as the chain's clock (bans and
// rate limits evolve as they did on the wire). The report counts verdicts, and decisions by
// stage and reason with the first examples of each.

#include <cstdint>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "policy/policy_config.hpp"
#include "sbc/capture/pcap_reader.hpp"
#include "sbc/sip/message.hpp"

namespace sbc::capture {

struct ReplayOptions {
  sip::Limits limits;
  std::vector<std::string> proxy_require_supported;
  policy::PolicyConfig policy;
  std::size_t examples = 3;  // per stage and reason
  // Only messages to these ports are replayed (UDP to UDP listeners, TCP and TLS to stream
  // listeners): a capture holds both directions, and what the SBC sent is not for its policies.
  // Empty: every message.
  std::vector<std::uint16_t> udp_ports;
  std::vector<std::uint16_t> stream_ports;
};

struct ReplayReport {
  ReadResult read;
  std::uint64_t messages = 0;
  std::uint64_t requests = 0;
  std::uint64_t responses = 0;        // valid responses: nothing to decide (the relay's business)
  std::uint64_t not_to_listener = 0;  // skipped: not addressed to a listener port
  std::uint64_t junk = 0;             // replayed payloads that do not look like SIP at all
  std::map<std::string, std::uint64_t> by_protocol;
  // "pass", "respond NNN", "drop", "response" (a valid response: not the policies' business)
  std::map<std::string, std::uint64_t> verdicts;
  struct Reasons {
    std::uint64_t count = 0;
    std::vector<std::string> examples;  // "SOURCE:PORT PROTO  first line"
  };
  // Key: "stage/reason verdict", e.g. "scanner/user_agent drop", "validation/Malformed Via
  // header respond 400", "bans/banned drop".
  std::map<std::string, Reasons> decisions;
};

ReplayReport replay_capture(const std::string& path, const ReplayOptions& options);
void print_report(const ReplayReport& report, const std::string& path, std::ostream& out);

}  // namespace sbc::capture
