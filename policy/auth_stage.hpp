#pragma once
// Digest authentication at the edge (RFC 3261 section 22, RFC 7616, RFC 8760): out-of-dialog
// requests from untrusted sources must carry credentials for our realm, or get a challenge (401
// for REGISTER, 407 otherwise) offering the configured algorithms (SHA-256 and MD5 by default)
// with qop=auth. Nonces are stateless (sbc::crypto::NonceMint: HMAC over issue time, client address
// and worker); a correct answer to an expired or foreign nonce gets stale=true. Nonce counts are
// remembered per nonce in a bounded table, so a replayed request does not pass; a nonce the table
// no longer holds is only accepted if it is younger than everything it has forgotten.
//
// Anti-enumeration: an unknown user and a wrong password get the same answer (a fresh challenge)
// after the same work (a digest over a stand-in HA1). Registration hijacking: a REGISTER may only
// bind the To of the user who authenticated, and with bind_from other requests must come From
// that user too: user and host, the host one of `domains` (a multi-tenant core keeps
// alice@example.com and alice@other.example apart). After success the stage hands the relay the
// identity to assert to the core (P-Asserted-Identity) and the credentials header to remove.
//
// Failures count per source within `failure_window`; too many ban it. A wrong answer counts only
// when its nonce is one this SBC issued to that source and still valid: that proves the source
// receives our answers, so nobody can fail "from" a victim's address to have it banned (a wrong
// answer to a foreign or expired nonce just gets a fresh challenge).

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "metrics/counter.hpp"
#include "policy/credentials.hpp"
#include "policy/fleet_share.hpp"
#include "policy/source_table.hpp"
#include "policy/stage.hpp"
#include "policy/token_bucket.hpp"
#include "sbc/common/keyed_hash.hpp"
#include "sbc/crypto/digest.hpp"

namespace sbc::policy {

struct AuthSettings {
  // edge: the SBC challenges and checks (below). core: the core does, the SBC only counts the
  // core's refusals of a source's credentials (Chain::core_refused) towards its ban.
  enum class Mode : std::uint8_t { Edge, Core };
  Mode mode = Mode::Edge;
  std::string realm = "sbc";
  // The host of the asserted identity (sip:user@domain); the realm when empty.
  std::string identity_domain;
  std::string credentials_file;  // required when the stage is in the chain
  // Offered in this order (one challenge header each).
  std::vector<sbc::crypto::DigestAlgorithm> algorithms{sbc::crypto::DigestAlgorithm::Sha256,
                                                       sbc::crypto::DigestAlgorithm::Md5};
  std::chrono::seconds nonce_lifetime{300};
  bool bind_from = true;  // non-REGISTER requests: From = the authenticated user's AOR
  // The hosts of the authenticated users' addresses-of-record (compared case-insensitively, port
  // ignored); empty: the identity domain alone.
  std::vector<std::string> domains;
  // Requests with a To tag (not REGISTER) are left to the relay's dialog protection, which lets
  // them in only with a token bound to their dialog; set from relay.dialog_protection (without
  // it they are challenged like any other).
  bool in_dialog_exempt = true;
  unsigned ban_after_failures = 10;  // failed answers of one source before a ban; 0: never
  // Failures older than this are forgotten: the count starts afresh `failure_window` after a
  // source's first failure (a fixed window; with mode core, the core's refusals likewise).
  std::chrono::seconds failure_window{600};
  // Requests per second (and burst) of one authenticated user, from wherever it comes (a
  // stolen password used from many addresses); 0: no limit. Per worker; with a fleet store and a
  // nonce key the replicas share, a user drained on k workers gets 1/k on each (fleet_share.hpp).
  double user_rate = 0;
  double user_burst = 0;
  std::size_t max_nonces = 65536;  // per worker
  // The replica a nonce is bound to (with the worker): 0 = this process, a random number drawn
  // once per process. Nonce counts live where the nonce was issued, so a nonce answered to
  // another replica (or to this one after a restart) gets a fresh challenge with stale=true
  // instead of a table that has never seen its counts: no replay across a fleet, whatever the
  // shared store does. Tests set two stages apart.
  std::uint64_t replica = 0;
  std::size_t max_sources = 65536;  // per worker
  // Resolved at start-up: the users (shared read-only by every worker's stage) and the nonce
  // key (configured, or random when none is: then replicas cannot share nonces).
  std::shared_ptr<const Credentials> credentials;
  sbc::crypto::NonceMint::Key nonce_key{};
  bool nonce_key_configured = false;
};

class AuthStage final : public Stage {
 public:
  enum Reason : std::uint8_t {
    kChallenge,
    kStale,
    kFailed,
    kReplay,
    kWrongAor,
    kMalformed,
    kUserFlood,
    kForeignNonce
  };
  // `worker` binds nonces to the worker that issued them (its table holds their counts).
  AuthStage(const AuthSettings& settings, unsigned worker);
  std::string_view name() const noexcept override { return "auth"; }
  std::span<const std::string_view> reasons() const noexcept override;
  Decision decide(const sip::Message& request, Context& context) noexcept override;

  void core_refused(Context& context) noexcept override;
  void strike(Context& context) noexcept override;
  void spread(const HeavyUse& use, unsigned takers, TimePoint now) noexcept override;
  const metrics::Counter& successes() const noexcept { return successes_; }
  const metrics::Counter& core_refusals() const noexcept { return core_refusals_; }

 private:
  struct NonceUse {
    std::uint32_t highest_nc = 0;
    std::uint64_t issued = 0;
  };
  struct Failures {
    StrikeCount strikes;
    TimePoint started{};  // of the window
  };
  struct UserBucket {
    TokenBucket bucket;
    SharedBucket shared;
  };
  bool user_over_limit(std::string_view username, Context& context) noexcept;
  Decision challenge(const sip::Message& request, Context& context, bool stale,
                     Reason reason) noexcept;
  Decision fail(const sip::Message& request, Context& context) noexcept;
  // Counts a failure of the source; true when that bans it.
  bool count_failure(Context& context) noexcept;
  std::uint64_t seconds(TimePoint now) const noexcept;
  // Whether `uri` is the address-of-record of `username` (user and one of the domains).
  bool own_aor(const sip::Uri& uri, std::string_view username) const noexcept;
  std::array<std::uint8_t, 25> binding(const Context& context) const noexcept;
  // Records the count `nc` used with a current nonce; false when it is a replay.
  bool record_nonce_count(std::string_view nonce, std::uint64_t issued, std::uint32_t nc,
                          TimePoint now) noexcept;

  AuthSettings settings_;
  unsigned worker_;
  std::uint64_t replica_;
  sbc::crypto::NonceMint mint_;
  std::chrono::system_clock::duration wall_offset_;
  SourceTable<NonceUse> nonces_;
  std::uint64_t forgotten_up_to_ = 0;  // the newest issue time the nonce table evicted
  std::uint32_t serial_ = 0;
  bool started_ = false;
  SourceTable<Failures> failures_;
  // Users' table keys: a keyed hash of the name, the key derived from the nonce key when one is
  // configured (then every replica sharing it names a user alike in the fleet's store).
  common::HashKey users_key_;
  SourceTable<UserBucket> users_;
  metrics::Counter successes_;
  metrics::Counter core_refusals_;
  std::array<char, 64> stand_in_ha1_{};
  std::array<char, 1024> challenge_{};
  std::array<char, 256> identity_{};
};

}  // namespace sbc::policy
