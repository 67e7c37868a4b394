#include "sbc/app/metric_families.hpp"
#include "sbc/app/server.hpp"
#include "sbc/common/address.hpp"

// What a scrape shows: every family, summed over the workers' counters (each counter has one
// writer, its worker; reading it here is race-free).

namespace sbc::app {
namespace {

using logging::LogLevel;
using Type = metrics::Family::Type;
using W = transport::Worker;

// The workers' counters and gauges, each declared once: family, help, type, and per sample its
// labels and how to read it from one worker (summed over the workers). Adding a worker metric:
// the counter where it is counted, and a line here.
struct WorkerSample {
  metrics::Sample::Labels labels;
  std::uint64_t (*read)(W&);
};
struct WorkerFamily {
  const char* name;
  const char* help;
  Type type;
  std::vector<WorkerSample> samples;
};

const transport::EdgeStats& edge(W& w) {
  return w.handler().stats();
}
template <std::size_t P>
std::uint64_t received(W& w) {
  return edge(w).received[P].value();
}
template <std::size_t P>
std::uint64_t sent(W& w) {
  return edge(w).sent[P].value();
}
template <std::size_t P, std::size_t K>
std::uint64_t by_kind(W& w) {
  return edge(w).received_by_kind[P][K].value();
}
template <std::size_t C>
std::uint64_t answered(W& w) {
  return edge(w).answers[C].value();
}
template <transport::StreamCloseReason R>
std::uint64_t closed(W& w) {
  return w.stream_closed(R);
}
template <metrics::Counter transport::InsideStreamStats::*C>
std::uint64_t core_connections(W& w) {
  const transport::InsideStreams* inside = w.inside_streams();
  return inside ? (inside->stats().*C).value() : 0;
}
template <metrics::Counter transport::EdgeStats::*C>
std::uint64_t edge_counter(W& w) {
  return (edge(w).*C).value();
}
using E = transport::EdgeStats;
using I = transport::InsideStreamStats;

const std::vector<WorkerFamily>& worker_families() {
  static const std::vector<WorkerFamily> families = {
      {"sbc_messages_received_total",
       "SIP messages received, by transport.",
       Type::Counter,
       {{{{"transport", "udp"}}, received<0>},
        {{{"transport", "tcp"}}, received<1>},
        {{{"transport", "tls"}}, received<2>}}},
      {"sbc_messages_sent_total",
       "SIP messages sent to the outside (the edge's answers and relayed messages), by "
       "transport.",
       Type::Counter,
       {{{{"transport", "udp"}}, sent<0>},
        {{{"transport", "tcp"}}, sent<1>},
        {{{"transport", "tls"}}, sent<2>}}},
      {"sbc_requests_received_total",
       "SIP requests received (parsed far enough to tell), by transport and method class.",
       Type::Counter,
       {{{{"transport", "udp"}, {"method", "register"}}, by_kind<0, 0>},
        {{{"transport", "udp"}, {"method", "invite"}}, by_kind<0, 1>},
        {{{"transport", "udp"}, {"method", "other"}}, by_kind<0, 2>},
        {{{"transport", "tcp"}, {"method", "register"}}, by_kind<1, 0>},
        {{{"transport", "tcp"}, {"method", "invite"}}, by_kind<1, 1>},
        {{{"transport", "tcp"}, {"method", "other"}}, by_kind<1, 2>},
        {{{"transport", "tls"}, {"method", "register"}}, by_kind<2, 0>},
        {{{"transport", "tls"}, {"method", "invite"}}, by_kind<2, 1>},
        {{{"transport", "tls"}, {"method", "other"}}, by_kind<2, 2>}}},
      {"sbc_responses_received_total",
       "SIP responses received from the outside, by transport.",
       Type::Counter,
       {{{{"transport", "udp"}}, by_kind<0, 3>},
        {{{"transport", "tcp"}}, by_kind<1, 3>},
        {{{"transport", "tls"}}, by_kind<2, 3>}}},
      {"sbc_connections_active",
       "Open connections by transport (refreshed every second).",
       Type::Gauge,
       {{{{"transport", "tcp"}},
         [](W& w) -> std::uint64_t { return w.connections(sbc::Protocol::Tcp); }},
        {{{"transport", "tls"}},
         [](W& w) -> std::uint64_t { return w.connections(sbc::Protocol::Tls); }}}},
      {"sbc_core_connections_total",
       "Connections toward the core (TCP, TLS): opened by the SBC, accepted from a core, failed "
       "(could not be opened, or broke with messages unsent), refused (not from a core address, "
       "or over the bound).",
       Type::Counter,
       {{{{"event", "opened"}}, core_connections<&I::opened>},
        {{{"event", "accepted"}}, core_connections<&I::accepted>},
        {{{"event", "failed"}}, core_connections<&I::failed>},
        {{{"event", "refused"}}, core_connections<&I::refused>}}},
      {"sbc_inside_dropped_total",
       "Datagrams on the inside UDP socket dropped unread, by reason (not_a_core: not from a UDP "
       "core's address and port, core.strict_source_port).",
       Type::Counter,
       {{{{"reason", "not_a_core"}}, [](W& w) { return w.inside_dropped(); }}}},
      {"sbc_udp_flows_evicted_total",
       "UDP flows that lost their place to a newer peer: evicted (an unverified peer's flow "
       "removed) or demoted (a held peer's flow, of a registration or dialog, moved to the "
       "unverified tier by a newer held one; it is not removed).",
       Type::Counter,
       {{{{"event", "evicted"}}, [](W& w) -> std::uint64_t { return w.flows().udp_evicted(); }},
        {{{"event", "demoted"}}, [](W& w) -> std::uint64_t { return w.flows().udp_demoted(); }}}},
      {"sbc_flows_active",
       "Flows the edge can send requests down (refreshed every second): TCP/TLS connections and "
       "remembered UDP peers.",
       Type::Gauge,
       {{{{"kind", "stream"}}, [](W& w) -> std::uint64_t { return w.stream_flows(); }},
        {{{"kind", "udp"}}, [](W& w) -> std::uint64_t { return w.udp_flows(); }}}},
      {"sbc_responses_sent_total",
       "Responses the edge itself sent, by status class.",
       Type::Counter,
       {{{{"class", "1xx"}}, answered<1>},
        {{{"class", "2xx"}}, answered<2>},
        {{{"class", "3xx"}}, answered<3>},
        {{{"class", "4xx"}}, answered<4>},
        {{{"class", "5xx"}}, answered<5>},
        {{{"class", "6xx"}}, answered<6>}}},
      {"sbc_invalid_messages_total",
       "Messages that failed validation, by what the edge did with them.",
       Type::Counter,
       {{{{"action", "answered"}}, edge_counter<&E::invalid_answered>},
        {{{"action", "dropped"}}, edge_counter<&E::invalid_dropped>}}},
      {"sbc_amplification_refused_total",
       "UDP answers not sent: larger than their request, to a source that has not shown it "
       "receives our answers, with its budget of extra bytes spent (policy.amplification).",
       Type::Counter,
       {{{}, edge_counter<&E::amplification_refused>}}},
      {"sbc_options_answered_total",
       "OPTIONS addressed to the SBC itself, answered 200.",
       Type::Counter,
       {{{}, edge_counter<&E::options_answered>}}},
      {"sbc_unrouted_requests_total",
       "Valid requests answered 503 because no relay is configured.",
       Type::Counter,
       {{{}, edge_counter<&E::unrouted_answered>}}},
      {"sbc_tls_handshakes_total",
       "TLS handshakes on the TLS listeners, by result and negotiated version.",
       Type::Counter,
       {{{{"result", "ok"}, {"version", "TLSv1.2"}},
         [](W& w) { return edge(w).tls_handshakes_ok[0].value(); }},
        {{{"result", "ok"}, {"version", "TLSv1.3"}},
         [](W& w) { return edge(w).tls_handshakes_ok[1].value(); }},
        {{{"result", "failed"}, {"version", "none"}}, edge_counter<&E::tls_handshakes_failed>},
        {{{"result", "timeout"}, {"version", "none"}},
         edge_counter<&E::tls_handshakes_timed_out>}}},
      {"sbc_stream_connections_closed_total",
       "TCP and TLS connections of the outside the SBC closed, by reason: send_queue_full (a "
       "message did not fit the bounded outgoing queue: the peer stopped reading), write_timeout "
       "(queued bytes unread for transport.write_timeout_ms), banned (the source was banned).",
       Type::Counter,
       {{{{"reason", "send_queue_full"}}, closed<transport::StreamCloseReason(0)>},
        {{{"reason", "write_timeout"}}, closed<transport::StreamCloseReason(1)>},
        {{{"reason", "banned"}}, closed<transport::StreamCloseReason(2)>}}},
  };
  return families;
}

std::uint64_t sum(const std::vector<std::unique_ptr<W>>& workers, std::uint64_t (*read)(W&)) {
  std::uint64_t total = 0;
  for (const auto& w : workers) total += read(*w);
  return total;
}

void add_worker_families(std::vector<metrics::Family>& families,
                         const std::vector<std::unique_ptr<W>>& workers) {
  for (const WorkerFamily& f : worker_families()) {
    metrics::Family family{f.name, f.help, f.type, {}};
    for (const WorkerSample& sample : f.samples)
      family.samples.push_back({sample.labels, static_cast<double>(sum(workers, sample.read))});
    families.push_back(std::move(family));
  }
}

}  // namespace

std::vector<metrics::Family> Server::collect() const {
  std::vector<metrics::Family> families;
  families.push_back({"sbc_build_info",
                      "Build information; the value is always 1.",
                      Type::Gauge,
                      {{{{"version", SBC_VERSION},
                         {"compiler", SBC_COMPILER},
                         {"build_type", SBC_BUILD_TYPE},
                         {"flags", SBC_BUILD_FLAGS}},
                        1}}});
  families.push_back(
      gauge("sbc_ready", "1 while the SBC accepts traffic, 0 while draining.", ready_ ? 1 : 0));
  families.push_back(gauge("sbc_workers", "Worker threads.", static_cast<double>(count_)));
  add_worker_families(families, workers_);
  families.push_back({"sbc_messages_discarded_total",
                      "Valid messages that need no answer, by reason.",
                      Type::Counter,
                      {{{{"reason", "ack"}},
                        static_cast<double>(sum(workers_, edge_counter<&E::acks_absorbed>) +
                                            stateless_acks(relays_))},
                       {{{"reason", "response_without_transaction"}},
                        static_cast<double>(sum(workers_, edge_counter<&E::responses_dropped>))}}});
  add_relay_families(families, relays_);
  add_dns_families(families);
  policies_->add_families(families);
  add_server_families(families);
  add_cluster_families(families);
  return families;
}

// The families of the server as a whole: reloads, capture, connection limits, TLS, latency.
void Server::add_server_families(std::vector<metrics::Family>& families) const {
  families.push_back({"sbc_config_reloads_total",
                      "Reloads of the configuration (SIGHUP, sbc ctl reload), by result "
                      "(failed: the new file was refused and nothing changed).",
                      Type::Counter,
                      {{{{"result", "ok"}}, static_cast<double>(reloads_ok_.load())},
                       {{{"result", "failed"}}, static_cast<double>(reloads_failed_.load())}}});
  {
    metrics::Family admin{"sbc_admin_requests_total",
                          "Requests to the admin API (sbc ctl), by interface (unix: the socket, "
                          "http: admin.http) and result (ok, error: refused or failed, "
                          "unauthorized: no or a wrong bearer token).",
                          Type::Counter,
                          {}};
    using C = AdminCounters;
    for (const auto& [interface, i] : {std::pair{"unix", C::Unix}, std::pair{"http", C::Http}})
      for (const auto& [result, r] : {std::pair{"ok", C::Ok}, std::pair{"error", C::Error},
                                      std::pair{"unauthorized", C::Unauthorized}})
        if (i == C::Http || r != C::Unauthorized)
          admin.samples.push_back({{{"interface", interface}, {"result", result}},
                                   static_cast<double>(admin_counters_.value(i, r))});
    families.push_back(std::move(admin));
  }
  bool capturing = false;
  const CaptureTotals capture = capture_totals(capturing);
  if (capturing) {
    families.push_back(
        {"sbc_capture_packets_total",
         "SIP messages for the pcap capture, by result (dropped: queue full or unwritable).",
         Type::Counter,
         {{{{"result", "written"}}, capture.written}, {{{"result", "dropped"}}, capture.dropped}}});
    families.push_back(counter("sbc_capture_credentials_redacted_total",
                               "Credential values (the Digest response) blanked in captured "
                               "messages before they reach the disk (capture.redact_credentials).",
                               capture.redacted));
    families.push_back(counter("sbc_capture_files_refused_total",
                               "Capture file names skipped because they existed already (a file "
                               "or symlink this run did not create): never written through.",
                               capture.refused));
  }
  metrics::HistogramSnapshot tls_handshake_duration;
  std::array<metrics::HistogramSnapshot, 2> relay_processing;  // by transport::RelayDirection
  for (const auto& w : workers_) {
    edge(*w).tls_handshake_duration.add_to(tls_handshake_duration);
    for (std::size_t i = 0; i < 2; ++i) edge(*w).relay_processing[i].add_to(relay_processing[i]);
  }
  families.push_back(gauge("sbc_stream_connections_active", "Open TCP and TLS connections.",
                           static_cast<double>(shared_.limiter.total())));
  std::array<std::uint64_t, transport::ConnectionLimiter::kRefusals> refused{};
  for (const Listening& l : listening_)
    for (const auto& a : l.stream)
      for (std::size_t r = 0; r < refused.size(); ++r)
        refused[r] += a->refused(static_cast<transport::ConnectionLimiter::Refusal>(r));
  families.push_back(
      {"sbc_stream_connections_refused_total",
       "TCP and TLS connections refused by the connection limits, by reason: total "
       "(max_connections, or draining), reserved (only the share kept for trusted and "
       "authenticated sources is left), source (max_connections_per_source), network "
       "(max_connections_per_ipv4_24 / _per_ipv6_48).",
       metrics::Family::Type::Counter,
       {{{{"reason", "total"}}, static_cast<double>(refused[0])},
        {{{"reason", "reserved"}}, static_cast<double>(refused[1])},
        {{{"reason", "source"}}, static_cast<double>(refused[2])},
        {{{"reason", "network"}}, static_cast<double>(refused[3])}}});
  families.push_back({"sbc_tls_handshake_duration_seconds",
                      "Time from accepting a TLS connection to its completed handshake.",
                      metrics::Family::Type::Histogram,
                      {{{}, tls_handshake_duration}}});
  families.push_back(
      {"sbc_relay_processing_seconds",
       "The SBC's own time for a relayed message, from its arrival to its hand-off toward "
       "the other side, by direction.",
       metrics::Family::Type::Histogram,
       {{{{"direction", "outside_to_core"}}, relay_processing[0]},
        {{{"direction", "core_to_outside"}}, relay_processing[1]}}});
  metrics::Family expiry{"sbc_tls_certificate_expiry_timestamp_seconds",
                         "Earliest notAfter of the certificates of each TLS listener.",
                         metrics::Family::Type::Gauge,
                         {}};
  for (std::size_t i = 0; i < config_.listeners.size(); ++i) {
    if (!tls_servers_[i]) continue;
    // The port alone is not unique: two TLS listeners may share it on two addresses.
    const Listener& l = config_.listeners[i];
    const std::string address = sbc::host_for_uri(l.address);
    expiry.samples.push_back(
        {{{"listener", address + ":" + std::to_string(l.port)}, {"port", std::to_string(l.port)}},
         tls_servers_[i]->earliest_expiry()});
  }
  families.push_back(std::move(expiry));
}

void Server::log_totals() const {
  auto total = [this](std::uint64_t (*read)(W&)) { return std::to_string(sum(workers_, read)); };
  log_(LogLevel::Info, "stopped",
       {{"received", std::to_string(sum(workers_, received<0>) + sum(workers_, received<1>) +
                                    sum(workers_, received<2>))},
        {"invalid_answered", total(edge_counter<&E::invalid_answered>)},
        {"invalid_dropped", total(edge_counter<&E::invalid_dropped>)},
        {"options_answered", total(edge_counter<&E::options_answered>)},
        {"unrouted_answered", total(edge_counter<&E::unrouted_answered>)}});
}

}  // namespace sbc::app
