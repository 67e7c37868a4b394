#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "sbc/transport/reject_log.hpp"

using namespace sbc::transport;
using sbc::FlowInfo;
using sbc::Protocol;
using sbc::sip::Verdict;

namespace {

constexpr std::int64_t kSecond = 1'000'000'000;

FlowInfo from(std::string_view ip, std::uint16_t port, Protocol protocol = Protocol::Udp) {
  FlowInfo f;
  f.protocol = protocol;
  f.remote_ip = ip;
  f.remote_port = port;
  return f;
}

}  // namespace

TEST_CASE("a rejection is one logfmt line naming worker, transport, source, action and reason",
          "[reject_log]") {
  std::vector<std::string> lines;
  RejectLog log(3, 10, [&](std::string_view l) { lines.emplace_back(l); });
  log.rejected(from("192.0.2.7", 5060), Verdict::drop("Refused by policy"), false, kSecond);
  log.rejected(from("2001:db8::1", 5061, Protocol::Tls),
               Verdict::respond(405, "Method Not Allowed"), true, kSecond);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0].find(" level=info msg=\"message rejected\" worker=3 transport=udp "
                      "source=192.0.2.7:5060 action=drop status=none "
                      "reason=\"Refused by policy\"\n") != std::string::npos);
  CHECK(lines[1].find("transport=tls source=[2001:db8::1]:5061 action=answer status=405 "
                      "reason=\"Method Not Allowed\"\n") != std::string::npos);
  CHECK(lines[0].starts_with("ts="));
}

TEST_CASE("at most per_second lines a second, the rest are counted and summarised",
          "[reject_log]") {
  std::vector<std::string> lines;
  RejectLog log(0, 3, [&](std::string_view l) { lines.emplace_back(l); });
  const FlowInfo f = from("198.51.100.1", 5060);
  for (int i = 0; i < 10; ++i) log.rejected(f, Verdict::drop("Banned source"), false, kSecond);
  CHECK(lines.size() == 3);  // the burst
  CHECK(log.suppressed_pending() == 7);
  log.flush();
  REQUIRE(lines.size() == 4);
  CHECK(lines[3].find("msg=\"rejection lines suppressed by the log rate limit\" worker=0 "
                      "suppressed=7\n") != std::string::npos);
  CHECK(log.suppressed_pending() == 0);
  log.flush();  // nothing held back: no line
  CHECK(lines.size() == 4);

  // Half a second refills half the bucket: one and a half lines, so one.
  for (int i = 0; i < 5; ++i)
    log.rejected(f, Verdict::drop("Banned source"), false, kSecond + kSecond / 2);
  CHECK(log.written() == 4);
  CHECK(log.suppressed_pending() == 4);
  // A long quiet spell refills the bucket to its size, not beyond.
  for (int i = 0; i < 10; ++i)
    log.rejected(f, Verdict::drop("Banned source"), false, 100 * kSecond);
  CHECK(log.written() == 7);
}

TEST_CASE("a rate of zero logs nothing", "[reject_log]") {
  int lines = 0;
  RejectLog log(0, 0, [&](std::string_view) { ++lines; });
  log.rejected(from("192.0.2.7", 5060), Verdict::drop("Refused by policy"), false, kSecond);
  log.flush();
  CHECK(lines == 0);
}
