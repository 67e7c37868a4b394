#pragma once
// The users the edge authenticates, as HA1 values (H(user:realm:password), never passwords) from
// a credentials file, one per line:
//
//   # user:realm:algorithm:HA1 (algorithm MD5 or SHA-256; both lines for a user offer both)
//   alice:example.com:SHA-256:5f6a...
//   alice:example.com:MD5:939e...
//
// `sbc ha1 USER REALM` prints both lines for a password read from standard input. Loaded at
// start (and on reload); lookups are allocation-free.

#include <array>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "sbc/crypto/digest.hpp"

namespace sbc::policy {

class Credentials {
 public:
  // Entries of `realm` from the file's text; throws std::invalid_argument naming the line of a
  // malformed entry or a repeated one. Entries of other realms are skipped.
  static Credentials parse(std::string_view text, std::string_view realm);
  // The same from a file; throws std::runtime_error when it cannot be read.
  static Credentials load(const std::string& path, std::string_view realm);

  // The user's HA1 for `algorithm` (lowercase hex), or nothing.
  std::optional<std::string_view> ha1(std::string_view user,
                                      sbc::crypto::DigestAlgorithm algorithm) const noexcept;
  std::size_t users() const noexcept { return users_.size(); }
  // A line as `sbc ha1` prints it.
  static std::string line(std::string_view user, std::string_view realm,
                          sbc::crypto::DigestAlgorithm algorithm, std::string_view password);

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
      return std::hash<std::string_view>{}(s);
    }
  };
  struct User {
    std::array<std::string, 2> ha1;  // by DigestAlgorithm; empty when not given
  };
  std::unordered_map<std::string, User, Hash, std::equal_to<>> users_;
};

}  // namespace sbc::policy
