#pragma once
// What the relay needs to know, read from the configuration's `core` and `relay` sections.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sbc/common/flow.hpp"
#include "sbc/crypto/token_sealer.hpp"
#include "sbc/proxy/call_counts.hpp"
#include "sbc/sip/message.hpp"

namespace sbc::proxy {

// One address of the internal SIP core (a registrar, a PBX).
struct CoreTarget {
  std::string ip;  // an IP literal: the relay never resolves names
  std::uint16_t port = 5060;
  unsigned priority = 1;  // lower first
  unsigned weight = 1;
  // UDP from the worker's inside socket, or TCP/TLS over a connection the worker keeps open.
  sbc::Protocol protocol = sbc::Protocol::Udp;
  // In the configuration, a target named by a DNS name instead (ip empty; port 0 = SRV first):
  // the daemon's resolver (sbc/dns) turns it into targets with addresses, which keep the name
  // (a TLS core's certificate must carry it, RFC 5922).
  std::string name = {};
};

// An address:port of ours; entries of Route that name one of them (with our user prefix) are ours.
struct OwnAddress {
  std::string ip;
  std::uint16_t port = 0;
};

struct RelaySettings {
  std::vector<CoreTarget> cores;
  // This worker's inside socket, toward the core: what our Via, Path and inside Record-Route
  // entries carry on the inside.
  std::string inside_ip;
  std::uint16_t inside_port = 0;
  // Outside addresses of the listeners, to recognise our own Record-Route entries coming back.
  std::vector<OwnAddress> outside_addresses;

  // RFC 3261 Appendix A.
  std::chrono::milliseconds t1{500};
  std::chrono::milliseconds t2{4000};
  std::chrono::milliseconds t4{5000};
  std::chrono::milliseconds timer_c{180000};  // > 3 minutes (16.6 step 11) in production
  // How long a finished transaction stays to absorb retransmissions (of the request from the
  // client, of the final answer from the next hop) and to relay 2xx retransmissions. RFC 3261
  // says 64*T1 (32 s, timers J and L); like Kamailio's wait timer we default to 5 s (= T4, timer
  // K), which keeps the table small at high call rates. Set 32000 for the letter of the RFC.
  std::chrono::milliseconds linger{5000};
  // A new request that got no answer at all (not even 100) from its core within this goes to
  // the next usable core; without another core it waits for the full 64*T1.
  std::chrono::milliseconds failover_timeout{2000};
  // How the relay tells that a core is up (core.probe).
  enum class CoreHealth : std::uint8_t {
    // OPTIONS probes every probe_interval: two unanswered or a 503 mark a core down, any other
    // answer up; a core marked down by a request's failure comes back with a probe's answer.
    Options,
    // No probes (for cores that answer calls but not OPTIONS): a request's failure (no answer,
    // 503, a broken connection) takes the core out of rotation for 30 s, then it is tried again;
    // an answer to a request marks it up.
    Passive,
    // No health at all: every core stays in rotation (each request still fails over).
    Off,
  };
  CoreHealth core_health = CoreHealth::Options;
  // OPTIONS health probes to every core (core_health Options); 0: none (as Passive).
  std::chrono::milliseconds probe_interval{5000};
  // Called on the worker's thread when a core goes down or comes back (rare: transitions only),
  // with why: for the log.
  std::function<void(const CoreTarget& core, bool up, std::string_view reason)> on_core_state;

  // Hide the inside from the outside: the core's Via stack, its Record-Route entries and the
  // Contact of what comes from the inside travel sealed or stay in transaction state.
  bool topology_hiding = true;
  // Requests inside a dialog from the outside only through the Record-Route entry the SBC issued
  // for it, from that party's address (else 481).
  bool dialog_protection = true;
  // Hide the Call-IDs the core chooses (they often name its host): what goes down a flow carries
  // a sealed form, which the answers and in-dialog requests from the outside bring back and the
  // core gets its own again. The outside's own Call-IDs are left as they are.
  bool mask_call_id = false;
  // A sips: Request-URI promises TLS on every hop (RFC 5630): such requests go only to cores
  // over TLS, and down flows over TLS; else 416.
  bool sips_end_to_end = true;
  // Keys that seal the tokens in our URIs (Path, Record-Route, hidden Contact); the first seals,
  // all open. Empty: one random key (tests; the daemon always passes one).
  std::vector<sbc::crypto::TokenSealer::Key> token_keys;
  // Header fields only a trusted side may set: removed from requests from the outside.
  std::vector<std::string> untrusted_headers{"P-Asserted-Identity", "P-Preferred-Identity",
                                             "Remote-Party-ID", "P-Charging-Vector",
                                             "P-Charging-Function-Addresses"};
  // How long the outside Record-Route entry of a dialog lets in-dialog requests in (it is bound to
  // the dialog's Call-ID and caller tag, and expires: a dialog's route set cannot be refreshed).
  std::chrono::seconds dialog_token_lifetime{86400};
  // Bound of the transaction table (attacker-controlled keys): 503 above it.
  std::uint32_t max_transactions = 32768;
  // Bound of the bytes the transactions keep (requests, answers; slots reused included): a new
  // transaction starts only while what it will keep fits, else 503 with Retry-After.
  std::size_t max_transaction_bytes = std::size_t{64} << 20;
  // Calls (dialog_table.hpp): at most this many per worker, attempts included (a new call over
  // it is refused 503); one without a refresh (a re-INVITE or UPDATE answered 2xx) for
  // session_timeout is forgotten (sooner with RFC 4028's Session-Expires, plus 32 s).
  std::uint32_t max_dialogs = 32768;
  std::chrono::seconds session_timeout{7200};
  // policy.calls: concurrent calls from the outside per user, per source prefix, in all. The
  // counts span the workers when the relays share `call_counts` (the daemon makes one, `worker`
  // names this relay's table in it); else the relay counts alone.
  CallLimitSettings call_limits;
  std::shared_ptr<CallCounts> call_counts;
  unsigned worker = 0;
  // Media anchoring (media_port.hpp, set by Relay::set_media_port): what a call gets when the
  // media relay does not rewrite its offer (no answer in time, an error): refused 503 (Reject),
  // or relayed unanchored and counted (Pass).
  enum class MediaFailure : std::uint8_t { Reject, Pass };
  MediaFailure media_on_failure = MediaFailure::Reject;
  // media.srtp: SDES-SRTP at the border, per listener (by its bound port; TLS listeners only, so
  // that the keys in the SDP never cross the network in clear). Optional and Required bridge an
  // SRTP offer from the outside to plain RTP inside; Required refuses an offer without SRTP with
  // 488, and offers SRTP to a user agent called down one of its flows.
  enum class Srtp : std::uint8_t { Off, Optional, Required };
  std::vector<std::pair<std::uint16_t, Srtp>> media_srtp;
  // Max-Forwards of relayed requests is clamped to this before the decrement (an attacker's 255
  // would let a loop or spiral run longer).
  unsigned max_forwards = 70;
  sip::Limits limits;  // for messages from the inside
  // Seeds the transaction generations that our branches carry; 0: random at start, so that
  // branches differ between runs. Tests and fuzzing set one to be reproducible.
  std::uint64_t branch_seed = 0;
};

}  // namespace sbc::proxy
