#pragma once
// What the SBC exposes, described without prometheus-cpp types (only metrics/*.cpp include it),
// and the HTTP endpoint that serves it: /metrics (Prometheus text format), /healthz, /readyz.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "metrics/histogram.hpp"

namespace sbc::metrics {

struct Sample {
  using Labels = std::vector<std::pair<std::string, std::string>>;
  Sample() = default;
  Sample(Labels l, double v) : labels(std::move(l)), value(v) {}
  Sample(Labels l, HistogramSnapshot h) : labels(std::move(l)), histogram(std::move(h)) {}

  Labels labels;  // bounded label values only
  double value = 0;
  HistogramSnapshot histogram;  // Family::Type::Histogram only
};

struct Family {
  enum class Type { Counter, Gauge, Histogram };
  std::string name;  // sbc_..._total | _seconds | _bytes (a histogram: its base name)
  std::string help;
  Type type = Type::Counter;
  std::vector<Sample> samples;
};

// Prometheus text exposition format 0.0.4 (serialised by prometheus-cpp).
std::string render_text(const std::vector<Family>& families);

class HttpServer {
 public:
  using Collect = std::function<std::vector<Family>()>;
  using Ready = std::function<bool()>;

  // Binds at once (throws std::system_error naming the address on failure); serves on its own
  // thread from start() until stop().
  HttpServer(const std::string& address, std::uint16_t port, Collect collect, Ready ready);
  ~HttpServer();
  void start();
  void stop();
  std::uint16_t port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sbc::metrics
