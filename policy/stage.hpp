#pragma once
// One stage of the policy chain: one class, one decide(). Stages run in the configured order on
// the worker's thread; each owns its per-worker state (no locks) and names its reasons (the
// bounded `reason` label of sbc_policy_decisions_total).

#include <chrono>
#include <span>
#include <string_view>

#include "policy/bans.hpp"
#include "policy/decision.hpp"
#include "sbc/common/flow.hpp"
#include "sbc/sip/message.hpp"

namespace sbc::policy {

// Strikes the replicas add up (the fleet's shared store, when there is one): `weight` strikes of
// `stage` against `source`, on evidence that allows a ban over `scope`; the fleet bans the source
// (cause: stage, reason) once `limit` of them came within `window`, from any replica.
struct FleetStrike {
  SourceKey source;
  std::string_view stage, reason;  // string constants of the program
  BanScope scope = BanScope::All;
  unsigned weight = 1, limit = 1;
  std::chrono::seconds window{60};
};

// One of `stage`'s buckets (`bucket`: which) for `key` (a source, or a user's fleet key) is
// being drained on this worker, on evidence `scope` (see fleet_share.hpp).
struct HeavyUse {
  SourceKey key;
  std::string_view stage;  // a string constant of the program
  std::uint8_t bucket = 0;
  BanScope scope = BanScope::All;
};

// Counts that must add up across workers (failed authentications before a ban) are kept by one
// "home" worker per source; the others forward their strikes to it.
class StrikeRouter {
 public:
  virtual ~StrikeRouter() = default;
  // True when `source`'s strikes for `stage` belong to another worker (then forwarded there,
  // with the scope their evidence allows: Context::ban_scope()).
  virtual bool forward(const SourceKey& source, std::string_view stage,
                       BanScope scope) noexcept = 0;
  // Strikes for the fleet's count (see FleetStrike): each is shared once, by one worker.
  virtual void share(const FleetStrike& strike) noexcept { (void)strike; }
  // A bucket drained here, for the fleet's count of who drains it (fleet_share.hpp).
  virtual void report_heavy(const HeavyUse& use) noexcept { (void)use; }
};

struct Context {
  const sbc::FlowInfo& flow;
  const SourceKey& source;
  std::array<std::uint8_t, 16> address{};  // the source's full address
  TimePoint now;
  BanTable& bans;
  // False for a request that failed validation (the chain still sees it, to count floods and
  // silence scanners): only its source, its method and its header lines are reliable then, not
  // the typed fields (Request-URI, From, To ...), which may still describe an earlier message.
  bool valid = true;
  bool trusted = false;  // set by the ACL for trusted peers: later stages let them through
  // The source has authenticated recently (a trust tier: higher limits, no enumeration
  // scoring); kept by the chain from the auth stage's successes.
  bool authenticated = false;
  // Set by the auth stage on success (views valid until the next message): the identity to
  // assert to the core, and the credentials header line it consumed.
  std::string_view asserted_identity{};
  std::string_view consumed_credentials{};
  // Set by a stage that saw proof the source receives what we send (a nonce it was given).
  bool return_route_proved = false;
  // The source address is proved: the message came over TCP or TLS (the handshake proved it), or
  // a stage saw proof in it (a Digest nonce this SBC issued to that address). A UDP datagram's
  // source is otherwise whatever its sender wrote.
  bool verified = false;
  StrikeRouter* strikes = nullptr;  // none: this worker counts everything itself

  // What a ban for evidence in this message may cover (see bans.hpp): nothing for a trusted
  // peer; every transport for a verified address; UDP only otherwise, and nothing for an
  // authenticated source (one forged datagram must not cut off a user who logged in).
  BanScope ban_scope() const noexcept {
    if (trusted) return BanScope::None;
    if (verified) return BanScope::All;
    return authenticated ? BanScope::None : BanScope::Udp;
  }
  void ban(BanScope scope, BanCause cause) noexcept { bans.ban(source, now, scope, cause); }
  void ban(BanCause cause) noexcept { ban(ban_scope(), cause); }
};

class Stage {
 public:
  virtual ~Stage() = default;
  virtual std::string_view name() const noexcept = 0;
  // The labels of the reasons this stage decides for; Decision::reason indexes it.
  virtual std::span<const std::string_view> reasons() const noexcept = 0;
  virtual Decision decide(const sip::Message& request, Context& context) noexcept = 0;
  // The core refused a request of this source for its credentials (see Chain::core_refused).
  virtual void core_refused(Context& context) noexcept { (void)context; }
  // A final answer went to this source: the chain's own (a stage's Respond) or the core's
  // (Chain::core_answered). Stages that score a source's answers count it.
  virtual void answered(Context& context, std::uint16_t status) noexcept {
    (void)context;
    (void)status;
  }
  // The fleet counted `takers` workers (of every replica) draining `use`'s bucket: for
  // the next kSpreadFresh, hold it to 1/takers of its limit here (fleet_share.hpp).
  virtual void spread(const HeavyUse& use, unsigned takers, TimePoint now) noexcept {
    (void)use;
    (void)takers;
    (void)now;
  }
  // A strike another worker forwarded here, the source's home (see StrikeRouter).
  virtual void strike(Context& context) noexcept { (void)context; }
  // Whether this stage exempts `address` from the policies (the ACL's trusted peers), for what
  // the relay reports after the fact (Chain::core_refused), where no decide() ran.
  virtual bool trusts(const std::array<std::uint8_t, 16>& address) const noexcept {
    (void)address;
    return false;
  }
  // The "Allow: ..." header line (no CRLF) this stage stands for, empty if none: the methods
  // stage's list is what the edge's own answers (OPTIONS, 405) advertise.
  virtual std::string_view allow_header() const noexcept { return {}; }
};

}  // namespace sbc::policy
