#include "sbc/capture/live_capture.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <string>

#include "sbc/capture/pcap_writer.hpp"
#include "sbc/capture/redact.hpp"

namespace sbc::capture {

// One worker's queue: the worker writes slot head, the capture thread reads slot tail. Slots keep
// their strings' capacity, so after warm-up a capture copies bytes without allocating.
class CaptureQueue final : public transport::MessageTap {
 public:
  CaptureQueue(const CaptureSettings& settings)
      : all_(settings.what == CaptureSettings::What::All),
        ports_(settings.ports),
        slots_(std::max(1u, settings.queue_messages)) {}

  void observe(std::string_view bytes, const sbc::FlowInfo& flow, bool rejected) noexcept override {
    if (!rejected && !(all_ && (ports_.empty() || std::find(ports_.begin(), ports_.end(),
                                                            flow.bound_port()) != ports_.end())))
      return;
    const std::size_t head = head_.load(std::memory_order_relaxed);
    if (head - tail_.load(std::memory_order_acquire) == slots_.size()) {
      dropped_.inc();
      return;
    }
    CapturedMessage& m = slots_[head % slots_.size()];
    try {
      m.time_us = std::chrono::duration_cast<std::chrono::microseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
      m.protocol = flow.protocol;
      m.source_ip.assign(flow.remote_ip);
      m.source_port = flow.remote_port;
      m.destination_ip.assign(flow.local_ip);
      m.destination_port = flow.bound_port();
      m.bytes.assign(bytes);
    } catch (const std::bad_alloc&) {
      dropped_.inc();
      return;
    }
    head_.store(head + 1, std::memory_order_release);
  }

  // On the capture thread.
  template <class F>
  std::size_t drain(F&& write) {
    std::size_t tail = tail_.load(std::memory_order_relaxed);
    const std::size_t head = head_.load(std::memory_order_acquire);
    const std::size_t n = head - tail;
    for (; tail != head; ++tail) {
      write(slots_[tail % slots_.size()]);  // the slot is the capture thread's until tail moves
      tail_.store(tail + 1, std::memory_order_release);
    }
    return n;
  }

  std::uint64_t dropped() const noexcept { return dropped_.value(); }

 private:
  const bool all_;
  const std::vector<std::uint16_t> ports_;
  std::vector<CapturedMessage> slots_;
  alignas(64) std::atomic<std::size_t> head_{0};
  alignas(64) std::atomic<std::size_t> tail_{0};
  metrics::Counter dropped_;
};

LiveCapture::LiveCapture(const CaptureSettings& settings, unsigned workers, Warn warn)
    : writer_(std::make_unique<PcapWriter>(RotationSettings{
          settings.directory, "sbc", settings.max_file_bytes, settings.max_files})),
      redact_(settings.redact_credentials),
      warn_(std::move(warn)) {
  for (unsigned w = 0; w < workers; ++w)
    queues_.push_back(std::make_unique<CaptureQueue>(settings));
}

LiveCapture::~LiveCapture() {
  stop();
}

transport::MessageTap& LiveCapture::tap(unsigned worker) {
  return *queues_.at(worker);
}

std::uint64_t LiveCapture::dropped() const noexcept {
  std::uint64_t n = unwritable_.load(std::memory_order_relaxed);
  for (const auto& q : queues_) n += q->dropped();
  return n;
}

std::size_t LiveCapture::drain() {
  std::size_t taken = 0;
  for (auto& q : queues_) {
    taken += q->drain([this](CapturedMessage& m) {
      // Blanked in the queue's copy, off the workers' path, before anything reaches the disk.
      if (redact_) redacted_.fetch_add(redact_credentials(m.bytes), std::memory_order_relaxed);
      if (writer_->write(m))
        written_.fetch_add(1, std::memory_order_relaxed);
      else
        unwritable_.fetch_add(1, std::memory_order_relaxed);
    });
  }
  if (taken != 0) writer_->flush();  // readable by tshark while the SBC runs
  const std::uint64_t refused = writer_->refused();
  refused_.store(refused, std::memory_order_relaxed);
  const auto now = std::chrono::steady_clock::now();
  if (refused != refused_warned_ && warn_ && now - last_warning_ >= std::chrono::seconds(1)) {
    warn_("capture: skipped " + std::to_string(refused - refused_warned_) +
          " file name(s) that already existed (a file or symlink this run did not create; not "
          "written through), last " +
          writer_->last_refused());
    refused_warned_ = refused;
    last_warning_ = now;
  }
  return taken;
}

void LiveCapture::start() {
  thread_ = std::thread([this] {
    while (!stop_.load(std::memory_order_acquire)) {
      // Polling keeps the workers free of any wake-up call: an idle queue costs a load.
      if (drain() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    drain();
  });
}

void LiveCapture::stop() {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) thread_.join();
}

}  // namespace sbc::capture
