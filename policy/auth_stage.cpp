#include "policy/auth_stage.hpp"

#include <algorithm>
#include <cstring>

#include "sbc/common/hex.hpp"
#include "sbc/common/keyed_hash.hpp"
#include "sbc/crypto/random.hpp"
#include "sbc/sip/fields.hpp"
#include "sbc/sip/scanner.hpp"
#include "sbc/sip/writer.hpp"

namespace sbc::policy {
namespace {

constexpr std::string_view kReasons[] = {"challenge",  "stale_nonce",  "failed",
                                         "replay",     "aor_not_own",  "malformed",
                                         "user_flood", "foreign_nonce"};

std::string_view unquoted(sip::ParamValue v) noexcept {
  std::string_view s = v.value;
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

std::optional<std::uint32_t> parse_nc(std::string_view hex) noexcept {
  std::uint64_t v = 0;
  if (hex.size() != 8 || !common::parse_hex(hex, v)) return std::nullopt;
  return static_cast<std::uint32_t>(v);
}

// This process among the replicas (see AuthSettings::replica): drawn once, kept across reloads.
std::uint64_t process_replica() noexcept {
  static const std::uint64_t replica = sbc::crypto::random_u64() | 1;
  return replica;
}

// The users' hash key of every replica sharing `nonce_key`: derived from it (SipHash is a PRF:
// the derived key tells nothing about the nonce key), so a user has one key in the fleet's
// store and still nobody without the secret can pick names that collide.
common::HashKey fleet_users_key(const sbc::crypto::NonceMint::Key& nonce_key) noexcept {
  static_assert(sizeof(nonce_key) >= 16);
  common::HashKey secret;
  std::memcpy(&secret.k0, nonce_key.data(), 8);
  std::memcpy(&secret.k1, nonce_key.data() + 8, 8);
  return {common::siphash24(secret, std::string_view("sbc fleet users 0")),
          common::siphash24(secret, std::string_view("sbc fleet users 1"))};
}

}  // namespace

AuthStage::AuthStage(const AuthSettings& settings, unsigned worker)
    : settings_(settings),
      worker_(worker),
      replica_(settings.replica != 0 ? settings.replica : process_replica()),
      mint_(settings.nonce_key),
      wall_offset_(std::chrono::system_clock::now().time_since_epoch() -
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(
                       std::chrono::steady_clock::now().time_since_epoch())),
      nonces_(settings.max_nonces),
      failures_(settings.max_sources),
      users_key_(settings.nonce_key_configured ? fleet_users_key(settings.nonce_key)
                                               : common::process_hash_key()),
      users_(settings.user_rate > 0 ? settings.max_sources : 8) {
  if (settings_.identity_domain.empty()) settings_.identity_domain = settings_.realm;
  if (settings_.domains.empty()) settings_.domains.push_back(settings_.identity_domain);
  // The stand-in HA1 for unknown users: unguessable, so no password matches it.
  const auto key = sbc::crypto::NonceMint::random_key();
  static_assert(sizeof stand_in_ha1_ == 2 * sizeof key);
  common::encode_hex(key.data(), key.size(), stand_in_ha1_.data());
}

std::span<const std::string_view> AuthStage::reasons() const noexcept {
  return kReasons;
}

std::uint64_t AuthStage::seconds(TimePoint now) const noexcept {
  const auto wall =
      std::chrono::duration_cast<std::chrono::system_clock::duration>(now.time_since_epoch()) +
      wall_offset_;
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(wall).count());
}

std::array<std::uint8_t, 25> AuthStage::binding(const Context& context) const noexcept {
  std::array<std::uint8_t, 25> b{};
  std::memcpy(b.data(), context.address.data(), context.address.size());
  b[16] = static_cast<std::uint8_t>(worker_);
  for (std::size_t i = 0; i < 8; ++i) b[17 + i] = static_cast<std::uint8_t>(replica_ >> (8 * i));
  return b;
}

Decision AuthStage::challenge(const sip::Message& request, Context& context, bool stale,
                              Reason reason) noexcept {
  const bool registering = request.method() == sip::Method::Register;
  const auto nonce = mint_.mint(seconds(context.now), ++serial_, binding(context));
  sip::Writer out(challenge_);
  bool first = true;
  for (sbc::crypto::DigestAlgorithm algorithm : settings_.algorithms) {
    if (!first) out << "\r\n";
    first = false;
    out << (registering ? "WWW-Authenticate" : "Proxy-Authenticate") << ": Digest realm=\""
        << settings_.realm << "\", nonce=\"" << std::string_view(nonce.data(), nonce.size())
        << "\", algorithm=" << sbc::crypto::digest_algorithm_name(algorithm) << ", qop=\"auth\"";
    if (stale) out << ", stale=true";
  }
  if (!out.ok())
    return Decision::respond(500, "Server Internal Error (challenge too long)", reason);
  return registering ? Decision::respond(401, "Unauthorized", reason, out.view())
                     : Decision::respond(407, "Proxy Authentication Required", reason, out.view());
}

bool AuthStage::user_over_limit(std::string_view username, Context& context) noexcept {
  if (settings_.user_rate <= 0) return false;
  // Users key the table by a keyed hash of the name: an attacker cannot pick names that share
  // a user's bucket (or its entry) to exhaust that user's rate.
  SourceKey key;
  const std::uint64_t h = common::siphash24(users_key_, username);
  std::memcpy(key.bytes.data(), &h, sizeof h);
  bool fresh = false;
  UserBucket& user = users_.get(key, context.now, fresh);
  // A user's answers are evidence whatever carried them (nobody else has the password).
  const unsigned takers = user.shared.takers(BanScope::All, context.now);
  const double rate = settings_.user_rate / takers;
  const double burst = std::max(1.0, settings_.user_burst / takers);
  const bool taken = user.bucket.take(rate, burst, context.now);
  if (context.strikes != nullptr && user.shared.report_due(user.bucket, burst, context.now))
    context.strikes->report_heavy({key, name(), 0, BanScope::All});
  return !taken;
}

void AuthStage::spread(const HeavyUse& use, unsigned takers, TimePoint now) noexcept {
  if (use.bucket != 0 || settings_.user_rate <= 0) return;
  if (UserBucket* user = users_.find(use.key, now)) user->shared.heard(BanScope::All, takers, now);
}

bool AuthStage::count_failure(Context& context) noexcept {
  // A trusted peer is never banned; an authenticated one not on evidence anyone could forge.
  const BanScope scope = context.ban_scope();
  if (settings_.ban_after_failures == 0 || scope == BanScope::None) return false;
  // Another worker is this source's home: its count there decides the ban (which then reaches
  // every worker), however the kernel spreads the source's ports over the workers.
  if (context.strikes != nullptr && context.strikes->forward(context.source, name(), scope))
    return false;
  // Verified evidence counts across the fleet too (replicas sharing a store).
  if (scope == BanScope::All && context.strikes != nullptr)
    context.strikes->share({context.source, name(), "failures", scope, 1,
                            settings_.ban_after_failures, settings_.failure_window});
  bool fresh = false;
  Failures& f = failures_.get(context.source, context.now, fresh);
  if (fresh || context.now - f.started >= settings_.failure_window) {
    f.strikes.clear();
    f.started = context.now;
  }
  const BanScope ban = f.strikes.add(scope, 1, settings_.ban_after_failures);
  if (ban == BanScope::None) return false;
  context.ban(ban, {name(), "failures"});
  return true;
}

bool AuthStage::own_aor(const sip::Uri& uri, std::string_view username) const noexcept {
  if (uri.user != username) return false;
  return std::any_of(settings_.domains.begin(), settings_.domains.end(),
                     [&uri](const std::string& d) { return sip::iequals(uri.host, d); });
}

Decision AuthStage::fail(const sip::Message& request, Context& context) noexcept {
  if (count_failure(context)) return Decision::drop(kFailed);
  return challenge(request, context, false, kFailed);
}

void AuthStage::strike(Context& context) noexcept {
  (void)count_failure(context);  // at the home worker: counted here (and for the fleet)
}

void AuthStage::core_refused(Context& context) noexcept {
  if (settings_.mode != AuthSettings::Mode::Core) return;
  core_refusals_.inc();
  // A trusted peer (a trunk) whose requests the core refuses (a barred number, a policy) is not
  // guessing passwords; a refusal of a UDP request bans over UDP only (count_failure).
  if (context.trusted) return;
  (void)count_failure(context);
}

namespace {

// The request's first Digest credentials for `realm` in the `wanted` header (Authorization or
// Proxy-Authorization), parsed into `out`; nullptr when there are none.
const sip::HeaderField* credentials_for(const sip::Message& request, sip::HeaderId wanted,
                                        std::string_view realm, sip::AuthValue& out) noexcept {
  for (const sip::HeaderField& f : request.headers()) {
    if (f.id != wanted) continue;
    sip::AuthValue a;
    if (sip::parse_credentials(f.value, a) && a.is_digest() &&
        unquoted(a.param("realm")) == realm) {
      out = a;
      return &f;
    }
  }
  return nullptr;
}

}  // namespace

// Records the nonce count `nc` used with a current nonce issued at `issued` (seconds). False for
// a replay: a count not above the highest seen with this nonce, or a nonce the table forgot.
bool AuthStage::record_nonce_count(std::string_view nonce, std::uint64_t issued, std::uint32_t nc,
                                   TimePoint now) noexcept {
  SourceKey key;
  const auto mac = sbc::crypto::NonceMint::mac_of(nonce);
  std::memcpy(key.bytes.data(), mac.data(), mac.size());
  NonceUse* use = nonces_.find(key, now);
  if (use == nullptr) {
    // Forgotten nonces may have been used with any count: only newer ones start afresh.
    if (issued <= forgotten_up_to_) return false;
    bool fresh = false;
    use = &nonces_.get(key, now, fresh, [this](const SourceKey&, const NonceUse& gone) {
      forgotten_up_to_ = std::max(forgotten_up_to_, gone.issued);
    });
    use->issued = issued;
  } else if (nc <= use->highest_nc) {
    return false;
  }
  use->highest_nc = nc;
  return true;
}

Decision AuthStage::decide(const sip::Message& request, Context& context) noexcept {
  if (!started_) {
    // Nonces issued before this stage existed (by an earlier process with the same key, or the
    // chain a reload replaced) may have been used with any count: they count as forgotten.
    started_ = true;
    forgotten_up_to_ = seconds(context.now) - 1;
  }
  if (context.trusted || !context.valid || settings_.mode == AuthSettings::Mode::Core)
    return Decision::next();
  const sip::Method method = request.method();
  // ACK and CANCEL cannot be challenged (RFC 3261 22.1); requests inside a dialog are guarded by
  // the relay's dialog protection; an OPTIONS to the edge itself is a keep-alive.
  if (method == sip::Method::Ack || method == sip::Method::Cancel) return Decision::next();
  if (!request.to().tag.empty() && method != sip::Method::Register && settings_.in_dialog_exempt)
    return Decision::next();
  if (method == sip::Method::Options && !request.request_uri().has_user()) return Decision::next();

  const bool registering = method == sip::Method::Register;
  const sip::HeaderId wanted =
      registering ? sip::HeaderId::Authorization : sip::HeaderId::ProxyAuthorization;
  sip::AuthValue credentials;
  const sip::HeaderField* field = credentials_for(request, wanted, settings_.realm, credentials);
  if (field == nullptr) return challenge(request, context, false, kChallenge);

  const std::string_view username = unquoted(credentials.param("username"));
  const std::string_view nonce = unquoted(credentials.param("nonce"));
  const std::string_view uri = unquoted(credentials.param("uri"));
  const std::string_view response = unquoted(credentials.param("response"));
  const std::string_view cnonce = unquoted(credentials.param("cnonce"));
  const std::string_view qop = unquoted(credentials.param("qop"));
  const std::string_view nc_text = credentials.param("nc").value;
  const sip::ParamValue algorithm_param = credentials.param("algorithm");
  const auto algorithm = algorithm_param ? sbc::crypto::digest_algorithm(algorithm_param.value)
                                         : std::optional(sbc::crypto::DigestAlgorithm::Md5);
  bool offered = false;
  for (sbc::crypto::DigestAlgorithm a : settings_.algorithms)
    offered = offered || (algorithm && a == *algorithm);
  // Only qop=auth is offered: without it there is no nonce count, so no replay protection.
  if (!offered || qop != "auth") return challenge(request, context, false, kChallenge);
  const auto nc = parse_nc(nc_text);
  if (!nc || *nc == 0)
    return Decision::respond(400, "Bad Authorization header (nonce count)", kMalformed);
  if (uri != request.request_uri().text)
    return Decision::respond(400, "Bad Authorization header (uri differs from the Request-URI)",
                             kMalformed);

  // A nonce issued to this address came back, whatever the password: the source receives what
  // we send (anti-amplification). While the nonce is valid, that verifies the address for what
  // this request proves (a failure counts, and may ban on every transport).
  const auto issued = mint_.check(nonce, binding(context));
  if (issued) context.return_route_proved = true;
  const std::uint64_t now = seconds(context.now);
  const bool current =
      issued && *issued <= now + 5 &&
      now - *issued <= static_cast<std::uint64_t>(settings_.nonce_lifetime.count());
  if (current) context.verified = true;

  // The same work for an unknown user as for a known one.
  const std::size_t hex_size = sbc::crypto::digest_hex_size(*algorithm);
  const auto known =
      settings_.credentials ? settings_.credentials->ha1(username, *algorithm) : std::nullopt;
  const std::string_view ha1 = known ? *known : std::string_view(stand_in_ha1_.data(), hex_size);
  std::array<char, 64> ha2_buffer{};
  std::array<char, 64> expected_buffer{};
  const std::string_view ha2_parts[] = {request.method_name(), uri};
  const std::string_view ha2 = sbc::crypto::digest_hex(*algorithm, ha2_parts, ha2_buffer);
  const std::string_view parts[] = {ha1, nonce, nc_text, cnonce, qop, ha2};
  const std::string_view expected = sbc::crypto::digest_hex(*algorithm, parts, expected_buffer);
  if (!sbc::crypto::constant_time_equal(expected, response) || !known) {
    // A wrong answer to a nonce not issued to this source (or expired) proves nothing about who
    // sent it: a fresh challenge, not counted (else anyone could fail in a victim's name).
    if (!current) return challenge(request, context, false, kForeignNonce);
    return fail(request, context);
  }

  // The password is right; now whether the nonce is ours, fresh, and not used with this count.
  if (!current) return challenge(request, context, true, kStale);
  if (!record_nonce_count(nonce, *issued, *nc, context.now))
    return challenge(request, context, true, kReplay);

  // Registration hijacking: only one's own address-of-record, user and domain.
  if (registering && !own_aor(request.to().uri, username))
    return Decision::respond(403, "Forbidden (the To is not the authenticated user's address)",
                             kWrongAor);
  if (!registering && settings_.bind_from && !own_aor(request.from().uri, username))
    return Decision::respond(403, "Forbidden (the From is not the authenticated user's address)",
                             kWrongAor);

  if (user_over_limit(username, context)) return Decision::drop(kUserFlood);

  sip::Writer identity(identity_);
  identity << "<sip:" << username << "@" << settings_.identity_domain << ">";
  if (identity.ok()) context.asserted_identity = identity.view();
  context.consumed_credentials = field->line;
  if (Failures* f = failures_.find(context.source, context.now)) f->strikes.clear();
  successes_.inc();
  return Decision::next();
}

}  // namespace sbc::policy
