#pragma once
// Anti-amplification (RFC 3261 26.1.5): an answer the edge makes itself (a challenge, a keep-alive
// 200 with Allow, a rejection) can be larger than the request, and over UDP the request's source
// address can be forged to aim those extra bytes at a victim. A source that has not shown it
// receives what we send (by answering a Digest challenge) may get answers larger than its
// requests only within a small budget of extra bytes per source (a token bucket); over the
// budget the answer is dropped. Answers no larger than their request are always sent: they
// amplify nothing. Stream transports are exempt (their handshake proves the address).

#include <cstddef>

#include "policy/source_table.hpp"
#include "policy/token_bucket.hpp"

namespace sbc::policy {

struct AmplificationSettings {
  bool enabled = true;
  double excess_bytes_per_second = 512;  // refill of a source's budget of extra bytes
  double excess_burst_bytes = 4096;      // the budget's size
  std::size_t max_sources = 65536;       // per worker, for each of the two tables
};

class AmplificationGuard {
 public:
  explicit AmplificationGuard(const AmplificationSettings& settings)
      : settings_(settings), budgets_(settings.max_sources), verified_(settings.max_sources) {}

  // Whether an answer of `answer_bytes` to a request of `request_bytes` from `source` may go.
  bool may_answer(const SourceKey& source, TimePoint now, std::size_t request_bytes,
                  std::size_t answer_bytes) noexcept {
    if (!settings_.enabled || answer_bytes <= request_bytes) return true;
    if (verified_.find(source, now) != nullptr) return true;
    const double excess = static_cast<double>(answer_bytes - request_bytes);
    bool fresh = false;
    return budgets_.get(source, now, fresh)
        .take(settings_.excess_bytes_per_second, settings_.excess_burst_bytes, now, excess);
  }
  // The source answered something only a receiver of our answers could (a Digest nonce).
  void verified(const SourceKey& source, TimePoint now) noexcept {
    bool fresh = false;
    (void)verified_.get(source, now, fresh);
  }

 private:
  struct Verified {};
  AmplificationSettings settings_;
  SourceTable<TokenBucket> budgets_;
  SourceTable<Verified> verified_;
};

}  // namespace sbc::policy
