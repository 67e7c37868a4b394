#pragma once
// The Via the relay writes (built here only: write_via) and the branches in it (RFC 3261
// 8.1.1.7), written and read back: a transaction's names its slot and generation (found without
// a search) and carries a loop hash (16.3 step 4); stateless ones derive from the incoming
// branch; a health probe's names the core and a nonce. Internal to sbc/proxy.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "sbc/common/flow.hpp"
#include "sbc/common/fnv1a.hpp"
#include "sbc/common/hex.hpp"
#include "sbc/sip/writer.hpp"

namespace sbc::proxy::detail {

// Our branches: the magic cookie, our mark, then slot (6 hex), generation (8 hex) and loop hash
// (8 hex). The slot and generation find the transaction without a search.
inline constexpr std::string_view kBranchPrefix = "z9hG4bKsbc";
inline constexpr std::size_t kBranchSize = kBranchPrefix.size() + 6 + 8 + 8;
// Branches of requests we forward without a transaction (ACK for 2xx): derived from the
// incoming branch, so that a retransmitted ACK gets the same one.
inline constexpr std::string_view kStatelessPrefix = "z9hG4bKsbA";
inline constexpr std::size_t kStatelessBranchSize = kStatelessPrefix.size() + 16;
// Branches of our health probes: core index (2 hex) and the probe's random nonce (16 hex).
inline constexpr std::string_view kProbePrefix = "z9hG4bKsbP";
inline constexpr std::size_t kProbeBranchSize = kProbePrefix.size() + 2 + 16;

using common::fnv1a;
using common::kFnvBasis;
using common::put_hex;
// Our branches are written in lower case: one in upper case is not ours.
constexpr bool parse_hex(std::string_view text, std::uint64_t& out) noexcept {
  return common::parse_hex(text, out, common::HexCase::Lower);
}

// A transaction's branch into `out` (kBranchSize characters).
inline void write_branch(char* out, std::uint32_t slot, std::uint32_t generation,
                         std::uint32_t loop) noexcept {
  std::memcpy(out, kBranchPrefix.data(), kBranchPrefix.size());
  put_hex(out + kBranchPrefix.size(), slot, 6);
  put_hex(out + kBranchPrefix.size() + 6, generation, 8);
  put_hex(out + kBranchPrefix.size() + 14, loop, 8);
}

// A new generation in a transaction's branch (a fail-over's new client transaction).
inline void set_branch_generation(char* branch, std::uint32_t generation) noexcept {
  put_hex(branch + kBranchPrefix.size() + 6, generation, 8);
}

inline bool is_transaction_branch(std::string_view branch) noexcept {
  return branch.size() == kBranchSize && branch.substr(0, kBranchPrefix.size()) == kBranchPrefix;
}

// The slot and generation a branch of ours names; false for any other branch.
inline bool parse_branch(std::string_view branch, std::uint64_t& slot,
                         std::uint64_t& generation) noexcept {
  return is_transaction_branch(branch) && parse_hex(branch.substr(kBranchPrefix.size(), 6), slot) &&
         parse_hex(branch.substr(kBranchPrefix.size() + 6, 8), generation);
}

// Whether a branch of ours carries loop hash `hash`.
inline bool branch_has_loop_hash(std::string_view branch, std::uint32_t hash) noexcept {
  std::uint64_t h = 0;
  return is_transaction_branch(branch) && parse_hex(branch.substr(kBranchSize - 8), h) && h == hash;
}

// The branch of a request forwarded without a transaction, from its incoming one, into `out`
// (kStatelessBranchSize characters).
inline std::string_view write_stateless_branch(char* out, std::string_view incoming) noexcept {
  std::memcpy(out, kStatelessPrefix.data(), kStatelessPrefix.size());
  put_hex(out + kStatelessPrefix.size(), fnv1a(kFnvBasis, incoming), 16);
  return {out, kStatelessBranchSize};
}

// A probe's branch into `out` (kProbeBranchSize characters).
inline std::string_view write_probe_branch(char* out, std::size_t core,
                                           std::uint64_t nonce) noexcept {
  std::memcpy(out, kProbePrefix.data(), kProbePrefix.size());
  put_hex(out + kProbePrefix.size(), core, 2);
  put_hex(out + kProbePrefix.size() + 2, nonce, 16);
  return {out, kProbeBranchSize};
}

// The core index and nonce of a probe's branch; false for any other branch.
inline bool parse_probe_branch(std::string_view branch, std::uint64_t& core,
                               std::uint64_t& nonce) noexcept {
  return branch.size() == kProbeBranchSize &&
         parse_hex(branch.substr(kProbePrefix.size(), 2), core) &&
         parse_hex(branch.substr(kProbePrefix.size() + 2, 16), nonce);
}

// The Via value the SBC writes on every request it sends (RFC 3261 16.6 step 8, 18.2.1), all
// of them built here: our address as the next hop reaches us (`host`: an IP, bracketed for IPv6)
// over `protocol`, `branch`, and rport for the answer to come back where it came from (RFC 3581).
inline sip::Writer& write_via(sip::Writer& w, sbc::Protocol protocol, std::string_view host,
                              std::uint16_t port, std::string_view branch) noexcept {
  w << "SIP/2.0/" << sbc::protocol_name(protocol) << " ";
  w.host(host) << ":" << static_cast<unsigned>(port) << ";branch=" << branch << ";rport";
  return w;
}

}  // namespace sbc::proxy::detail
