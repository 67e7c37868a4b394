#include "sbc/crypto/token_sealer.hpp"

#include <openssl/aead.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/siphash.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <stdexcept>

#include "sbc/common/hex.hpp"

namespace sbc::crypto {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// The value of each character of the alphabet; 0xFF for every other byte (never below 64).
constexpr std::array<std::uint8_t, 256> kDecode = [] {
  std::array<std::uint8_t, 256> t{};
  for (auto& v : t) v = 0xFF;
  for (std::uint8_t i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = i;
  return t;
}();

// base64url without padding.
std::size_t encode(std::span<const std::uint8_t> in, std::span<char> out) noexcept {
  const std::size_t size = (in.size() * 4 + 2) / 3;
  if (out.size() < size) return 0;
  const std::uint8_t* p = in.data();
  char* o = out.data();
  std::size_t left = in.size();
  for (; left >= 3; left -= 3, p += 3, o += 4) {
    const std::uint32_t v = std::uint32_t{p[0]} << 16 | std::uint32_t{p[1]} << 8 | p[2];
    o[0] = kAlphabet[v >> 18];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = kAlphabet[(v >> 6) & 63];
    o[3] = kAlphabet[v & 63];
  }
  if (left != 0) {  // 1 byte: 2 characters; 2 bytes: 3
    std::uint32_t v = std::uint32_t{p[0]} << 16;
    if (left == 2) v |= std::uint32_t{p[1]} << 8;
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    if (left == 2) *o++ = kAlphabet[(v >> 6) & 63];
  }
  return static_cast<std::size_t>(o - out.data());
}

std::optional<std::size_t> decode(std::string_view in, std::span<std::uint8_t> out) noexcept {
  if (in.size() % 4 == 1) return std::nullopt;
  const std::size_t size = in.size() * 3 / 4;
  if (out.size() < size) return std::nullopt;
  auto value = [](char c) -> std::uint32_t { return kDecode[static_cast<unsigned char>(c)]; };
  const char* p = in.data();
  std::uint8_t* o = out.data();
  std::size_t left = in.size();
  for (; left >= 4; left -= 4, p += 4, o += 3) {
    const std::uint32_t a = value(p[0]), b = value(p[1]), c = value(p[2]), d = value(p[3]);
    if (((a | b | c | d) & 0xC0u) != 0) return std::nullopt;
    const std::uint32_t v = a << 18 | b << 12 | c << 6 | d;
    o[0] = static_cast<std::uint8_t>(v >> 16);
    o[1] = static_cast<std::uint8_t>(v >> 8);
    o[2] = static_cast<std::uint8_t>(v);
  }
  if (left != 0) {  // 2 characters: 1 byte (4 unused bits); 3: 2 bytes (2 unused bits)
    const std::uint32_t a = value(p[0]), b = value(p[1]), c = left == 3 ? value(p[2]) : 0;
    if (((a | b | c) & 0xC0u) != 0) return std::nullopt;
    const std::uint32_t v = a << 18 | b << 12 | c << 6;
    // The last character's unused low bits must be zero: otherwise several texts would decode
    // to one token, and a token the SBC issued would have look-alikes it never issued.
    if ((v & (left == 2 ? 0xFFFFu : 0xFFu)) != 0) return std::nullopt;
    *o++ = static_cast<std::uint8_t>(v >> 16);
    if (left == 3) *o++ = static_cast<std::uint8_t>(v >> 8);
  }
  return static_cast<std::size_t>(o - out.data());
}

}  // namespace

struct TokenSealer::Impl {
  struct Context {
    std::uint8_t id;
    EVP_AEAD_CTX ctx;
    std::uint64_t bind_key[2];  // HMAC-SHA-256(key, label), first 16 bytes
  };
  std::vector<Context> contexts;  // [0] seals
  // Nonces: random at start, then a counter XORed into the first 8 bytes. Unique for this
  // sealer, and apart from those of other sealers (workers, restarts) by the 96 random bits;
  // AES-GCM-SIV needs no more (a repeat would reveal only that two plaintexts are equal). One
  // RAND_bytes per sealer instead of one per token.
  std::array<std::uint8_t, kNonce> nonce_base{};
  std::atomic<std::uint64_t> nonce_counter{0};
  ~Impl() {
    for (Context& c : contexts) EVP_AEAD_CTX_cleanup(&c.ctx);
  }
};

std::optional<TokenSealer::Key> TokenSealer::parse_key(std::string_view text) {
  const std::size_t colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0 || colon > 3) return std::nullopt;
  unsigned id = 0;
  for (char c : text.substr(0, colon)) {
    if (c < '0' || c > '9') return std::nullopt;
    id = id * 10 + static_cast<unsigned>(c - '0');
  }
  const std::string_view hex = text.substr(colon + 1);
  if (id > 255 || hex.size() != 32) return std::nullopt;
  Key key;
  key.id = static_cast<std::uint8_t>(id);
  if (!common::decode_hex(hex, key.bytes.data())) return std::nullopt;
  return key;
}

TokenSealer::Key TokenSealer::random_key(std::uint8_t id) {
  Key key;
  key.id = id;
  RAND_bytes(key.bytes.data(), key.bytes.size());
  return key;
}

TokenSealer::TokenSealer(const std::vector<Key>& keys) : impl_(std::make_unique<Impl>()) {
  if (keys.empty()) throw std::invalid_argument("no token key");
  RAND_bytes(impl_->nonce_base.data(), impl_->nonce_base.size());
  impl_->contexts.reserve(keys.size());
  for (const Key& k : keys) {
    for (const Impl::Context& c : impl_->contexts)
      if (c.id == k.id)
        throw std::invalid_argument("token key id " + std::to_string(k.id) + " twice");
    impl_->contexts.push_back({k.id, {}, {0, 0}});
    static constexpr std::string_view kLabel = "sbc token binding";
    std::array<std::uint8_t, 32> derived{};
    unsigned derived_size = 0;
    HMAC(EVP_sha256(), k.bytes.data(), k.bytes.size(),
         reinterpret_cast<const std::uint8_t*>(kLabel.data()), kLabel.size(), derived.data(),
         &derived_size);
    std::memcpy(impl_->contexts.back().bind_key, derived.data(), 16);
    if (EVP_AEAD_CTX_init(&impl_->contexts.back().ctx, EVP_aead_aes_128_gcm_siv(), k.bytes.data(),
                          k.bytes.size(), kTag, nullptr) != 1) {
      impl_->contexts.pop_back();
      throw std::invalid_argument("cannot initialise the token cipher");
    }
  }
}

TokenSealer::~TokenSealer() = default;

void TokenSealer::rekey(const std::vector<Key>& keys) {
  TokenSealer fresh(keys);
  std::swap(impl_, fresh.impl_);
}

std::size_t TokenSealer::seal(std::span<const std::uint8_t> plain,
                              std::span<char> out) const noexcept {
  return seal_with_nonce(plain, out, true);
}

std::size_t TokenSealer::seal_deterministic(std::span<const std::uint8_t> plain,
                                            std::span<char> out) const noexcept {
  return seal_with_nonce(plain, out, false);
}

std::size_t TokenSealer::seal_with_nonce(std::span<const std::uint8_t> plain, std::span<char> out,
                                         bool random_nonce) const noexcept {
  if (plain.size() > kMaxPlain || out.size() < sealed_size(plain.size())) return 0;
  // id | nonce | ciphertext | tag; the id is authenticated as associated data.
  std::array<std::uint8_t, 1 + kNonce + kMaxPlain + kTag> raw;
  const Impl::Context& c = impl_->contexts.front();
  raw[0] = c.id;
  if (random_nonce) {
    std::uint64_t n = impl_->nonce_counter.fetch_add(1, std::memory_order_relaxed);
    std::memcpy(raw.data() + 1, impl_->nonce_base.data(), kNonce);
    for (std::size_t i = 0; i < 8; ++i, n >>= 8) raw[1 + i] ^= static_cast<std::uint8_t>(n);
  } else {
    std::fill_n(raw.data() + 1, kNonce, std::uint8_t{0});
  }
  std::size_t written = 0;
  if (EVP_AEAD_CTX_seal(&c.ctx, raw.data() + 1 + kNonce, &written, plain.size() + kTag,
                        raw.data() + 1, kNonce, plain.data(), plain.size(), raw.data(), 1) != 1)
    return 0;
  return encode({raw.data(), 1 + kNonce + written}, out);
}

std::uint64_t TokenSealer::bind(std::string_view a, std::string_view b,
                                std::size_t key_index) const noexcept {
  const Impl::Context& c = impl_->contexts[std::min(key_index, impl_->contexts.size() - 1)];
  // MAC(MAC(a) | MAC(b)): the two values stay apart whatever their lengths, with no copy.
  std::array<std::uint64_t, 2> parts{
      SIPHASH_24(c.bind_key, reinterpret_cast<const std::uint8_t*>(a.data()), a.size()),
      SIPHASH_24(c.bind_key, reinterpret_cast<const std::uint8_t*>(b.data()), b.size())};
  return SIPHASH_24(c.bind_key, reinterpret_cast<const std::uint8_t*>(parts.data()), sizeof parts);
}

std::optional<std::size_t> TokenSealer::open(std::string_view sealed, std::span<std::uint8_t> out,
                                             std::size_t* key_index) const noexcept {
  std::array<std::uint8_t, 1 + kNonce + kMaxPlain + kTag> raw;
  if (sealed.size() > sealed_size(kMaxPlain)) return std::nullopt;
  const auto size = decode(sealed, raw);
  if (!size || *size < 1 + kNonce + kTag) return std::nullopt;
  for (std::size_t i = 0; i < impl_->contexts.size(); ++i) {
    const Impl::Context& c = impl_->contexts[i];
    if (c.id != raw[0]) continue;
    if (key_index != nullptr) *key_index = i;
    std::size_t written = 0;
    const std::size_t cipher = *size - 1 - kNonce;
    if (out.size() < cipher - kTag) return std::nullopt;
    if (EVP_AEAD_CTX_open(&c.ctx, out.data(), &written, out.size(), raw.data() + 1, kNonce,
                          raw.data() + 1 + kNonce, cipher, raw.data(), 1) != 1)
      return std::nullopt;
    return written;
  }
  return std::nullopt;
}

}  // namespace sbc::crypto
