#include "sbc/capture/pcap_writer.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

#include "sbc/capture/packet.hpp"

namespace sbc::capture {
namespace {

constexpr std::size_t kMaxConnections = 65536;
constexpr unsigned kMaxRefusedNames = 16;

// PREFIX-NNNNNNNN.pcap -> NNNNNNNN, or 0 when the name is not one of ours.
std::uint64_t file_number(const std::string& name, const std::string& prefix) {
  const std::string head = prefix + "-";
  if (name.size() != head.size() + 8 + 5 || !name.starts_with(head) || !name.ends_with(".pcap"))
    return 0;
  std::uint64_t n = 0;
  for (std::size_t i = head.size(); i < head.size() + 8; ++i) {
    if (name[i] < '0' || name[i] > '9') return 0;
    n = n * 10 + static_cast<std::uint64_t>(name[i] - '0');
  }
  return n;
}

}  // namespace

PcapWriter::PcapWriter(RotationSettings settings) : settings_(std::move(settings)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(settings_.directory, ec))
    throw std::runtime_error(settings_.directory + ": capture directory does not exist");
  if (access(settings_.directory.c_str(), W_OK | X_OK) != 0)
    throw std::runtime_error(settings_.directory + ": capture directory is not writable");
  std::vector<std::pair<std::uint64_t, std::string>> found;
  for (const auto& entry : fs::directory_iterator(settings_.directory, ec)) {
    const std::uint64_t n = file_number(entry.path().filename().string(), settings_.prefix);
    if (n != 0) found.emplace_back(n, entry.path().string());
  }
  std::sort(found.begin(), found.end());
  for (auto& [n, path] : found) {
    files_.push_back(std::move(path));
    next_number_ = n + 1;
  }
}

PcapWriter::~PcapWriter() = default;

std::string PcapWriter::path_of(std::uint64_t number) const {
  char name[32];
  std::snprintf(name, sizeof name, "-%08llu.pcap",
                static_cast<unsigned long long>(number % 100000000));
  return settings_.directory + "/" + settings_.prefix + name;
}

bool PcapWriter::open_next() noexcept {
  file_.reset();
  // A name that exists was not created by this run (those are numbered past the files found at
  // start): a file or symlink planted by whoever can write to the directory. Never written
  // through nor removed; skipped (and counted), a few at most for one message.
  for (unsigned attempt = 0; attempt < kMaxRefusedNames && !file_; ++attempt) {
    const std::uint64_t number = next_number_++;
    try {
      std::string path = path_of(number);
      file_ = std::make_unique<PcapFile>(path);
      files_.push_back(std::move(path));
    } catch (const std::system_error& e) {
      if (e.code() != std::errc::file_exists &&
          e.code() != std::errc::too_many_symbolic_link_levels)
        return false;  // disk full, directory removed: this message is lost, the next one retries
      ++refused_;
      last_refused_ = number;
    } catch (const std::exception&) {
      return false;
    }
  }
  if (!file_) return false;
  while (files_.size() > settings_.max_files) {
    std::error_code ec;
    std::filesystem::remove(files_.front(), ec);
    files_.pop_front();
  }
  return true;
}

bool PcapWriter::write(const CapturedMessage& message) noexcept {
  try {
    return write_packets(message);
  } catch (const std::exception&) {  // out of memory: this message is lost, not the process
    return false;
  }
}

bool PcapWriter::write_packets(const CapturedMessage& message) {
  PacketSpec spec;
  spec.protocol = message.protocol;
  const auto source = parse_ip(message.source_ip);
  auto destination = parse_ip(message.destination_ip);
  if (!source || !destination) return false;
  // A listener on a wildcard address names "::" as the local address of IPv4 peers too.
  if (destination->v6 != source->v6) {
    const bool unspecified = std::all_of(destination->bytes.begin(), destination->bytes.end(),
                                         [](std::uint8_t b) { return b == 0; });
    if (!unspecified) return false;
    destination->v6 = source->v6;
  }
  spec.source = *source;
  spec.destination = *destination;
  spec.source_port = message.source_port;
  spec.destination_port = message.destination_port;

  std::vector<std::string> packets;
  std::string_view rest = message.bytes;
  if (message.protocol == sbc::Protocol::Udp) {
    spec.payload = rest;
    packets.push_back(build_packet(spec));
    if (packets.back().empty()) return false;
  } else {
    {
      const std::string key = message.source_ip + "|" + std::to_string(message.source_port) + "|" +
                              message.destination_ip + "|" +
                              std::to_string(message.destination_port);
      if (sequences_.size() >= kMaxConnections && !sequences_.contains(key)) sequences_.clear();
      std::uint32_t& sequence = sequences_.try_emplace(key, 1).first->second;
      const std::size_t segment = max_payload(spec);
      while (!rest.empty()) {
        spec.payload = rest.substr(0, segment);
        spec.sequence = sequence;
        packets.push_back(build_packet(spec));
        sequence += static_cast<std::uint32_t>(spec.payload.size());
        rest.remove_prefix(spec.payload.size());
      }
    }
  }
  std::uint64_t size = 0;
  for (const auto& p : packets) size += 16 + p.size();
  // A file exceeds the bound only when one message alone does.
  if (!file_ || (file_->bytes() > 24 && file_->bytes() + size > settings_.max_file_bytes)) {
    if (!open_next()) return false;
  }
  for (const auto& p : packets) file_->write(message.time_us, p);
  return true;
}

void PcapWriter::flush() noexcept {
  if (file_) file_->flush();
}

}  // namespace sbc::capture
