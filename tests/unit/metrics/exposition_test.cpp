#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "metrics/counter.hpp"
#include "metrics/exposition.hpp"
#include "metrics/histogram.hpp"

using namespace sbc::metrics;

TEST_CASE("families render in the Prometheus text format", "[metrics]") {
  const std::string text = render_text({
      {"sbc_messages_received_total",
       "SIP messages received, by transport.",
       Family::Type::Counter,
       {{{{"transport", "udp"}}, 3}, {{{"transport", "tls"}}, 1}}},
      {"sbc_ready", "1 while ready.", Family::Type::Gauge, {{{}, 1}}},
  });
  CHECK(text.find("# HELP sbc_messages_received_total SIP messages received, by transport.\n") !=
        std::string::npos);
  CHECK(text.find("# TYPE sbc_messages_received_total counter\n") != std::string::npos);
  CHECK(text.find("sbc_messages_received_total{transport=\"udp\"} 3\n") != std::string::npos);
  CHECK(text.find("sbc_messages_received_total{transport=\"tls\"} 1\n") != std::string::npos);
  CHECK(text.find("# TYPE sbc_ready gauge\nsbc_ready 1\n") != std::string::npos);
}

TEST_CASE("a counter counts", "[metrics]") {
  Counter c;
  CHECK(c.value() == 0);
  c.inc();
  c.inc(41);
  CHECK(c.value() == 42);
}

namespace {

constexpr std::array<std::uint64_t, 3> kBounds{1'000, 10'000, 100'000};  // 1, 10, 100 µs

}  // namespace

TEST_CASE("a histogram puts each observation in the first bucket that holds it", "[metrics]") {
  Histogram h(kBounds);
  h.observe_ns(500);      // <= 1 µs
  h.observe_ns(1'000);    // on the bound: le is inclusive
  h.observe_ns(5'000);    // <= 10 µs
  h.observe_ns(200'000);  // +Inf only
  h.observe_ns(-3);       // a negative difference counts as zero
  HistogramSnapshot s;
  h.add_to(s);
  CHECK(s.upper_bounds == std::vector<double>{1e-6, 1e-5, 1e-4});
  CHECK(s.cumulative == std::vector<std::uint64_t>{3, 4, 4});
  CHECK(s.count == 5);
  CHECK(s.sum == Approx(206.5e-6));
}

TEST_CASE("the scrape adds up the workers' histograms", "[metrics]") {
  Histogram a(kBounds), b(kBounds);
  a.observe_ns(500);
  a.observe_ns(50'000);
  b.observe_ns(5'000);
  b.observe_ns(5'000);
  b.observe_ns(1'000'000);
  HistogramSnapshot s;
  a.add_to(s);
  b.add_to(s);
  CHECK(s.cumulative == std::vector<std::uint64_t>{1, 3, 4});
  CHECK(s.count == 5);
  CHECK(s.sum == Approx(1'060'500e-9));
}

TEST_CASE("a histogram renders cumulative buckets with le labels, +Inf, _sum and _count",
          "[metrics]") {
  Histogram h(kBounds);
  h.observe_ns(500);
  h.observe_ns(5'000);
  h.observe_ns(2'000'000);
  HistogramSnapshot s;
  h.add_to(s);
  const std::string text = render_text({{"sbc_relay_processing_seconds",
                                         "Relay time.",
                                         Family::Type::Histogram,
                                         {{{{"direction", "outside_to_core"}}, s}}}});
  INFO(text);
  CHECK(text.find("# TYPE sbc_relay_processing_seconds histogram\n") != std::string::npos);
  const std::string p = "sbc_relay_processing_seconds";
  const std::string l = "{direction=\"outside_to_core\"";
  CHECK(text.find(p + "_bucket" + l + ",le=\"1e-06\"} 1\n") != std::string::npos);
  CHECK(text.find(p + "_bucket" + l + ",le=\"1e-05\"} 2\n") != std::string::npos);
  CHECK(text.find(p + "_bucket" + l + ",le=\"0.0001\"} 2\n") != std::string::npos);
  CHECK(text.find(p + "_bucket" + l + ",le=\"+Inf\"} 3\n") != std::string::npos);
  CHECK(text.find(p + "_count" + l + "} 3\n") != std::string::npos);
  CHECK(text.find(p + "_sum" + l + "} 0.0020055\n") != std::string::npos);
  // Exactly one +Inf bucket: prometheus-cpp must not add a second one.
  CHECK(text.find("+Inf") == text.rfind("+Inf"));
}

TEST_CASE("the fixed bucket sets are ascending and fit a histogram", "[metrics]") {
  auto ascending = [](std::span<const std::uint64_t> b) {
    return b.size() <= Histogram::kMaxBounds && std::is_sorted(b.begin(), b.end()) &&
           std::adjacent_find(b.begin(), b.end()) == b.end();
  };
  CHECK(ascending(kMessageProcessingBounds));
  CHECK(ascending(kHandshakeBounds));
}
