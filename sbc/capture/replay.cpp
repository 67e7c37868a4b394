#include "sbc/capture/replay.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <memory>
#include <ostream>

#include "sbc/common/address.hpp"
#include "sbc/sip/response.hpp"

namespace sbc::capture {
namespace {

std::string_view reason_of(const policy::Chain::Outcome& outcome) {
  const auto reasons = outcome.stage->reasons();
  return outcome.decision.reason < reasons.size() ? reasons[outcome.decision.reason] : "?";
}

std::string first_line(std::string_view bytes) {
  std::string_view line = bytes.substr(0, bytes.find_first_of("\r\n"));
  if (line.size() > 120) line = line.substr(0, 120);
  std::string out;
  for (char c : line) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

ReplayReport replay_capture(const std::string& path, const ReplayOptions& options) {
  ReplayReport report;
  const std::unique_ptr<policy::Chain> chain = policy::make_chain(options.policy);
  auto message = std::make_unique<sip::Message>();
  const std::vector<std::string_view> supported(options.proxy_require_supported.begin(),
                                                options.proxy_require_supported.end());

  auto record = [&](const CapturedMessage& m, const std::string& verdict, const std::string& stage,
                    std::string_view reason) {
    ++report.verdicts[verdict];
    if (stage.empty()) return;
    auto& r = report.decisions[stage + "/" + std::string(reason) + " " + verdict];
    ++r.count;
    if (r.examples.size() < options.examples) {
      std::string source = sbc::host_for_uri(m.source_ip);
      r.examples.push_back(source + ":" + std::to_string(m.source_port) + " " +
                           std::string(sbc::protocol_name(m.protocol)) + "  " +
                           first_line(m.bytes));
    }
  };

  auto to_listener = [&](const CapturedMessage& m) {
    const auto& ports = m.protocol == sbc::Protocol::Udp ? options.udp_ports : options.stream_ports;
    if (options.udp_ports.empty() && options.stream_ports.empty()) return true;
    return std::find(ports.begin(), ports.end(), m.destination_port) != ports.end();
  };

  const bool filtered = !options.udp_ports.empty() || !options.stream_ports.empty();
  ReaderLimits limits;
  limits.keep_non_sip_udp = filtered;
  report.read = read_capture_file(
      path,
      [&](const CapturedMessage& m) {
        // Junk sent to a listener is replayed (the edge's validation drops it); elsewhere it is
        // somebody else's traffic (DNS and the like).
        if (!m.looks_like_sip && !to_listener(m)) return;
        if (!to_listener(m)) return void(++report.not_to_listener);
        ++report.messages;
        if (!m.looks_like_sip) ++report.junk;
        ++report.by_protocol[std::string(sbc::protocol_name(m.protocol))];
        sbc::FlowInfo flow;
        flow.protocol = m.protocol;
        flow.remote_ip = m.source_ip;
        flow.remote_port = m.source_port;
        flow.local_ip = m.destination_ip;
        flow.local_port = m.destination_port;
        // The capture's clock drives bans and buckets: only differences between packets matter.
        const policy::TimePoint now{std::chrono::microseconds(m.time_us)};
        if (chain && !chain->admit(flow, now)) return record(m, "drop", "bans", "banned");
        const sip::Framing framing =
            m.protocol == sbc::Protocol::Udp ? sip::Framing::Datagram : sip::Framing::Stream;
        sip::Verdict verdict = message->parse(m.bytes, framing, options.limits);
        if (verdict.kind == sip::Verdict::Kind::Drop)
          return record(m, "drop", "validation", verdict.reason);
        if (message->is_request()) ++report.requests;
        if (verdict.kind == sip::Verdict::Kind::Respond) {
          // As at the edge: the policies see invalid requests too, and may silence them.
          if (chain && message->is_request()) {
            const auto outcome = chain->decide(*message, /*valid=*/false);
            if (outcome.decision.kind == policy::Decision::Kind::Drop)
              return record(m, "drop", std::string(outcome.stage->name()), reason_of(outcome));
          }
          // An ACK is never answered, and a request without Via, From, To, Call-ID and CSeq
          // cannot be: the edge drops both.
          if (message->method() == sip::Method::Ack || !sip::can_answer(*message))
            return record(m, "drop", "validation", verdict.reason);
          return record(m, "respond " + std::to_string(verdict.status), "validation",
                        verdict.reason);
        }
        if (!message->is_request()) {
          ++report.responses;
          return record(m, "response", "", "");
        }
        if (chain) {
          const auto outcome = chain->decide(*message);
          if (!outcome.decision.proceeds()) {
            const std::string stage(outcome.stage->name());
            const std::string_view reason = reason_of(outcome);
            if (outcome.decision.kind == policy::Decision::Kind::Drop ||
                message->method() == sip::Method::Ack)
              return record(m, "drop", stage, reason);
            return record(m, "respond " + std::to_string(outcome.decision.status), stage, reason);
          }
        }
        verdict = message->check_proxy_rules({supported});
        if (!verdict.is_valid())
          return record(m, "respond " + std::to_string(verdict.status), "validation",
                        verdict.reason);
        record(m, "pass", "", "");
      },
      limits);
  return report;
}

void print_report(const ReplayReport& report, const std::string& path, std::ostream& out) {
  const ReadStats& s = report.read.stats;
  out << "replay " << path << "\n";
  out << "packets: " << s.packets << ", SIP messages: " << report.messages << " (";
  bool first = true;
  for (const auto& [protocol, n] : report.by_protocol) {
    out << (first ? "" : ", ") << protocol << " " << n;
    first = false;
  }
  out << "), requests: " << report.requests << ", responses: " << report.responses << "\n";
  if (report.not_to_listener != 0)
    out << "not replayed: " << report.not_to_listener
        << " messages not addressed to a listener port (--all replays them)\n";
  out << "skipped: non-IP " << s.non_ip << ", not UDP/TCP " << s.not_udp_tcp << ", fragments "
      << s.fragments << ", truncated " << s.truncated << ", malformed " << s.malformed
      << ", not SIP " << s.not_sip - report.junk << ", keep-alives " << s.keepalives << "\n";
  if (report.junk != 0)
    out << "replayed although not SIP at all (sent to a listener): " << report.junk << "\n";
  out << "tcp: retransmitted " << s.tcp_retransmitted << ", out of order " << s.tcp_out_of_order
      << ", gaps " << s.tcp_gaps << ", framing errors " << s.tcp_framing_errors << ", incomplete "
      << s.tcp_incomplete << ", evicted " << s.tcp_evicted << "\n";
  if (!report.read.error.empty()) out << "warning: " << report.read.error << "\n";
  out << "verdicts:\n";
  for (const auto& [verdict, n] : report.verdicts)
    out << "  " << std::left << std::setw(14) << verdict << std::right << std::setw(8) << n << "\n";
  out << "by stage and reason:\n";
  for (const auto& [key, r] : report.decisions) {
    out << "  " << key << ": " << r.count << "\n";
    for (const auto& e : r.examples) out << "      e.g. " << e << "\n";
  }
}

}  // namespace sbc::capture
