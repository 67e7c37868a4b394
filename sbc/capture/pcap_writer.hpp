#pragma once
// Writes SIP messages to rotating pcap files as synthesized IP packets (UDP as one datagram, TCP
// and TLS as segments of a per-connection byte stream), so that `tshark -r FILE -Y sip` decodes
// them. Disk use is bounded: a new file starts before one would exceed `max_file_bytes`, and the
// oldest files are deleted beyond `max_files`. Not thread-safe: one writer thread.

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "sbc/capture/captured_message.hpp"

namespace sbc::capture {

class PcapFile;

struct RotationSettings {
  std::string directory;
  std::string prefix = "sbc";  // files are PREFIX-NNNNNNNN.pcap, numbered in order
  std::uint64_t max_file_bytes = 16u << 20;
  unsigned max_files = 8;
};

class PcapWriter {
 public:
  // Throws std::runtime_error naming the directory when it does not exist or is not writable.
  // Files of an earlier run (same prefix) count toward max_files, so restarts stay bounded too.
  explicit PcapWriter(RotationSettings settings);
  ~PcapWriter();
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  // False when the message cannot be written (addresses not IP, a file cannot be created).
  bool write(const CapturedMessage& message) noexcept;
  void flush() noexcept;
  // The files on disk, oldest first.
  const std::deque<std::string>& files() const noexcept { return files_; }
  // File names skipped because they existed already (a file or a symlink this run did not
  // create: never written through), and the path of the last one.
  std::uint64_t refused() const noexcept { return refused_; }
  std::string last_refused() const {
    return refused_ == 0 ? std::string() : path_of(last_refused_);
  }

 private:
  std::string path_of(std::uint64_t number) const;
  bool open_next() noexcept;
  bool write_packets(const CapturedMessage& message);

  RotationSettings settings_;
  std::unique_ptr<PcapFile> file_;
  std::deque<std::string> files_;
  std::uint64_t next_number_ = 1;
  std::uint64_t refused_ = 0;
  std::uint64_t last_refused_ = 0;
  // Next TCP sequence number of each connection (bounded: forgotten all at once when full, which
  // only makes tshark see a jump in one stream).
  std::map<std::string, std::uint32_t> sequences_;
};

}  // namespace sbc::capture
