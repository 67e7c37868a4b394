// The capture's places in the rest of the SBC: the edge's tap, the live capture behind it, the
// `capture` configuration section and `sbc replay`.
#include <catch2/catch.hpp>

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <sstream>
#include <thread>

#include "policy/policy_config.hpp"
#include "sbc/app/commands.hpp"
#include "sbc/app/config.hpp"
#include "sbc/capture/live_capture.hpp"
#include "sbc/capture/pcap_reader.hpp"
#include "sbc/capture/pcap_writer.hpp"
#include "sbc/capture/replay.hpp"
#include "sbc/transport/edge_handler.hpp"

using namespace sbc;
using sbc::Protocol;

namespace {

struct TempDir {
  std::string path;
  TempDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "sbc-capture-edge-XXXXXX").string();
    path = mkdtemp(pattern.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::string options(std::string_view user_agent = "sipsak 0.9.8", std::string_view user = "") {
  return "OPTIONS sip:" + std::string(user) +
         "192.0.2.10 SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7:40000;branch=z9hG4bK77\r\n"
         "Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:x@192.0.2.10>\r\n"
         "Call-ID: c1@x\r\nCSeq: 5 OPTIONS\r\nUser-Agent: " +
         std::string(user_agent) + "\r\nContent-Length: 0\r\n\r\n";
}

sbc::FlowInfo flow(std::string_view remote_ip = "198.51.100.7") {
  sbc::FlowInfo f;
  f.protocol = Protocol::Udp;
  f.local_ip = "192.0.2.10";
  f.local_port = 5060;
  f.remote_ip = remote_ip;
  f.remote_port = 40000;
  return f;
}

struct RecordingTap : transport::MessageTap {
  std::vector<std::pair<std::string, bool>> seen;
  void observe(std::string_view bytes, const sbc::FlowInfo&, bool rejected) noexcept override {
    seen.emplace_back(std::string(bytes), rejected);
  }
};

}  // namespace

TEST_CASE("the edge shows every message to its tap, marked when refused", "[capture][edge]") {
  transport::EdgeHandler handler({});
  auto chain = policy::make_chain(policy::PolicyConfig{});
  handler.set_policy(chain.get());
  RecordingTap tap;
  handler.set_tap(&tap);
  const auto f = flow();
  handler.handle(options(), sip::Framing::Datagram, f);                   // 200 to self
  handler.handle("OPTIONS nonsense\r\n\r\n", sip::Framing::Datagram, f);  // 400
  handler.handle(options("sipsak", "bob@"), sip::Framing::Datagram, f);   // 503 unrouted
  const auto scanner = flow("203.0.113.5");
  handler.handle(options("friendly-scanner"), sip::Framing::Datagram, scanner);  // dropped
  handler.handle(options(), sip::Framing::Datagram, scanner);                    // banned
  handler.reject_stream("INVITE sip:a@b SIP/2.0\r\n\r\n", 400, "Missing Content-Length", f);
  REQUIRE(tap.seen.size() == 6);
  CHECK_FALSE(tap.seen[0].second);
  CHECK(tap.seen[1].second);
  CHECK_FALSE(tap.seen[2].second);
  CHECK(tap.seen[3].second);
  CHECK(tap.seen[4].second);
  CHECK(tap.seen[5].second);
  CHECK(tap.seen[3].first == options("friendly-scanner"));
}

TEST_CASE("live capture writes what the workers hand over, and counts what does not fit",
          "[capture]") {
  TempDir dir;
  capture::CaptureSettings settings;
  settings.enabled = true;
  settings.directory = dir.path;
  settings.queue_messages = 16;
  {
    capture::LiveCapture live(settings, 2);
    transport::MessageTap& tap0 = live.tap(0);
    transport::MessageTap& tap1 = live.tap(1);
    // Not started yet: the queues fill up and then drop.
    for (int i = 0; i < 20; ++i) tap0.observe(options(), flow(), true);
    tap1.observe(options("w1"), flow(), true);
    tap1.observe(options("not rejected"), flow(), false);  // what: rejected
    CHECK(live.dropped() == 4);
    live.start();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (live.written() < 17 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    tap0.observe(options("after start"), flow(), true);
    live.stop();
    CHECK(live.written() == 18);
  }
  std::vector<std::string> user_agents;
  const auto r = capture::read_capture_file(
      dir.path + "/sbc-00000001.pcap", [&](const capture::CapturedMessage& m) {
        const auto at = m.bytes.find("User-Agent: ");
        user_agents.push_back(m.bytes.substr(at + 12, m.bytes.find('\r', at) - at - 12));
      });
  REQUIRE(r.ok);
  REQUIRE(user_agents.size() == 18);
  CHECK(std::count(user_agents.begin(), user_agents.end(), "w1") == 1);
  CHECK(user_agents.back() == "after start");

  SECTION("what: all on chosen listener ports") {
    settings.what = capture::CaptureSettings::What::All;
    settings.ports = {5080};
    TempDir other;
    settings.directory = other.path;
    capture::LiveCapture all(settings, 1);
    all.tap(0).observe(options(), flow(), false);  // port 5060: not chosen
    auto f = flow();
    f.local_port = 5080;
    all.tap(0).observe(options(), f, false);
    all.start();
    all.stop();
    CHECK(all.written() == 1);
  }
}

TEST_CASE("the capture section is read and checked", "[capture][config]") {
  const app::Config defaults = app::parse_config(app::default_config_text(), "<default>");
  CHECK_FALSE(defaults.capture.enabled);
  CHECK(defaults.capture.what == capture::CaptureSettings::What::Rejected);
  const app::Config c = app::parse_config(R"(
listeners:
  - {transport: udp, port: 5060}
  - {transport: tcp, port: 5070}
capture:
  enabled: true
  directory: /tmp
  what: all
  listeners: [5070]
  max_file_bytes: 100000
  max_files: 5
)",
                                          "test.yaml");
  CHECK(c.capture.enabled);
  CHECK(c.capture.directory == "/tmp");
  CHECK(c.capture.what == capture::CaptureSettings::What::All);
  CHECK(c.capture.ports == std::vector<std::uint16_t>{5070});
  CHECK(c.capture.max_file_bytes == 100000);
  CHECK(c.capture.max_files == 5);
  auto error_of = [](const std::string& yaml) -> std::string {
    try {
      app::parse_config(yaml, "test.yaml");
    } catch (const app::ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  };
  CHECK(error_of("capture: {what: some}\n") ==
        "test.yaml:1: capture.what: must be rejected or all (got \"some\")");
  CHECK(error_of("capture: {max_files: 0}\n") ==
        "test.yaml:1: capture.max_files: must be between 1 and 100000 (got 0)");
  CHECK(error_of("capture: {max_file_bytes: 100}\n") ==
        "test.yaml:1: capture.max_file_bytes: must be between 4096 and 1099511627776 (got 100)");
  CHECK(error_of("capture: {what: all, listeners: [5999]}\n") ==
        "test.yaml:1: capture.listeners: port 5999 is not the port of a configured listener");
  CHECK(error_of("capture: {listeners: [5060]}\n") ==
        "test.yaml:1: capture.listeners: only applies with what: all (rejected messages are "
        "captured on every listener)");
  CHECK(error_of("capture: {size: 1}\n") == "test.yaml:1: capture.size: unknown key");
  CHECK(error_of("capture: {enabled: maybe}\n") ==
        "test.yaml:1: capture.enabled: must be true or false");
}

TEST_CASE("replay runs a capture through validation and the policy chain on capture time",
          "[capture][replay]") {
  TempDir dir;
  {
    capture::PcapWriter writer({dir.path, "sbc", 1u << 20, 2});
    std::int64_t t = 1700000000000000;
    auto add = [&](std::string ip, std::string bytes, Protocol protocol = Protocol::Udp) {
      capture::CapturedMessage m;
      m.time_us = t += 1000;
      m.protocol = protocol;
      m.source_ip = std::move(ip);
      m.source_port = 40000;
      m.destination_ip = "192.0.2.10";
      m.destination_port = 5060;
      m.bytes = std::move(bytes);
      REQUIRE(writer.write(m));
    };
    add("198.51.100.7", options());
    add("198.51.100.7", options("sipsak", "bob@"), Protocol::Tcp);
    add("203.0.113.5", options("friendly-scanner"));
    add("203.0.113.5", options());  // banned by then
    std::string broken = options();
    broken.replace(broken.find("Max-Forwards: 70"), 16, "Max-Forwards: many");
    add("198.51.100.8", broken);  // answerable: 400
    add("198.51.100.9", "\x16\x03\x01 not SIP at all");
    t += 3600LL * 1000000;  // an hour later the ban has expired
    add("203.0.113.5", options());
    // The SBC's own answer, in the other direction.
    capture::CapturedMessage answer;
    answer.time_us = t + 1;
    answer.source_ip = "192.0.2.10";
    answer.source_port = 5060;
    answer.destination_ip = "198.51.100.7";
    answer.destination_port = 40000;
    answer.bytes =
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 198.51.100.7:40000;branch=z9hG4bK77\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:x@192.0.2.10>;tag=b\r\n"
        "Call-ID: c1@x\r\nCSeq: 5 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    REQUIRE(writer.write(answer));
  }
  const std::string path = dir.path + "/sbc-00000001.pcap";
  capture::ReplayOptions to_5060;
  to_5060.udp_ports = {5060};
  to_5060.stream_ports = {5060};
  const capture::ReplayReport report = capture::replay_capture(path, to_5060);
  REQUIRE(report.read.ok);
  CHECK(report.messages == 7);
  CHECK(report.junk == 1);
  CHECK(report.not_to_listener == 1);
  CHECK_FALSE(report.verdicts.contains("response"));
  CHECK(report.verdicts.at("pass") == 3);
  CHECK(report.verdicts.at("drop") == 3);
  std::uint64_t validation_drops = 0;
  for (const auto& [key, reasons] : report.decisions)
    if (key.starts_with("validation/") && key.ends_with(" drop")) validation_drops += reasons.count;
  CHECK(validation_drops == 1);
  CHECK(report.verdicts.at("respond 400") == 1);
  REQUIRE(report.decisions.contains("scanner/signature drop"));
  CHECK(report.decisions.at("scanner/signature drop").count == 1);
  CHECK(report.decisions.at("scanner/signature drop").examples.at(0) ==
        "203.0.113.5:40000 UDP  OPTIONS sip:192.0.2.10 SIP/2.0");
  CHECK(report.decisions.at("bans/banned drop").count == 1);
  CHECK(report.by_protocol.at("TCP") == 1);

  std::ostringstream out, err;
  const std::string_view args[] = {"replay", path};
  CHECK(app::main_command(args, out, err) == 0);
  CHECK(out.str().find("scanner/signature drop: 1") != std::string::npos);
  CHECK(out.str().find("e.g. 203.0.113.5:40000 UDP  OPTIONS sip:192.0.2.10 SIP/2.0") !=
        std::string::npos);
  CHECK(out.str().find("not replayed: 1 messages not addressed to a listener port") !=
        std::string::npos);
  std::ostringstream all;
  const std::string_view every[] = {"replay", "--all", path};
  CHECK(app::main_command(every, all, err) == 0);
  CHECK(all.str().find("response             1") != std::string::npos);
  const std::string_view missing[] = {"replay", "/nonexistent/x.pcap"};
  CHECK(app::main_command(missing, out, err) == 2);
  CHECK(err.str().find("cannot read the capture") != std::string::npos);
  const std::string_view none[] = {"replay"};
  CHECK(app::main_command(none, out, err) == 2);
}
