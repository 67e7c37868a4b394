#pragma once
// The running SBC: workers (one io_context each), listeners, relays, policy chains, capture and
// the metrics endpoint, built by start() in phases (each logs what it did, and a failure names
// what was wrong and stops the start) and stopped by stop(). run_daemon (daemon.cpp) drives it
// and handles signals, reloads and the drain.

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/exposition.hpp"
#include "sbc/app/admin_counters.hpp"
#include "sbc/app/config.hpp"
#include "sbc/app/policy_runtime.hpp"
#include "sbc/capture/live_capture.hpp"
#include "sbc/cluster/fleet_store.hpp"
#include "sbc/common/log.hpp"
#include "sbc/crypto/token_sealer.hpp"
#include "sbc/dns/resolver.hpp"
#include "sbc/proxy/registration_view.hpp"
#include "sbc/proxy/relay.hpp"
#include "sbc/transport/stream_session.hpp"
#include "sbc/transport/worker.hpp"
#include "tls/tls_server.hpp"

namespace sbc::app {

// "sip:ADDRESS:PORT[;transport=tcp|tls]" of a core target with an address (logs, sbc ctl).
std::string core_uri(const proxy::CoreTarget& core);

class Server {
 public:
  Server(const Config& config, logging::Log& log);
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server();

  // Builds and starts everything; false when a phase failed (logged), and nothing runs.
  bool start();
  // Drain: stop accepting connections and reading datagrams; connections finish what they hold.
  void begin_drain();
  // Stops the metrics endpoint, the workers and the capture, and logs the totals.
  void stop();

  // SIGHUP and the certificate file watch.
  bool certificate_files_changed() const;
  void reload_certificates(std::string_view why);
  PolicyRuntime& policies() { return *policies_; }
  void count_reload(bool ok) { ++(ok ? reloads_ok_ : reloads_failed_); }
  AdminCounters& admin_counters() noexcept { return admin_counters_; }

  // A reload (SIGHUP, sbc ctl reload) of `fresh`, a configuration that validated: applies the
  // policy, core.targets, relay.token_keys, capture and log.level, and names in `restart` what
  // only a restart applies (left as it runs). Nothing applies when `error` is set. On the control
  // thread; `post_to_control` runs a function there.
  struct ReloadReport {
    std::string error;                 // why nothing applied
    std::vector<std::string> applied;  // what changed ("core.targets: 2 cores" ...)
    std::vector<std::string> restart;  // what did not, and why
  };
  using Post = std::function<void(std::function<void()>)>;
  ReloadReport reload(const Config& fresh, const Post& post_to_control);

  // For the admin API (server_admin.cpp). Each answer comes on a worker's thread: the caller
  // posts it on to its own. Every worker holds every ban (a ban is imposed on all), so worker 0
  // answers for them all; the cores' state is worker 0's view, their counts are all workers'.
  struct BanView {
    std::string source;  // an address, or an IPv6 prefix ("2001:db8:1:2::/64")
    std::string scope;   // "all" (every transport) or "udp"
    std::int64_t remaining_seconds = 0;
    std::string stage, reason;       // what decided it ("scanner", "signature")
    std::int64_t since_seconds = 0;  // how long ago it started
    std::uint32_t offences = 0;      // bans of this source so far (each doubles the next)
  };
  struct CoreView {
    std::string uri, name;
    bool active = true, up = true, drained = false;
    std::uint64_t requests = 0, failures = 0, probes = 0;  // over all workers
    std::uint64_t in_flight = 0;                           // transactions, over all workers
    std::int64_t last_probe_ms = -1;                       // since its last answer (-1: none)
    double probe_rtt_ms = -1;                              // that probe's round trip
  };
  // Which bans to list: those whose source overlaps `source` (when set), of that stage and
  // reason (when not empty).
  struct BanFilter {
    std::optional<sbc::Cidr> source;
    std::string stage, reason;
  };
  void list_bans(BanFilter filter, std::function<void(std::vector<BanView>)> done);
  // Lifts the ban of `source` (an address; an IPv6 address names its prefix) on every worker;
  // `done(lifted)` after worker 0's, false when it had none. False (and no call) when `source`
  // is not an address.
  bool lift_ban(std::string_view source, const std::function<void(bool lifted)>& done);
  // Lifts every ban whose source overlaps `block`, on every worker; `done(n)` once all have:
  // how many sources were banned (the most any worker lifted; each holds every ban).
  void lift_bans(const sbc::Cidr& block, std::function<void(std::size_t lifted)> done);
  // The flows of every worker (flow_table.hpp): counts by transport, and at most `limit` of
  // them listed. A UDP peer is "held" once a REGISTER or a dialog was routed through it. And the
  // registrations the relays saw a 2xx for (proxy/registration_view.hpp; the core is the
  // registrar), over all workers.
  struct FlowView {
    std::string transport;  // "udp", "tcp", "tls"
    std::string remote;     // "ADDRESS:PORT" ("[v6]:PORT")
    unsigned worker = 0;
    bool held = false;     // UDP: registered or in a dialog
    std::string identity;  // TLS: the client certificate's verified subject, if any
  };
  struct Flows {
    std::size_t udp = 0, udp_held = 0, tcp = 0, tls = 0;
    std::vector<FlowView> list;                // at most the limit
    proxy::RegistrationSummary registrations;  // users: at most the limit
  };
  void list_flows(std::size_t limit, std::function<void(Flows)> done);
  void list_cores(std::function<void(std::vector<CoreView>)> done);
  // Drains (no new transactions; running ones finish) or enables the cores `which` names: a URI
  // as `cores` shows it, a core's DNS name (all its addresses), or IP:PORT. `done(named)` after
  // worker 0's, with how many cores it named there (0: none, nothing changed).
  void set_core_drained(std::string_view which, bool drained,
                        const std::function<void(std::size_t named)>& done);
  unsigned workers() const noexcept { return count_; }
  // An operator's unban (`sbc ctl unban`): told to the other replicas too (cluster.redis).
  void share_unban(std::string_view block);

 private:
  void add_core_counts(unsigned w, std::vector<CoreView> cores,
                       std::function<void(std::vector<CoreView>)> done);
  // The start-up phases, in order (server.cpp, server_relays.cpp).
  bool prepare_tls();
  void detect_ipv6();
  void announce_auth();
  void make_workers();
  bool start_capture();
  bool open_listeners();
  bool start_relays();
  void hand_unknown_byes();
  bool bind_inside(unsigned worker, const std::string& inside_ip,
                   const std::vector<transport::StreamCore>* stream_cores,
                   const transport::TlsConnector& tls_connector, proxy::RelaySettings& settings);
  // Cores by DNS name (server_dns.cpp): the resolver, and each new answer handed to the workers.
  struct CorePeers {
    std::vector<boost::asio::ip::udp::endpoint> udp;  // who may send to the inside UDP socket
    std::vector<transport::StreamCore> stream;        // who may connect to the inside port
  };
  static CorePeers core_peers(const std::vector<proxy::CoreTarget>& cores);
  std::optional<std::string> inside_route_target() const;
  bool start_resolver();
  std::unique_ptr<dns::Resolver> new_resolver(const std::vector<proxy::CoreTarget>& named);
  void cores_resolved(std::size_t name, const std::vector<dns::Address>& addresses);
  void start_workers();
  // The fleet (server_cluster.cpp): the store, and what it hands to the workers.
  void make_fleet();
  bool start_fleet();  // the store's thread, and its name's resolver; false: cannot start
  void fleet_ban(const cluster::FleetBan& ban);
  void fleet_strikes(const sbc::SourceKey& key, policy::BanCause cause, bool all);
  void add_cluster_families(std::vector<metrics::Family>& families) const;
  bool serve_metrics();
  // Reload parts (server_reload.cpp).
  bool cores_reloadable(const std::vector<proxy::CoreTarget>& targets, std::string& why) const;
  void apply_cores(const std::vector<proxy::CoreTarget>& targets,
                   std::unique_ptr<dns::Resolver> next_resolver, bool names_changed);
  void hand_out_cores();  // fixed_cores_ and what named_cores_ resolve to, to every worker
  void apply_token_keys(const std::vector<sbc::crypto::TokenSealer::Key>& configured);
  std::unique_ptr<capture::LiveCapture> make_capture(const capture::CaptureSettings& settings);
  void replace_capture(std::unique_ptr<capture::LiveCapture> next, const Post& post_to_control);
  struct CaptureTotals {
    double written = 0, dropped = 0, redacted = 0, refused = 0;
    bool ran = false;  // a capture ran and was replaced
    void add(const capture::LiveCapture& capture);
  };
  CaptureTotals capture_totals(bool& any) const;

  // The scrape (server_metrics.cpp): every family, read from the workers' counters.
  std::vector<metrics::Family> collect() const;
  void add_dns_families(std::vector<metrics::Family>& families) const;
  void add_server_families(std::vector<metrics::Family>& families) const;
  void log_totals() const;  // the "stopped" line
  bool ready() const;

  struct Listening {
    std::vector<std::unique_ptr<transport::UdpListener>> udp;
    std::vector<std::unique_ptr<transport::StreamAcceptor>> stream;
  };

  const Config& config_;
  logging::Log& log_;
  transport::Shared shared_;
  const transport::EdgeOptions options_;
  const unsigned count_;  // workers
  bool ipv6_available_ = true;
  std::vector<std::unique_ptr<tls::TlsServer>> tls_servers_;  // by listener, TLS ones only
  std::vector<std::unique_ptr<transport::Worker>> workers_;
  std::vector<Listening> listening_;  // by worker
  std::unique_ptr<PolicyRuntime> policies_;
  std::unique_ptr<cluster::FleetStore> fleet_;     // cluster.redis; none when standalone
  std::unique_ptr<dns::Resolver> store_resolver_;  // cluster.redis.address by DNS name
  // The running capture, those retiring (until every worker has let go of them) and the
  // totals of those gone: the scrape reads them under capture_mutex_ (never on the message path).
  std::unique_ptr<capture::LiveCapture> live_capture_;
  std::vector<std::unique_ptr<capture::LiveCapture>> retiring_captures_;
  CaptureTotals retired_capture_;
  mutable std::mutex capture_mutex_;
  // What a reload compares with and changes (control thread).
  std::vector<proxy::CoreTarget> core_targets_;                       // as configured now
  std::vector<sbc::crypto::TokenSealer::Key> configured_token_keys_;  // relay.token_keys now
  std::vector<sbc::crypto::TokenSealer::Key> token_keys_;             // sealing now (first seals)
  bool token_keys_configured_ = false;  // false: a random key made at start
  capture::CaptureSettings capture_settings_;
  bool inside_streams_ = false, inside_tls_ = false;   // what the inside opened at start
  std::vector<std::unique_ptr<proxy::Relay>> relays_;  // by worker; empty without a core
  // media.enabled: each worker's rtpengine client (on its io_context), which its relay uses;
  // stopped (stop()) before the relays go, gone before the workers.
  std::vector<std::unique_ptr<NgMediaPort>> media_ports_;
  // The cores: the resolver's thread reads them, and a reload changes them, under cores_mutex_.
  std::mutex cores_mutex_;
  std::vector<proxy::CoreTarget> fixed_cores_;  // the targets given as addresses
  std::vector<proxy::CoreTarget> named_cores_;  // the targets given as names
  // By named core: the resolver's thread writes it while it runs (a reload stops it first).
  std::vector<std::vector<dns::Address>> resolved_;
  std::atomic<std::size_t> static_cores_{0};  // fixed_cores_.size(), for the scrape
  std::unique_ptr<dns::Resolver> resolver_;
  std::array<double, 4> retired_resolutions_{};  // results of resolvers a reload replaced
  mutable std::mutex resolver_mutex_;            // the scrape against a reload's swap
  std::unique_ptr<metrics::HttpServer> metrics_server_;
  std::atomic<bool> ready_{true};
  std::atomic<std::uint64_t> reloads_ok_{0}, reloads_failed_{0};
  AdminCounters admin_counters_;
};

}  // namespace sbc::app
