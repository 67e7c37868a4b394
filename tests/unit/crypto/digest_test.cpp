// sbc/crypto/digest: the hashes of HTTP Digest against the RFCs' worked examples, the
// constant-time comparison and the stateless nonces.
#include "sbc/crypto/digest.hpp"

#include <catch2/catch.hpp>

#include <array>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

using sbc::crypto::DigestAlgorithm;

namespace {

// H(parts joined by ':') as a string.
std::string hex(DigestAlgorithm algorithm, std::initializer_list<std::string_view> parts) {
  std::array<char, 64> out{};
  const std::span<const std::string_view> span(parts.begin(), parts.size());
  return std::string(sbc::crypto::digest_hex(algorithm, span, out));
}

}  // namespace

TEST_CASE("digest: hashes agree with RFC 2617's worked example (MD5, qop=auth)",
          "[crypto][digest]") {
  // RFC 2617 section 3.5: Mufasa / "Circle Of Life" at testrealm@host.com, GET /dir/index.html.
  const std::string ha1 =
      hex(DigestAlgorithm::Md5, {"Mufasa", "testrealm@host.com", "Circle Of Life"});
  CHECK(ha1 == "939e7578ed9e3c518a452acee763bce9");
  const std::string ha2 = hex(DigestAlgorithm::Md5, {"GET", "/dir/index.html"});
  CHECK(ha2 == "39aff3a2bab6126f332b942af96d3366");
  CHECK(hex(DigestAlgorithm::Md5, {ha1, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "00000001",
                                   "0a4f113b", "auth", ha2}) == "6629fae49393a05397450978507c4ef1");
}

TEST_CASE("digest: hashes agree with RFC 7616's worked example", "[crypto][digest]") {
  // RFC 7616 section 3.9.1: Mufasa / "Circle of Life", GET /dir/index.html.
  std::array<char, 64> a{}, b{}, c{};
  for (auto [algorithm, expected] :
       {std::pair{DigestAlgorithm::Md5, std::string_view("8ca523f5e9506fed4657c9700eebdbec")},
        std::pair{DigestAlgorithm::Sha256,
                  std::string_view(
                      "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")}}) {
    const std::string_view p1[] = {"Mufasa", "http-auth@example.org", "Circle of Life"};
    const std::string ha1(sbc::crypto::digest_hex(algorithm, p1, a));
    const std::string_view p2[] = {"GET", "/dir/index.html"};
    const std::string ha2(sbc::crypto::digest_hex(algorithm, p2, b));
    const std::string_view p3[] = {ha1,        "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                                   "00000001", "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                                   "auth",     ha2};
    CHECK(sbc::crypto::digest_hex(algorithm, p3, c) == expected);
    CHECK(ha1.size() == sbc::crypto::digest_hex_size(algorithm));
  }
}

TEST_CASE("digest: algorithm names, either case, and nothing else", "[crypto][digest]") {
  CHECK(sbc::crypto::digest_algorithm("MD5") == DigestAlgorithm::Md5);
  CHECK(sbc::crypto::digest_algorithm("md5") == DigestAlgorithm::Md5);
  CHECK(sbc::crypto::digest_algorithm("SHA-256") == DigestAlgorithm::Sha256);
  CHECK(sbc::crypto::digest_algorithm("sha-256") == DigestAlgorithm::Sha256);
  // The -sess variants and SHA-512-256 are not offered.
  for (std::string_view other : {"", "MD5-sess", "SHA-256-sess", "SHA-512-256", "SHA256", "MD"})
    CHECK_FALSE(sbc::crypto::digest_algorithm(other));
  for (DigestAlgorithm algorithm : {DigestAlgorithm::Md5, DigestAlgorithm::Sha256})
    CHECK(sbc::crypto::digest_algorithm(sbc::crypto::digest_algorithm_name(algorithm)) ==
          algorithm);
}

TEST_CASE("digest: the comparison needs the same length and the same bytes", "[crypto][digest]") {
  CHECK(sbc::crypto::constant_time_equal("abc", "abc"));
  CHECK(sbc::crypto::constant_time_equal("", ""));
  CHECK_FALSE(sbc::crypto::constant_time_equal("abc", "abd"));
  CHECK_FALSE(sbc::crypto::constant_time_equal("abc", "abcd"));
  CHECK_FALSE(sbc::crypto::constant_time_equal("abc", ""));
  CHECK_FALSE(sbc::crypto::constant_time_equal("Abc", "abc"));
}

TEST_CASE("digest: nonces are bound to what they were issued for", "[crypto][digest]") {
  const sbc::crypto::NonceMint mint(*sbc::crypto::NonceMint::parse_key(std::string(64, '1')));
  const std::uint8_t here[] = {1, 2, 3};
  const std::uint8_t there[] = {1, 2, 4};
  const auto nonce = mint.mint(1234567, 1, here);
  const std::string text(nonce.data(), nonce.size());
  CHECK(mint.check(text, here) == std::optional<std::uint64_t>(1234567));
  const auto second = mint.mint(1234567, 2, here);
  CHECK(std::string_view(second.data(), second.size()) != text);
  CHECK_FALSE(mint.check(text, there));
  const sbc::crypto::NonceMint other(*sbc::crypto::NonceMint::parse_key(std::string(64, '2')));
  CHECK_FALSE(other.check(text, here));
  for (std::size_t i = 0; i < text.size(); ++i) {
    std::string bad = text;
    bad[i] = bad[i] == '0' ? '1' : '0';
    CHECK_FALSE(mint.check(bad, here));
  }
  CHECK_FALSE(mint.check(text.substr(1), here));
  CHECK_FALSE(sbc::crypto::NonceMint::parse_key("abc"));
}

TEST_CASE("digest: nonce keys, and the MAC that keys the table of nonces seen",
          "[crypto][digest]") {
  using sbc::crypto::NonceMint;
  const auto key = NonceMint::parse_key(std::string(32, 'a') + std::string(32, 'F'));
  REQUIRE(key);
  CHECK((*key)[0] == 0xaa);
  CHECK((*key)[31] == 0xff);
  CHECK_FALSE(NonceMint::parse_key(std::string(63, 'a')));
  CHECK_FALSE(NonceMint::parse_key(std::string(65, 'a')));
  CHECK_FALSE(NonceMint::parse_key(std::string(63, 'a') + "g"));
  CHECK(NonceMint::random_key() != NonceMint::random_key());

  const NonceMint mint(*key);
  const std::uint8_t binding[] = {9};
  const auto a = mint.mint(1000, 1, binding);
  const auto b = mint.mint(1000, 2, binding);
  const std::string_view text_a(a.data(), a.size()), text_b(b.data(), b.size());
  REQUIRE(mint.check(text_a, binding));
  REQUIRE(mint.check(text_b, binding));
  CHECK(NonceMint::mac_of(text_a) == NonceMint::mac_of(text_a));
  CHECK(NonceMint::mac_of(text_a) != NonceMint::mac_of(text_b));
  // Not a nonce: no MAC (all zero).
  CHECK(NonceMint::mac_of("short") == std::array<std::uint8_t, 16>{});
}
