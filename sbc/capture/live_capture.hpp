#pragma once
// Live capture behind the edge: each worker copies the messages it captures into a bounded queue
// of its own (single producer, single consumer, no lock; full: the message is dropped and
// counted), and one capture thread writes them to rotating pcap files. The message path never
// touches the disk.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "sbc/capture/capture_settings.hpp"
#include "sbc/transport/edge_handler.hpp"

namespace sbc::capture {

class PcapWriter;
class CaptureQueue;

class LiveCapture {
 public:
  // Called on the capture thread with a line worth a warning (a refused file name), at most
  // once a second.
  using Warn = std::function<void(std::string_view)>;
  // Throws std::runtime_error when the directory is unusable (at start-up).
  LiveCapture(const CaptureSettings& settings, unsigned workers, Warn warn = {});
  ~LiveCapture();
  LiveCapture(const LiveCapture&) = delete;
  LiveCapture& operator=(const LiveCapture&) = delete;

  // Worker w's tap (install with EdgeHandler::set_tap on that worker).
  transport::MessageTap& tap(unsigned worker);
  void start();
  // Writes what is queued, then stops the thread. Call after the workers have stopped.
  void stop();

  std::uint64_t written() const noexcept { return written_.load(std::memory_order_relaxed); }
  std::uint64_t dropped() const noexcept;
  // Credential values blanked (capture.redact_credentials).
  std::uint64_t redacted() const noexcept { return redacted_.load(std::memory_order_relaxed); }
  // File names that existed already and were skipped, never written through (PcapWriter).
  std::uint64_t refused_files() const noexcept { return refused_.load(std::memory_order_relaxed); }

 private:
  // Returns how many messages were taken from the queues.
  std::size_t drain();

  std::unique_ptr<PcapWriter> writer_;
  std::vector<std::unique_ptr<CaptureQueue>> queues_;
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> unwritable_{0};
  std::atomic<std::uint64_t> redacted_{0};
  std::atomic<std::uint64_t> refused_{0};
  const bool redact_;
  Warn warn_;
  std::uint64_t refused_warned_ = 0;  // capture thread only
  std::chrono::steady_clock::time_point last_warning_{};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace sbc::capture
