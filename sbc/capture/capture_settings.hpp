#pragma once
// The `capture` section of the configuration.

#include <cstdint>
#include <string>
#include <vector>

namespace sbc::capture {

struct CaptureSettings {
  bool enabled = false;
  std::string directory = "/var/lib/sbc/capture";
  enum class What : std::uint8_t { Rejected, All } what = What::Rejected;
  // With What::All: the listener ports whose every message is captured; empty: all of them.
  // Rejected messages are captured on every listener.
  std::vector<std::uint16_t> ports;
  std::uint64_t max_file_bytes = 16u << 20;
  unsigned max_files = 8;
  unsigned queue_messages = 1024;  // per worker; a full queue drops (and counts) the message
  // The `response` of Digest credentials (and any other scheme's credentials) blanked in the
  // files, lengths kept: a capture of Digest answers is an offline dictionary attack.
  bool redact_credentials = true;
};

}  // namespace sbc::capture
