#include "sbc/common/keyed_hash.hpp"

#include <sys/random.h>

#include <cerrno>
#include <cstdlib>
#include <random>

namespace sbc::common {

HashKey random_hash_key() noexcept {
  unsigned char bytes[16];
  std::size_t got = 0;
  while (got < sizeof bytes) {
    const ssize_t n = getrandom(bytes + got, sizeof bytes - got, 0);
    if (n > 0) {
      got += static_cast<std::size_t>(n);
    } else if (n < 0 && errno != EINTR) {
      break;
    }
  }
  if (got < sizeof bytes) {
    // No getrandom (very old kernels): the library's source, which reads /dev/urandom.
    try {
      std::random_device device;
      for (unsigned char& b : bytes) b = static_cast<unsigned char>(device());
    } catch (...) {
      std::abort();  // a predictable key would make every table an attacker's to shape
    }
  }
  HashKey key;
  std::memcpy(&key.k0, bytes, 8);
  std::memcpy(&key.k1, bytes + 8, 8);
  return key;
}

const HashKey& process_hash_key() noexcept {
  static const HashKey key = random_hash_key();
  return key;
}

}  // namespace sbc::common
