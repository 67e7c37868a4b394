// ng_ctl: drives real rtpengine instances through sbc::media::NgClient, one command per run, for
// tests/integration/rtpengine_test.sh.
//
// usage: ng_ctl [--timeout-ms N] [--retries N] IP:PORT[=WEIGHT][,IP:PORT...] COMMAND ARGS
//   ping [COUNT]                           COUNT pings to the first instance, round trips printed
//   offer CALLID FROMTAG IN.sdp OUT.sdp [FROM_IF TO_IF]
//   answer CALLID FROMTAG TOTAG IN.sdp OUT.sdp
//   query CALLID                           packets per tag and in total
//   delete CALLID
//   list                                   the calls of every instance
//   spread COUNT IN.sdp                    COUNT calls offered, queried and deleted: where each
//                                          went, and whether its commands stuck to it
// Prints "ok ..." and exits 0, or "error KIND reason=... elapsed_ms=N" and exits 1.
#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "sbc/media/ng_client.hpp"

namespace {

using sbc::media::NgClient;
using sbc::media::NgResult;
namespace bencode = sbc::media::bencode;
using Clock = std::chrono::steady_clock;

boost::asio::io_context io;

// Runs the loop until `finished` (every request has its own deadline, so this ends).
void wait(const bool& finished) {
  while (!finished && io.run_one() > 0) {
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

int report_error(const NgResult& result, Clock::time_point since) {
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since);
  std::printf("error %s reason=%.*s elapsed_ms=%lld instance=%d\n",
              std::string(sbc::media::to_string(result.error)).c_str(),
              static_cast<int>(result.reason.size()), result.reason.data(),
              static_cast<long long>(elapsed.count()), result.instance);
  return 1;
}

// Sums the "stats" of every stream of every media of a query's tag.
std::int64_t tag_packets(const bencode::Value& tag) {
  std::int64_t packets = 0;
  for (const auto media : tag.get("medias"))
    for (const auto stream : media.get("streams"))
      packets += stream.get("stats").get("packets").integer();
  return packets;
}

// One request, waited for; `print` sees the result while its views are valid.
template <typename Issue, typename Print>
int one(NgClient& client, const Issue& issue, const Print& print) {
  bool finished = false;
  int status = 1;
  const auto since = Clock::now();
  issue(client, [&](const NgResult& result) {
    finished = true;
    status = result.ok() ? print(result) : report_error(result, since);
  });
  wait(finished);
  return status;
}

int ping(NgClient& client, int count) {
  std::vector<long long> rtts;
  for (int i = 0; i < count; ++i) {
    const int status = one(
        client, [](NgClient& c, auto done) { c.ping(0, std::move(done)); },
        [&](const NgResult& result) {
          rtts.push_back(static_cast<long long>(result.latency.count()));
          return 0;
        });
    if (status != 0) return status;
  }
  std::sort(rtts.begin(), rtts.end());
  long long sum = 0;
  for (const auto rtt : rtts) sum += rtt;
  std::printf("ok pong count=%d rtt_us mean=%lld p50=%lld p99=%lld max=%lld\n", count, sum / count,
              rtts[rtts.size() / 2], rtts[rtts.size() * 99 / 100], rtts.back());
  return 0;
}

int offer_or_answer(NgClient& client, int argc, char** argv, bool offer) {
  const int needed = offer ? 4 : 5;
  if (argc < needed) return 2;
  const std::string call_id = argv[0], from_tag = argv[1], to_tag = offer ? "" : argv[2];
  const std::string sdp = read_file(argv[needed - 2]);
  const std::string out_path = argv[needed - 1];
  sbc::media::NgOptions options;
  if (offer && argc >= 6) {
    options.from_interface = argv[4];
    options.to_interface = argv[5];
  }
  return one(
      client,
      [&](NgClient& c, auto done) {
        if (offer) {
          c.offer(call_id, from_tag, sdp, options, std::move(done));
        } else {
          c.answer(call_id, from_tag, to_tag, sdp, options, std::move(done));
        }
      },
      [&](const NgResult& result) {
        std::ofstream(out_path, std::ios::binary) << result.sdp;
        std::printf("ok instance=%d latency_us=%lld failovers=%llu\n", result.instance,
                    static_cast<long long>(result.latency.count()),
                    static_cast<unsigned long long>(client.counters().failovers));
        return 0;
      });
}

int query(NgClient& client, const std::string& call_id) {
  return one(
      client, [&](NgClient& c, auto done) { c.query(call_id, std::move(done)); },
      [&](const NgResult& result) {
        for (auto it = result.response.get("tags").begin(); it != result.response.get("tags").end();
             ++it) {
          const auto name = (*it).str();
          ++it;
          std::printf("tag %.*s packets %lld\n", static_cast<int>(name.size()), name.data(),
                      static_cast<long long>(tag_packets(*it)));
        }
        const auto rtp = result.response.get("totals").get("RTP");
        std::printf("ok instance=%d totals packets %lld bytes %lld\n", result.instance,
                    static_cast<long long>(rtp.get("packets").integer()),
                    static_cast<long long>(rtp.get("bytes").integer()));
        return 0;
      });
}

int list(NgClient& client) {
  for (std::size_t i = 0; i < client.instance_count(); ++i) {
    const int status = one(
        client, [i](NgClient& c, auto done) { c.list(i, std::move(done)); },
        [i](const NgResult& result) {
          for (const auto call : result.response.get("calls"))
            std::printf("instance %zu call %.*s\n", i, static_cast<int>(call.str().size()),
                        call.str().data());
          return 0;
        });
    if (status != 0) return status;
  }
  std::printf("ok\n");
  return 0;
}

// Calls that must each keep to one instance: offered, queried, deleted. A query or delete sent
// to another instance than the offer's would be refused (rtpengine: "Unknown call-id").
int spread(NgClient& client, int count, const std::string& sdp) {
  std::map<int, int> per_instance;
  const sbc::media::NgOptions options;
  for (int i = 0; i < count; ++i) {
    const std::string call_id = "spread-" + std::to_string(i);
    int where = -1;
    int status = one(
        client,
        [&](NgClient& c, auto done) { c.offer(call_id, "ft", sdp, options, std::move(done)); },
        [&](const NgResult& result) {
          where = result.instance;
          return 0;
        });
    const auto stuck = [&](const NgResult& result) { return result.instance == where ? 0 : 1; };
    if (status == 0)
      status = one(
          client, [&](NgClient& c, auto done) { c.query(call_id, std::move(done)); }, stuck);
    if (status == 0)
      status = one(
          client, [&](NgClient& c, auto done) { c.remove(call_id, "", std::move(done)); }, stuck);
    if (status != 0) return status;
    ++per_instance[where];
  }
  for (const auto& [instance, calls] : per_instance)
    std::printf("instance %d calls %d\n", instance, calls);
  std::printf("ok sticky failovers=%llu\n",
              static_cast<unsigned long long>(client.counters().failovers));
  return 0;
}

bool parse_instances(const std::string& text, sbc::media::NgSettings& settings) {
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = std::min(text.find(',', start), text.size());
    std::string item = text.substr(start, comma - start);
    unsigned weight = 1;
    if (const auto eq = item.find('='); eq != std::string::npos) {
      weight = static_cast<unsigned>(std::stoul(item.substr(eq + 1)));
      item.resize(eq);
    }
    const auto colon = item.rfind(':');
    if (colon == std::string::npos) return false;
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(item.substr(0, colon), ec);
    if (ec) return false;
    const auto port = static_cast<unsigned short>(std::stoul(item.substr(colon + 1)));
    settings.instances.push_back(
        {"ng" + std::to_string(settings.instances.size()), {address, port}, weight});
    start = comma + 1;
  }
  return !settings.instances.empty();
}

int run(int argc, char** argv) {
  sbc::media::NgSettings settings;
  settings.ping_interval_s = 0;  // one-shot runs: the requests themselves find dead instances
  int arg = 1;
  for (; arg + 1 < argc && argv[arg][0] == '-'; arg += 2) {
    const std::string option = argv[arg];
    const auto value = static_cast<unsigned>(std::stoul(argv[arg + 1]));
    if (option == "--timeout-ms")
      settings.timeout_ms = value;
    else if (option == "--retries")
      settings.retries = value;
    else
      return 2;
  }
  if (argc - arg < 2 || !parse_instances(argv[arg], settings)) return 2;
  const std::string command = argv[arg + 1];
  char** rest = argv + arg + 2;
  const int nrest = argc - arg - 2;
  NgClient client(io, settings);
  std::string error;
  if (!client.start(error)) {
    std::printf("error start %s\n", error.c_str());
    return 1;
  }
  if (command == "ping") return ping(client, nrest > 0 ? std::atoi(rest[0]) : 1);
  if (command == "offer") return offer_or_answer(client, nrest, rest, true);
  if (command == "answer") return offer_or_answer(client, nrest, rest, false);
  if (command == "query" && nrest == 1) return query(client, rest[0]);
  if (command == "list") return list(client);
  if (command == "delete" && nrest == 1)
    return one(
        client, [&](NgClient& c, auto done) { c.remove(rest[0], "", std::move(done)); },
        [](const NgResult& result) {
          std::printf("ok instance=%d\n", result.instance);
          return 0;
        });
  if (command == "spread" && nrest == 2)
    return spread(client, std::atoi(rest[0]), read_file(rest[1]));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const int status = run(argc, argv);
  if (status == 2) std::fprintf(stderr, "usage: see the head of tests/tools/ng_ctl.cpp\n");
  std::fflush(stdout);
  return status;
}
