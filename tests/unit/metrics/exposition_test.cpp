#include <catch2/catch.hpp>

#include <string>

#include "metrics/counter.hpp"
#include "metrics/exposition.hpp"

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
