#pragma once
// Unpredictable numbers from BoringSSL's CSPRNG, for values an attacker must not guess (health
// probe branches). Exposes no BoringSSL type.

#include <cstdint>

namespace sbc::crypto {

std::uint64_t random_u64() noexcept;

}  // namespace sbc::crypto
