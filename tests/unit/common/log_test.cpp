#include <catch2/catch.hpp>

#include <algorithm>
#include <regex>
#include <sstream>

#include "sbc/app/config.hpp"
#include "sbc/common/log.hpp"

using namespace sbc::app;
using namespace sbc::logging;

TEST_CASE("a log event is one logfmt line with ts, level, msg and fields", "[log]") {
  std::ostringstream out;
  Log log(out, LogLevel::Info);
  log(LogLevel::Warn, "listener ready", {{"transport", "tls"}, {"port", "5061"}});
  const std::string line = out.str();
  CHECK(std::regex_match(
      line,
      std::regex(R"(ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=warn msg="listener ready" )"
                 R"(transport=tls port=5061\n)")));
}

TEST_CASE("events below the configured level are not written", "[log]") {
  std::ostringstream out;
  Log log(out, LogLevel::Warn);
  log(LogLevel::Info, "chatty");
  log(LogLevel::Debug, "chattier");
  CHECK(out.str().empty());
  log(LogLevel::Error, "bad");
  log("warn", "by name");
  CHECK(out.str().find("level=error msg=\"bad\"") != std::string::npos);
  CHECK(out.str().find("level=warn msg=\"by name\"") != std::string::npos);
  CHECK(log.enabled(LogLevel::Warn));
  CHECK_FALSE(log.enabled(LogLevel::Info));
}

TEST_CASE("an unknown level name is logged as an error rather than lost", "[log]") {
  std::ostringstream out;
  Log log(out, LogLevel::Error);
  log("loud", "still here");
  CHECK(out.str().find("level=error msg=\"still here\"") != std::string::npos);
}

TEST_CASE("values cannot forge a line or a field", "[log]") {
  CHECK(logfmt_value("plain") == "plain");
  CHECK(logfmt_value("") == "\"\"");
  CHECK(logfmt_value("two words") == "\"two words\"");
  CHECK(logfmt_value("a=b") == "\"a=b\"");
  CHECK(logfmt_value("say \"hi\"\\") == R"("say \"hi\"\\")");
  CHECK(logfmt_value("x\r\nlevel=error msg=forged") == R"("x\r\nlevel=error msg=forged")");
  CHECK(logfmt_value(std::string_view("\x01\x7f", 2)) == R"("\x01\x7f")");
  std::ostringstream out;
  Log log(out, LogLevel::Debug);
  log(LogLevel::Info, "file \"x\"\nlevel=error", {{"path", "/tmp/a b"}});
  const std::string text = out.str();
  CHECK(std::count(text.begin(), text.end(), '\n') == 1);
  CHECK(text.find(R"(msg="file \"x\"\nlevel=error" path="/tmp/a b")") != std::string::npos);
}

TEST_CASE("log.level is read and checked", "[log][config]") {
  CHECK(parse_config(default_config_text(), "<default>").log_level == LogLevel::Info);
  CHECK(parse_config("log: {level: debug}", "t.yaml").log_level == LogLevel::Debug);
  CHECK(parse_config("log: {level: error}", "t.yaml").log_level == LogLevel::Error);
  CHECK(parse_config("{}", "t.yaml").log_level == LogLevel::Info);
  CHECK_THROWS_WITH(parse_config("log: {level: verbose}", "t.yaml"),
                    Catch::Contains("log.level") && Catch::Contains("verbose"));
  CHECK(parse_config("{}", "t.yaml").log_rejections_per_second == 10);
  CHECK(parse_config("log: {rejections_per_second: 0}", "t.yaml").log_rejections_per_second == 0);
  CHECK_THROWS_WITH(parse_config("log: {rejections_per_second: 100000}", "t.yaml"),
                    Catch::Contains("log.rejections_per_second"));
  CHECK_THROWS_WITH(parse_config("log: {format: json}", "t.yaml"),
                    Catch::Contains("log.format") && Catch::Contains("unknown key"));
}
