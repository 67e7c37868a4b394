#include "sbc/crypto/random.hpp"

#include <openssl/rand.h>

namespace sbc::crypto {

std::uint64_t random_u64() noexcept {
  std::uint64_t value = 0;
  RAND_bytes(reinterpret_cast<std::uint8_t*>(&value), sizeof value);  // never fails in BoringSSL
  return value;
}

}  // namespace sbc::crypto
