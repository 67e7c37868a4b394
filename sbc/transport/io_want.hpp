#pragma once
// What a non-blocking read or write that moved no bytes is waiting for. Over TLS a read may
// need the socket writable (and a write readable), so callers wait for what this says.

#include <cstdint>

namespace sbc::transport {

enum class IoWant : std::uint8_t { Read, Write, Closed };

}  // namespace sbc::transport
