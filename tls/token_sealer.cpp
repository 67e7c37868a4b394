#include "tls/token_sealer.hpp"

#include <openssl/aead.h>
#include <openssl/digest.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/siphash.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "tls/hex.hpp"

namespace sbc::tls {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int decode_char(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// base64url without padding.
std::size_t encode(std::span<const std::uint8_t> in, std::span<char> out) noexcept {
  const std::size_t size = (in.size() * 4 + 2) / 3;
  if (out.size() < size) return 0;
  std::size_t o = 0;
  for (std::size_t i = 0; i < in.size(); i += 3) {
    std::uint32_t v = std::uint32_t{in[i]} << 16;
    if (i + 1 < in.size()) v |= std::uint32_t{in[i + 1]} << 8;
    if (i + 2 < in.size()) v |= in[i + 2];
    const std::size_t chars = std::min<std::size_t>(4, (in.size() - i) * 4 / 3 + 1);
    for (std::size_t k = 0; k < chars && o < size; ++k)
      out[o++] = kAlphabet[(v >> (18 - 6 * k)) & 63];
  }
  return o;
}

std::optional<std::size_t> decode(std::string_view in, std::span<std::uint8_t> out) noexcept {
  if (in.size() % 4 == 1) return std::nullopt;
  const std::size_t size = in.size() * 3 / 4;
  if (out.size() < size) return std::nullopt;
  std::uint32_t bits = 0;
  int count = 0;
  std::size_t o = 0;
  for (char c : in) {
    const int d = decode_char(c);
    if (d < 0) return std::nullopt;
    bits = (bits << 6) | static_cast<std::uint32_t>(d);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out[o++] = static_cast<std::uint8_t>(bits >> count);
    }
  }
  // The last character's unused low bits must be zero: otherwise several texts would decode to
  // one token, and a token the SBC issued would have look-alikes it never issued.
  if ((bits & ((1u << count) - 1)) != 0) return std::nullopt;
  return o;
}

}  // namespace

struct TokenSealer::Impl {
  struct Context {
    std::uint8_t id;
    EVP_AEAD_CTX ctx;
    std::uint64_t bind_key[2];  // HMAC-SHA-256(key, label), first 16 bytes
  };
  std::vector<Context> contexts;  // [0] seals
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
  for (std::size_t i = 0; i < 16; ++i) {
    int v = 0;
    for (char c : hex.substr(2 * i, 2)) {
      const int d = hex_digit(c);
      if (d < 0) return std::nullopt;
      v = v * 16 + d;
    }
    key.bytes[i] = static_cast<std::uint8_t>(v);
  }
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
    RAND_bytes(raw.data() + 1, kNonce);
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

}  // namespace sbc::tls
