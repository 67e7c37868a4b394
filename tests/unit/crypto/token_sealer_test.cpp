// sbc/crypto/token_sealer: sealing, opening, key rotation and the binding MAC of the tokens the
// relay hands out (their contents, sbc/proxy/route_tokens, are tested with the relay).
#include "sbc/crypto/token_sealer.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <cctype>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

using sbc::crypto::TokenSealer;

namespace {

std::span<const std::uint8_t> bytes_of(std::string_view text) {
  return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

const TokenSealer::Key kKey = *TokenSealer::parse_key("7:00112233445566778899aabbccddeeff");

}  // namespace

TEST_CASE("token sealer: round trip, tampering, unknown keys, rotation", "[crypto][sealer]") {
  const auto old_key = TokenSealer::parse_key("1:000102030405060708090a0b0c0d0e0f");
  const auto new_key = TokenSealer::parse_key("2:F0E0D0C0B0A090807060504030201000");
  REQUIRE(old_key);
  REQUIRE(new_key);
  CHECK_FALSE(TokenSealer::parse_key("1:00"));
  CHECK_FALSE(TokenSealer::parse_key("256:000102030405060708090a0b0c0d0e0f"));
  CHECK_FALSE(TokenSealer::parse_key("x:000102030405060708090a0b0c0d0e0f"));
  CHECK_FALSE(TokenSealer::parse_key("1:000102030405060708090a0b0c0d0e0g"));
  const TokenSealer old_only({*old_key});
  const TokenSealer rotated({*new_key, *old_key});
  const TokenSealer new_only({*new_key});
  const std::string_view text = "flow and routes";
  const std::span<const std::uint8_t> plain = bytes_of(text);
  std::string sealed(TokenSealer::sealed_size(text.size()), '\0');
  REQUIRE(old_only.seal(plain, sealed) == sealed.size());
  for (char c : sealed)
    CHECK((std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'));
  std::array<std::uint8_t, 512> out;
  auto n = old_only.open(sealed, out);
  REQUIRE(n);
  CHECK(std::string_view(reinterpret_cast<const char*>(out.data()), *n) == text);
  // A new key seals, the old one still opens what it sealed; a sealer without it does not.
  CHECK(rotated.open(sealed, out));
  CHECK_FALSE(new_only.open(sealed, out));
  // Every single-character change, truncation or extension is refused.
  for (std::size_t i = 0; i < sealed.size(); ++i) {
    std::string bad = sealed;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    if (bad != sealed) CHECK_FALSE(old_only.open(bad, out));
  }
  // The last character carries unused bits: every other value of it is refused too, so a token
  // has exactly one spelling.
  for (char c :
       std::string_view("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")) {
    std::string bad = sealed;
    bad.back() = c;
    if (bad != sealed) CHECK_FALSE(old_only.open(bad, out));
  }
  CHECK_FALSE(old_only.open(sealed.substr(0, sealed.size() - 1), out));
  CHECK_FALSE(old_only.open(sealed + "A", out));
  CHECK_FALSE(old_only.open("", out));
  // Two seals of the same text differ (random nonce): tokens do not reveal equal contents.
  std::string again(sealed.size(), '\0');
  REQUIRE(old_only.seal(plain, again) == again.size());
  CHECK(again != sealed);
  CHECK_THROWS(TokenSealer({*old_key, *old_key}));
}

TEST_CASE("token sealer: rekey on a reload keeps old tokens opening while the old key stays",
          "[crypto][sealer]") {
  const auto old_key = TokenSealer::parse_key("1:000102030405060708090a0b0c0d0e0f");
  const auto new_key = TokenSealer::parse_key("2:F0E0D0C0B0A090807060504030201000");
  REQUIRE(old_key);
  REQUIRE(new_key);
  TokenSealer sealer({*old_key});
  const std::span<const std::uint8_t> plain = bytes_of("registration");
  std::string before(TokenSealer::sealed_size(plain.size()), '\0');
  REQUIRE(sealer.seal(plain, before) == before.size());
  const std::uint64_t bound_before = sealer.bind("call", "tag");
  sealer.rekey({*new_key, *old_key});
  std::array<std::uint8_t, 512> out;
  std::size_t key_index = 9;
  REQUIRE(sealer.open(before, out, &key_index));
  CHECK(key_index == 1);  // the old key, now second
  CHECK(sealer.bind("call", "tag", key_index) == bound_before);
  // What it seals now only the new key opens.
  std::string after(before.size(), '\0');
  REQUIRE(sealer.seal(plain, after) == after.size());
  CHECK_FALSE(TokenSealer({*old_key}).open(after, out));
  CHECK(TokenSealer({*new_key}).open(after, out));
  // A refused list changes nothing; the old key gone, its tokens no longer open.
  CHECK_THROWS(sealer.rekey({}));
  CHECK(sealer.open(before, out));
  sealer.rekey({*new_key});
  CHECK_FALSE(sealer.open(before, out));
  CHECK(sealer.open(after, out));
}

TEST_CASE("token sealer: a deterministic seal gives one text per plaintext", "[crypto][sealer]") {
  const TokenSealer sealer({kKey});
  const std::string_view a = "call-2@10.0.0.20", b = "call-3@10.0.0.20";
  auto seal_text = [&](std::string_view plain) {
    std::string out(TokenSealer::sealed_size(plain.size()), '\0');
    out.resize(sealer.seal_deterministic(bytes_of(plain), out));
    return out;
  };
  CHECK(seal_text(a) == seal_text(a));
  CHECK(seal_text(a) != seal_text(b));
  std::array<std::uint8_t, 64> opened;
  const auto n = sealer.open(seal_text(a), opened);
  REQUIRE(n);
  CHECK(std::string_view(reinterpret_cast<const char*>(opened.data()), *n) == a);
}

TEST_CASE("token sealer: key syntax, sizes and what does not fit", "[crypto][sealer]") {
  const auto key = TokenSealer::parse_key("255:00112233445566778899AABBCCDDEEFF");
  REQUIRE(key);
  CHECK(key->id == 255);
  CHECK(key->bytes[0] == 0x00);
  CHECK(key->bytes[10] == 0xaa);
  CHECK(key->bytes[15] == 0xff);
  for (std::string_view bad :
       {"", ":00112233445566778899aabbccddeeff", "1000:00112233445566778899aabbccddeeff",
        "1 00112233445566778899aabbccddeeff", "1:00112233445566778899aabbccddeeff00",
        "-1:00112233445566778899aabbccddee"})
    CHECK_FALSE(TokenSealer::parse_key(bad));
  CHECK(TokenSealer::random_key(3).id == 3);
  CHECK(TokenSealer::random_key(3).bytes != TokenSealer::random_key(3).bytes);
  CHECK_THROWS_AS(TokenSealer(std::vector<TokenSealer::Key>{}), std::invalid_argument);

  const TokenSealer sealer({kKey});
  // The text's length is what sealed_size says, for every plaintext length up to the limit.
  std::array<std::uint8_t, TokenSealer::kMaxPlain + 1> plain{};
  std::string out(TokenSealer::sealed_size(plain.size()), '\0');
  for (std::size_t size : {std::size_t{0}, std::size_t{1}, std::size_t{2}, std::size_t{3},
                           std::size_t{100}, TokenSealer::kMaxPlain}) {
    INFO("plaintext of " << size << " bytes");
    const std::size_t n = sealer.seal(std::span(plain).first(size), out);
    CHECK(n == TokenSealer::sealed_size(size));
    std::array<std::uint8_t, TokenSealer::kMaxPlain> opened{};
    CHECK(sealer.open(std::string_view(out).substr(0, n), opened) == size);
  }
  // Over kMaxPlain, or an output too small: nothing is sealed.
  CHECK(sealer.seal(plain, out) == 0);
  CHECK(sealer.seal_deterministic(plain, out) == 0);
  std::string small(TokenSealer::sealed_size(10) - 1, '\0');
  CHECK(sealer.seal(std::span(plain).first(10), small) == 0);
  // An output buffer too small for the plaintext: the token does not open.
  std::string token(TokenSealer::sealed_size(10), '\0');
  REQUIRE(sealer.seal(std::span(plain).first(10), token) == token.size());
  std::array<std::uint8_t, 9> tiny{};
  CHECK_FALSE(sealer.open(token, tiny));
}

TEST_CASE("token sealer: the key that opened a token, and the binding MAC under it",
          "[crypto][sealer]") {
  const auto old_key = *TokenSealer::parse_key("1:000102030405060708090a0b0c0d0e0f");
  const auto new_key = *TokenSealer::parse_key("2:f0e0d0c0b0a090807060504030201000");
  const TokenSealer before({old_key});
  const TokenSealer after({new_key, old_key});
  std::string old_token(TokenSealer::sealed_size(4), '\0');
  std::string new_token(TokenSealer::sealed_size(4), '\0');
  REQUIRE(before.seal(bytes_of("flow"), old_token) == old_token.size());
  REQUIRE(after.seal(bytes_of("flow"), new_token) == new_token.size());
  std::array<std::uint8_t, 16> out{};
  std::size_t index = 99;
  REQUIRE(after.open(new_token, out, &index));
  CHECK(index == 0);
  REQUIRE(after.open(old_token, out, &index));
  CHECK(index == 1);

  // A MAC of (a, b): the same values give the same MAC, other values or another order another.
  const std::uint64_t mac = before.bind("call-1@192.168.1.20", "a1");
  CHECK(mac == before.bind("call-1@192.168.1.20", "a1"));
  CHECK(mac != before.bind("call-1@192.168.1.20", "a2"));
  CHECK(mac != before.bind("a1", "call-1@192.168.1.20"));
  // The parts stay apart: moving a character from one to the other changes the MAC.
  CHECK(before.bind("ab", "c") != before.bind("a", "bc"));
  // Under the key that opened a token: the old key's MAC is still found after a rotation, and
  // another key gives another MAC.
  CHECK(after.bind("call-1@192.168.1.20", "a1", 1) == mac);
  CHECK(after.bind("call-1@192.168.1.20", "a1", 0) != mac);
  CHECK(after.bind("call-1@192.168.1.20", "a1") == after.bind("call-1@192.168.1.20", "a1", 0));
}
