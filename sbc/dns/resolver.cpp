#include "sbc/dns/resolver.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <poll.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "sbc/common/address.hpp"
#include "sbc/dns/dns_answer.hpp"

namespace sbc::dns {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int kClassIn = 1;
constexpr int kTypeSrv = 33;
// The loop wakes at least this often: a stop() is seen within it.
constexpr int kMaxWaitMs = 100;

Result result_of(int status) {
  switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
      return Result::NotFound;
    case ARES_ETIMEOUT:
      return Result::Timeout;
    default:
      return Result::Error;
  }
}

std::string describe(const std::vector<Address>& addresses) {
  std::string text;
  for (const Address& a : addresses) {
    if (!text.empty()) text += ", ";
    sbc::append_host(text, a.ip);
    text += ':';
    text += std::to_string(a.port);
    if (a.priority != 1 || a.weight != 1)
      text +=
          " (priority " + std::to_string(a.priority) + ", weight " + std::to_string(a.weight) + ")";
  }
  return text;
}

}  // namespace

struct Resolver::Impl {
  struct Job {
    Name name;
    std::vector<Address> current;
    Clock::time_point due{};
    bool in_flight = false;
    bool failing = false;  // the last resolution failed (logged once per streak)
    int pending = 0;       // queries in flight
    std::vector<Address> building;
    std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
    int failure = ARES_SUCCESS;
  };
  // One query's callback argument.
  struct Query {
    Impl* impl;
    std::size_t job;
    std::uint16_t port;
    unsigned priority, weight;
  };

  Impl(Settings s, std::vector<Name> names, OnChange change, Log logger, ResolverStats& counters)
      : settings(std::move(s)),
        on_change(std::move(change)),
        log(std::move(logger)),
        stats(counters) {
    for (Name& n : names) {
      Job job;
      job.name = std::move(n);
      jobs.push_back(std::move(job));
    }
    if (ares_library_init(ARES_LIB_INIT_ALL) != ARES_SUCCESS)
      throw std::runtime_error("dns: c-ares could not start");
    ares_options options{};
    options.timeout = static_cast<int>(settings.timeout.count());
    options.tries = 2;
    if (const int rc = ares_init_options(&channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
        rc != ARES_SUCCESS)
      throw std::runtime_error(std::string("dns: c-ares could not start: ") + ares_strerror(rc));
    if (!settings.servers.empty()) {
      std::string csv;
      for (const std::string& server : settings.servers) csv += (csv.empty() ? "" : ",") + server;
      if (const int rc = ares_set_servers_ports_csv(channel, csv.c_str()); rc != ARES_SUCCESS) {
        ares_destroy(channel);
        throw std::runtime_error("dns.servers: \"" + csv + "\": " + ares_strerror(rc));
      }
    }
    stats.unresolved.store(jobs.size());
  }

  ~Impl() {
    destroying = true;
    ares_destroy(channel);  // calls pending callbacks with ARES_EDESTRUCTION
    ares_library_cleanup();
  }

  void start(std::size_t j) {
    Job& job = jobs[j];
    job.in_flight = true;
    job.building.clear();
    job.ttl = std::numeric_limits<std::uint32_t>::max();
    job.failure = ARES_SUCCESS;
    // c-ares may answer within the call (a name in /etc/hosts, an address): this count keeps
    // the job open until every query is issued, so it finishes once.
    job.pending = 1;
    if (job.name.port != 0) {
      lookup(j, job.name.host, job.name.port, job.name.priority, job.name.weight);
    } else {
      ++job.pending;
      const std::string srv = srv_name(job.name.host, job.name.protocol);
      ares_search(channel, srv.c_str(), kClassIn, kTypeSrv, &Impl::srv_answered,
                  new Query{this, j, 0, 0, 0});
    }
    settle(j);
  }

  // One query of job j is done (its callback ran, or its issuing did): the last one finishes it.
  void settle(std::size_t j) {
    if (--jobs[j].pending == 0) finish(j);
  }

  void lookup(std::size_t j, const std::string& host, std::uint16_t port, unsigned priority,
              unsigned weight) {
    ++jobs[j].pending;
    ares_addrinfo_hints hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_flags = ARES_AI_NOSORT;
    ares_getaddrinfo(channel, host.c_str(), nullptr, &hints, &Impl::addresses_answered,
                     new Query{this, j, port, priority, weight});
  }

  static void srv_answered(void* arg, int status, int /*timeouts*/, unsigned char* answer,
                           int length) {
    std::unique_ptr<Query> q(static_cast<Query*>(arg));
    if (status == ARES_EDESTRUCTION || q->impl->destroying) return;
    Impl& self = *q->impl;
    Job& job = self.jobs[q->job];
    ares_srv_reply* records = nullptr;
    if (status == ARES_SUCCESS && ares_parse_srv_reply(answer, length, &records) == ARES_SUCCESS) {
      const auto ttl = min_answer_ttl(
          std::span<const unsigned char>(answer, static_cast<std::size_t>(length)), kTypeSrv);
      if (ttl) job.ttl = std::min(job.ttl, *ttl);
      for (ares_srv_reply* r = records; r != nullptr; r = r->next) {
        // RFC 2782: a target of "." says the service is not offered at this name.
        if (r->host == nullptr || std::string_view(r->host).empty() ||
            std::string_view(r->host) == ".")
          continue;
        self.lookup(q->job, r->host, r->port, r->priority, r->weight);
      }
      ares_free_data(records);
    } else if (status == ARES_ENOTFOUND || status == ARES_ENODATA || status == ARES_SUCCESS) {
      // No SRV record (RFC 3263 section 4.2): the name's own addresses, on the default port.
      self.lookup(q->job, job.name.host, default_port(job.name.protocol), job.name.priority,
                  job.name.weight);
    } else {
      job.failure = status;
    }
    self.settle(q->job);  // after the lookups it started: they hold the job open
  }

  static void addresses_answered(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
    std::unique_ptr<Query> q(static_cast<Query*>(arg));
    if (status == ARES_EDESTRUCTION || q->impl->destroying) {
      if (result != nullptr) ares_freeaddrinfo(result);
      return;
    }
    Impl& self = *q->impl;
    Job& job = self.jobs[q->job];
    if (status == ARES_SUCCESS && result != nullptr) {
      for (ares_addrinfo_node* n = result->nodes; n != nullptr; n = n->ai_next) {
        char text[INET6_ADDRSTRLEN] = {};
        const void* raw =
            n->ai_family == AF_INET
                ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(n->ai_addr)->sin_addr)
                : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(n->ai_addr)->sin6_addr);
        if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
            inet_ntop(n->ai_family, raw, text, sizeof text) == nullptr)
          continue;
        job.building.push_back({text, q->port, q->priority, q->weight});
        job.ttl = std::min(job.ttl, static_cast<std::uint32_t>(std::max(0, n->ai_ttl)));
      }
    } else if (job.failure == ARES_SUCCESS) {
      job.failure = status;
    }
    if (result != nullptr) ares_freeaddrinfo(result);
    self.settle(q->job);
  }

  void finish(std::size_t j) {
    Job& job = jobs[j];
    job.in_flight = false;
    const auto now = Clock::now();
    const std::string& host = job.name.host;
    if (job.building.empty()) {
      const Result result = job.failure == ARES_SUCCESS ? Result::NotFound : result_of(job.failure);
      ++stats.results[static_cast<std::size_t>(result)];
      job.due = now + settings.min_ttl;
      if (!job.failing) {
        const std::string why =
            job.failure == ARES_SUCCESS ? "no address" : ares_strerror(job.failure);
        log("warn", "core name " + host + " did not resolve (" + why + "): " +
                        (job.current.empty() ? std::string("requests get 503 until it does")
                                             : "keeping its " + std::to_string(job.current.size()) +
                                                   " cached address(es)") +
                        "; trying again every " + std::to_string(settings.min_ttl.count()) + " s");
      }
      job.failing = true;
      return;
    }
    ++stats.results[static_cast<std::size_t>(Result::Ok)];
    std::sort(job.building.begin(), job.building.end(), [](const Address& a, const Address& b) {
      return std::tie(a.priority, a.ip, a.port, a.weight) <
             std::tie(b.priority, b.ip, b.port, b.weight);
    });
    job.building.erase(std::unique(job.building.begin(), job.building.end()), job.building.end());
    const std::uint32_t floor = static_cast<std::uint32_t>(settings.min_ttl.count());
    const std::uint32_t ceiling = static_cast<std::uint32_t>(settings.max_ttl.count());
    const std::uint32_t ttl = std::clamp(
        job.ttl == std::numeric_limits<std::uint32_t>::max() ? floor : job.ttl, floor, ceiling);
    // Refreshed before it expires: at nine tenths of its TTL, never sooner than the floor.
    job.due = now + std::chrono::seconds{std::max(floor, ttl - ttl / 10)};
    const bool recovered = job.failing;
    job.failing = false;
    if (job.building == job.current) {
      if (recovered) log("info", "core name " + host + " resolves again, unchanged");
      return;
    }
    job.current = job.building;
    std::uint64_t addresses = 0, unresolved = 0;
    for (const Job& other : jobs) {
      addresses += other.current.size();
      unresolved += other.current.empty() ? 1 : 0;
    }
    stats.addresses.store(addresses);
    stats.unresolved.store(unresolved);
    log("info", "core name " + host + ": " + describe(job.current) + " (TTL " +
                    std::to_string(ttl) + " s)");
    on_change(j, job.current);
  }

  // One turn of the loop: start what is due, wait for sockets or timeouts, process them.
  void turn() {
    const auto now = Clock::now();
    auto next_due = now + std::chrono::milliseconds{kMaxWaitMs};
    for (std::size_t j = 0; j < jobs.size(); ++j) {
      if (!jobs[j].in_flight && now >= jobs[j].due) start(j);
      if (!jobs[j].in_flight) next_due = std::min(next_due, jobs[j].due);
    }
    std::array<ares_socket_t, ARES_GETSOCK_MAXNUM> sockets{};
    const int bits = ares_getsock(channel, sockets.data(), ARES_GETSOCK_MAXNUM);
    std::array<pollfd, ARES_GETSOCK_MAXNUM> fds{};
    nfds_t count = 0;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short events = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
      if (events != 0) fds[count++] = pollfd{sockets[static_cast<std::size_t>(i)], events, 0};
    }
    timeval longest{0, static_cast<suseconds_t>(kMaxWaitMs) * 1000}, tv{};
    const timeval* wait = ares_timeout(channel, &longest, &tv);
    auto ms = static_cast<int>(wait->tv_sec * 1000 + wait->tv_usec / 1000);
    const auto until_due =
        std::chrono::duration_cast<std::chrono::milliseconds>(next_due - Clock::now()).count();
    ms = std::clamp(static_cast<int>(std::min<long long>(ms, until_due)), 0, kMaxWaitMs);
    if (poll(fds.data(), count, ms) > 0) {
      for (nfds_t i = 0; i < count; ++i) {
        const bool readable = (fds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
        const bool writable = (fds[i].revents & POLLOUT) != 0;
        if (readable || writable)
          ares_process_fd(channel, readable ? fds[i].fd : ARES_SOCKET_BAD,
                          writable ? fds[i].fd : ARES_SOCKET_BAD);
      }
    }
    ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts
  }

  Settings settings;
  OnChange on_change;
  Log log;
  ResolverStats& stats;
  std::vector<Job> jobs;
  ares_channel channel = nullptr;
  bool destroying = false;
};

Resolver::Resolver(Settings settings, std::vector<Name> names, OnChange on_change, Log log)
    : impl_(std::make_unique<Impl>(std::move(settings), std::move(names), std::move(on_change),
                                   std::move(log), stats_)) {}

Resolver::~Resolver() {
  stop();
}

void Resolver::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void Resolver::stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

void Resolver::run() {
  while (!stopping_.load()) impl_->turn();
}

}  // namespace sbc::dns
