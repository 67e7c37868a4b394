#include "sbc/app/metric_families.hpp"

// The relay's and the cores' families.

namespace sbc::app {
namespace {

// Cores are labelled by their index (a bounded set: the order of core.targets, then the addresses
// DNS names yield as they come), never by address. A core that left the set (a name stopped
// naming it) keeps its counters but has no sbc_core_up sample.
void add_core_families(std::vector<metrics::Family>& families,
                       const std::vector<std::unique_ptr<proxy::Relay>>& relays) {
  using Type = metrics::Family::Type;
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  struct Core {
    bool up = false, active = false;
    std::uint64_t requests = 0, failures = 0, probes = 0;
  };
  std::vector<Core> cores;
  for (const auto& r : relays) {
    const proxy::CoreSet& set = r->cores();
    cores.resize(std::max(cores.size(), set.size()));
    for (std::size_t i = 0; i < set.size(); ++i) {
      // Each worker probes on its own; a core is up when any worker reaches it.
      cores[i].up = cores[i].up || set.stats(i).up.load(std::memory_order_relaxed);
      cores[i].active = cores[i].active || set.stats(i).active.load(std::memory_order_relaxed);
      cores[i].requests += set.stats(i).requests.value();
      cores[i].failures += set.stats(i).failures.value();
      cores[i].probes += set.stats(i).probes.value();
    }
  }
  metrics::Family up{"sbc_core_up",
                     "1 while the core answers (probes, requests), by index in core.targets.",
                     Type::Gauge,
                     {}};
  metrics::Family requests{
      "sbc_core_requests_total", "New requests sent to each core.", Type::Counter, {}};
  metrics::Family failures{"sbc_core_failures_total",
                           "Timeouts and 503s of each core that made the relay try another.",
                           Type::Counter,
                           {}};
  metrics::Family probes{
      "sbc_core_probes_total", "OPTIONS health probes sent to each core.", Type::Counter, {}};
  for (std::size_t i = 0; i < cores.size(); ++i) {
    const std::vector<std::pair<std::string, std::string>> label{{"core", std::to_string(i)}};
    if (cores[i].active) up.samples.push_back({label, cores[i].up ? 1.0 : 0.0});
    requests.samples.push_back({label, d(cores[i].requests)});
    failures.samples.push_back({label, d(cores[i].failures)});
    probes.samples.push_back({label, d(cores[i].probes)});
  }
  for (metrics::Family* f : {&up, &requests, &failures, &probes}) families.push_back(std::move(*f));
}

// The relay's counters, each declared once: family, help, label, and per label value the
// RelayStats member it sums over the workers. Adding a relay counter: a RelayStats member and
// one line here.
using RelayCounter = metrics::Counter proxy::RelayStats::*;
struct RelayCounterFamily {
  const char* name;
  const char* help;
  const char* label;  // "" for a family of one unlabelled sample
  std::vector<std::pair<const char*, RelayCounter>> samples;
};
using S = proxy::RelayStats;

const std::vector<RelayCounterFamily>& relay_counter_families() {
  static const std::vector<RelayCounterFamily> families = {
      {"sbc_relay_dialogs_total",
       "Dialogs through the relay: established (a 2xx to an INVITE outside a dialog) and ended "
       "(a 2xx to a BYE); their difference is the calls up.",
       "event",
       {{"established", &S::dialogs_established}, {"ended", &S::dialogs_ended}}},
      {"sbc_call_limit_rejections_total",
       "New calls refused by policy.calls, by the scope over its limit (user, source prefix, "
       "total; table: the limit's own table had no room for the key), and new calls from the "
       "outside refused because the dialog table (relay.max_dialogs) was full (dialogs).",
       "scope",
       {{"user", &S::call_limit_user},
        {"source", &S::call_limit_source},
        {"total", &S::call_limit_total},
        {"table", &S::call_limit_table},
        {"dialogs", &S::dialog_table_full}}},
      {"sbc_dialogs_timed_out_total",
       "Calls forgotten after relay.session_timeout_seconds (or their Session-Expires) without "
       "a refresh.",
       "",
       {{"", &S::dialogs_timed_out}}},
      {"sbc_media_unanchored_total",
       "SDP that went on with its addresses as they were (per call leg): media.on_failure pass "
       "after a failure, "
       "a call the dialog table could not hold, the ACK of a late offer whose answer failed.",
       "",
       {{"", &S::media_unanchored}}},
      {"sbc_media_srtp_bridged_total",
       "SDP offers bridged between SDES-SRTP outside and plain RTP inside (media.srtp), either "
       "way.",
       "",
       {{"", &S::media_srtp_bridged}}},
      {"sbc_media_srtp_refused_total",
       "SDP offers from the outside without SRTP on a listener where media.srtp requires it "
       "(answered 488).",
       "",
       {{"", &S::media_srtp_refused}}},
      {"sbc_relay_requests_total",
       "New requests relayed, by direction.",
       "direction",
       {{"to_core", &S::requests_to_core}, {"to_outside", &S::requests_to_outside}}},
      {"sbc_relay_responses_total",
       "Responses relayed, by direction.",
       "direction",
       {{"to_outside", &S::responses_to_outside}, {"to_core", &S::responses_to_core}}},
      {"sbc_relay_retransmissions_total",
       "Retransmissions: absorbed (a peer's, answered from transaction state) and sent (ours, "
       "UDP timers).",
       "kind",
       {{"absorbed", &S::retransmissions_absorbed}, {"sent", &S::retransmissions_sent}}},
      {"sbc_relay_stateless_forwarded_total",
       "Requests relayed without a transaction (ACK for 2xx).",
       "",
       {{"", &S::stateless_forwarded}}},
      {"sbc_relay_cancels_total", "CANCEL requests matched and relayed.", "", {{"", &S::cancels}}},
      {"sbc_relay_rejections_total",
       "Requests the relay answered itself instead of relaying, by reason.",
       "reason",
       {{"timeout", &S::timeouts},
        {"no_transaction", &S::no_transaction},
        {"flow_failed", &S::flow_failed},
        {"loop", &S::loops},
        {"not_routable", &S::not_routable},
        {"table_full", &S::table_full},
        {"memory", &S::memory_full},
        {"no_core", &S::no_core},
        {"dialog", &S::dialog_refused},
        {"untrusted_headers", &S::untrusted_refused},
        {"bad_sdp", &S::sdp_refused},
        {"sips_no_tls", &S::sips_refused},
        {"too_large", &S::too_large},
        {"draining", &S::draining}}},
      {"sbc_relay_messages_dropped_total",
       "Messages the relay dropped, by reason.",
       "reason",
       {{"stray_response", &S::stray_responses},
        {"amplification", &S::amplification_dropped},
        {"invalid_from_core", &S::inside_invalid},
        {"probe_mismatch", &S::probe_mismatches},
        {"bad_sdp", &S::sdp_dropped}}},
      {"sbc_relay_foreign_routes_removed_total",
       "Requests from the outside whose preloaded Route entries (not the SBC's own, not a "
       "dialog's route set) were removed.",
       "",
       {{"", &S::foreign_routes_removed}}},
      {"sbc_relay_failovers_total",
       "Requests sent on to another core after a timeout, a 503 or a transport error.",
       "",
       {{"", &S::failovers}}},
      {"sbc_relay_transport_errors_total",
       "Requests toward a core whose connection could not be opened or broke before they were "
       "sent (failed over, or answered 503).",
       "",
       {{"", &S::transport_errors}}},
  };
  return families;
}

std::uint64_t sum(const std::vector<std::unique_ptr<proxy::Relay>>& relays, RelayCounter counter) {
  std::uint64_t total = 0;
  for (const auto& r : relays) total += (r->stats().*counter).value();
  return total;
}

// The media relay's requests, sessions and latency, summed over the workers' relays.
void add_media_families(std::vector<metrics::Family>& families,
                        const std::vector<std::unique_ptr<proxy::Relay>>& relays) {
  using Type = metrics::Family::Type;
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  metrics::Family requests{"sbc_media_requests_total",
                           "Requests to the media relay (rtpengine) that completed, by command "
                           "and result (failed: no answer in time on any instance, an error, or "
                           "not sent).",
                           Type::Counter,
                           {}};
  constexpr std::array<const char*, 3> kCommands = {"offer", "answer", "delete"};
  for (std::size_t op = 0; op < kCommands.size(); ++op) {
    std::uint64_t ok = 0, failed = 0;
    for (const auto& r : relays) {
      ok += r->stats().media_ok[op].value();
      failed += r->stats().media_failed[op].value();
    }
    requests.samples.push_back({{{"command", kCommands[op]}, {"result", "ok"}}, d(ok)});
    requests.samples.push_back({{{"command", kCommands[op]}, {"result", "failed"}}, d(failed)});
  }
  families.push_back(std::move(requests));
  const std::uint64_t opened = sum(relays, &S::media_sessions_opened);
  const std::uint64_t closed = sum(relays, &S::media_sessions_closed);
  families.push_back({"sbc_media_sessions_active",
                      "Call legs whose media the media relay anchors now.",
                      Type::Gauge,
                      {{{}, d(opened > closed ? opened - closed : 0)}}});
  metrics::HistogramSnapshot latency;
  for (const auto& r : relays) r->stats().media_time.add_to(latency);
  families.push_back({"sbc_media_request_seconds",
                      "From a request to the media relay to its completion (answer, or failure "
                      "after the retries).",
                      Type::Histogram,
                      {{{}, latency}}});
}

}  // namespace

void add_relay_families(std::vector<metrics::Family>& families,
                        const std::vector<std::unique_ptr<proxy::Relay>>& relays) {
  using Type = metrics::Family::Type;
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  for (const RelayCounterFamily& f : relay_counter_families()) {
    metrics::Family family{f.name, f.help, Type::Counter, {}};
    for (const auto& [value, counter] : f.samples) {
      metrics::Sample::Labels labels;
      if (*f.label != '\0') labels.emplace_back(f.label, value);
      family.samples.push_back({std::move(labels), d(sum(relays, counter))});
    }
    families.push_back(std::move(family));
  }
  std::uint64_t bytes = 0;
  std::array<metrics::HistogramSnapshot, 4> transaction_time;  // as RelayStats::transaction_time
  for (const auto& r : relays) {
    bytes += r->transaction_bytes();
    for (std::size_t i = 0; i < transaction_time.size(); ++i)
      r->stats().transaction_time[i].add_to(transaction_time[i]);
  }
  families.push_back(
      gauge("sbc_relay_transactions_active", "Transactions in progress.",
            d(sum(relays, &S::transactions_started) - sum(relays, &S::transactions_ended))));
  add_media_families(families, relays);
  std::uint64_t dialogs = 0, established = 0;
  for (const auto& r : relays) {
    dialogs += r->active_dialogs();
    established += r->established_dialogs();
  }
  families.push_back({"sbc_dialogs_active",
                      "Calls the relays hold: attempts (an INVITE not answered yet) and "
                      "established dialogs (answered 2xx, not ended).",
                      Type::Gauge,
                      {{{{"state", "attempt"}}, d(dialogs - established)},
                       {{{"state", "established"}}, d(established)}}});
  families.push_back(gauge("sbc_relay_transaction_bytes",
                           "Bytes the transactions keep (requests, answers), all workers; each "
                           "worker's share is bounded by relay.max_transaction_bytes.",
                           d(bytes)));
  families.push_back(
      {"sbc_relay_transaction_seconds",
       "From a relayed request's arrival to its first final answer (the core's or the user "
       "agent's time, ringing included for INVITE; the SBC's own 408/503 too), by direction and "
       "method.",
       Type::Histogram,
       {{{{"direction", "outside_to_core"}, {"method", "invite"}}, transaction_time[0]},
        {{{"direction", "outside_to_core"}, {"method", "other"}}, transaction_time[1]},
        {{{"direction", "core_to_outside"}, {"method", "invite"}}, transaction_time[2]},
        {{{"direction", "core_to_outside"}, {"method", "other"}}, transaction_time[3]}}});
  add_core_families(families, relays);
}

std::uint64_t stateless_acks(const std::vector<std::unique_ptr<proxy::Relay>>& relays) {
  return sum(relays, &S::stateless_acks_absorbed);
}

}  // namespace sbc::app
