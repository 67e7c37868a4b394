#include "sbc/crypto/digest.hpp"

#include <openssl/hmac.h>
#include <openssl/md5.h>
#include <openssl/mem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "sbc/common/hex.hpp"

namespace sbc::crypto {
namespace {

bool iequal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char x = a[i] >= 'a' && a[i] <= 'z' ? static_cast<char>(a[i] - 32) : a[i];
    if (x != b[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<DigestAlgorithm> digest_algorithm(std::string_view name) noexcept {
  if (iequal(name, "MD5")) return DigestAlgorithm::Md5;
  if (iequal(name, "SHA-256")) return DigestAlgorithm::Sha256;
  return std::nullopt;
}

std::string_view digest_algorithm_name(DigestAlgorithm algorithm) noexcept {
  return algorithm == DigestAlgorithm::Md5 ? "MD5" : "SHA-256";
}

std::string_view digest_hex(DigestAlgorithm algorithm, std::span<const std::string_view> parts,
                            std::array<char, 64>& out) noexcept {
  std::array<std::uint8_t, SHA256_DIGEST_LENGTH> hash{};
  std::size_t size = 0;
  if (algorithm == DigestAlgorithm::Md5) {
    MD5_CTX ctx;
    MD5_Init(&ctx);
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i != 0) MD5_Update(&ctx, ":", 1);
      MD5_Update(&ctx, parts[i].data(), parts[i].size());
    }
    MD5_Final(hash.data(), &ctx);
    size = MD5_DIGEST_LENGTH;
  } else {
    SHA256_CTX ctx;
    SHA256_Init(&ctx);
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i != 0) SHA256_Update(&ctx, ":", 1);
      SHA256_Update(&ctx, parts[i].data(), parts[i].size());
    }
    SHA256_Final(hash.data(), &ctx);
    size = SHA256_DIGEST_LENGTH;
  }
  common::encode_hex(hash.data(), size, out.data());
  return {out.data(), 2 * size};
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

NonceMint::Key NonceMint::random_key() noexcept {
  Key key{};
  RAND_bytes(key.data(), key.size());
  return key;
}

std::optional<NonceMint::Key> NonceMint::parse_key(std::string_view hex) noexcept {
  Key key{};
  if (hex.size() != 2 * kKeySize || !common::decode_hex(hex, key.data())) return std::nullopt;
  return key;
}

std::array<std::uint8_t, 16> NonceMint::mac(std::span<const std::uint8_t, 12> head,
                                            std::span<const std::uint8_t> binding) const noexcept {
  HMAC_CTX ctx;
  HMAC_CTX_init(&ctx);
  std::array<std::uint8_t, EVP_MAX_MD_SIZE> full{};
  unsigned size = 0;
  HMAC_Init_ex(&ctx, key_.data(), key_.size(), EVP_sha256(), nullptr);
  HMAC_Update(&ctx, head.data(), head.size());
  HMAC_Update(&ctx, binding.data(), binding.size());
  HMAC_Final(&ctx, full.data(), &size);
  HMAC_CTX_cleanup(&ctx);
  std::array<std::uint8_t, 16> out{};
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = full[i];
  return out;
}

NonceMint::Nonce NonceMint::mint(std::uint64_t issued, std::uint32_t serial,
                                 std::span<const std::uint8_t> binding) const noexcept {
  std::array<std::uint8_t, 28> raw{};
  for (std::size_t i = 0; i < 8; ++i) raw[i] = static_cast<std::uint8_t>(issued >> (56 - 8 * i));
  for (std::size_t i = 0; i < 4; ++i)
    raw[8 + i] = static_cast<std::uint8_t>(serial >> (24 - 8 * i));
  const auto m = mac(std::span<const std::uint8_t, 12>(raw.data(), 12), binding);
  for (std::size_t i = 0; i < m.size(); ++i) raw[12 + i] = m[i];
  Nonce nonce{};
  common::encode_hex(raw.data(), raw.size(), nonce.data());
  return nonce;
}

std::optional<std::uint64_t> NonceMint::check(
    std::string_view nonce, std::span<const std::uint8_t> binding) const noexcept {
  std::array<std::uint8_t, 28> raw{};
  if (nonce.size() != kNonceSize || !common::decode_hex(nonce, raw.data())) return std::nullopt;
  std::uint64_t issued = 0;
  for (std::size_t i = 0; i < 8; ++i) issued = (issued << 8) | raw[i];
  const auto expected = mac(std::span<const std::uint8_t, 12>(raw.data(), 12), binding);
  if (CRYPTO_memcmp(expected.data(), raw.data() + 12, expected.size()) != 0) return std::nullopt;
  return issued;
}

std::array<std::uint8_t, 16> NonceMint::mac_of(std::string_view checked_nonce) noexcept {
  std::array<std::uint8_t, 28> raw{};
  std::array<std::uint8_t, 16> out{};
  if (checked_nonce.size() != kNonceSize || !common::decode_hex(checked_nonce, raw.data()))
    return out;
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = raw[12 + i];
  return out;
}

}  // namespace sbc::crypto
