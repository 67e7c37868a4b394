// The calls through the relay (dialog_table.hpp): a dialog-creating INVITE opens one, within the
// fraud limits of policy.calls (call_counts.hpp) when it comes from the outside; its 2xx
// establishes it, a final failure (CANCEL's 487 included) or the end of its transaction without
// an answer ends it; a re-INVITE or UPDATE answered 2xx refreshes it; a BYE either way ends it
// (RFC 3261 15.1.1: the session ends when the BYE is sent); the sweep forgets one not refreshed
// within relay.session_timeout (or RFC 4028's Session-Expires).

#include <algorithm>

#include "sbc/proxy/relay_impl.hpp"

namespace sbc::proxy {
namespace {

// RFC 4028: the session lasts its interval from the last refresh; a margin lets the refresh
// that the refresher sends halfway arrive late.
constexpr std::chrono::seconds kSessionExpiresGrace{32};

std::uint64_t session_expires(const Message& m) noexcept {
  const sip::HeaderField* h = m.find("Session-Expires");
  if (h == nullptr) h = m.find("x");  // its compact form
  if (h == nullptr) return 0;
  std::string_view value = h->value.substr(0, h->value.find(';'));
  while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
  std::uint32_t seconds = 0;
  return sip::parse_delta_seconds(value, seconds) ? seconds : 0;
}

}  // namespace

TimePoint Relay::Impl::session_expiry(const Message* answer) const noexcept {
  std::chrono::seconds lasts = settings_.session_timeout;
  if (answer != nullptr)
    if (const std::uint64_t interval = session_expires(*answer); interval != 0)
      lasts = std::min(lasts, std::chrono::seconds(interval) + kSessionExpiresGrace);
  return now_ + lasts;
}

CallScope Relay::Impl::track_call(Transaction& t, const Message& m, const FlowInfo* flow) noexcept {
  // An INVITE outside a dialog opens a call; in one, an INVITE or UPDATE refreshes it, a BYE
  // ends it (a PRACK is followed for its SDP: relay_media.cpp).
  const Method method = m.method();
  const bool in_dialog = !m.to().tag.empty();
  const bool tracked = in_dialog ? method == Method::Invite || method == Method::Update ||
                                       method == Method::Prack || method == Method::Bye
                                 : method == Method::Invite;
  if (!tracked) return CallScope::None;
  // The Call-ID as the core knows it: a request of the dialog from either side finds it.
  const std::string_view call_id = flow != nullptr ? call_ids_.inside(m.call_id()) : m.call_id();
  if (!in_dialog) {
    CallPlaces places;
    if (flow != nullptr && call_limits_.any()) {
      if (!call_counts_) {  // a relay on its own (tests): its own counts
        call_counts_ = std::make_shared<CallCounts>(1, settings_.max_dialogs);
        dialogs_.set_counts(call_counts_.get(), 0);
      }
      const unsigned w = counts_worker();
      const std::uint64_t user = call_counts_->user_key(flow->asserted_identity);
      const std::uint64_t source = call_counts_->source_key(flow->remote_ip, call_limits_);
      if (const CallScope refused = call_counts_->admit(w, call_limits_, user, source, places);
          refused != CallScope::None)
        return refused;
    }
    // The transaction ends the attempt (call_answered); the sweep is a backstop only.
    t.dialog = dialogs_.open(dialogs_.key(call_id, m.from().tag, flow != nullptr), places,
                             flow != nullptr, now_ + settings_.session_timeout);
    if (!t.dialog) {
      if (call_counts_ && places.any()) call_counts_->release(counts_worker(), places);
      // The core's own calls go on untracked (it is the trusted side); the outside's wait.
      if (flow != nullptr) return CallScope::Dialogs;
      stats.dialog_table_full.inc();
      return CallScope::None;
    }
    return CallScope::None;
  }
  DialogTable::Dialog* d = dialogs_.find(call_id, m.from().tag, m.to().tag, flow != nullptr);
  if (d == nullptr) {
    // Perhaps another worker's call: it ends there (its places, its media session).
    if (method == Method::Bye && flow != nullptr && unknown_bye_listener_)
      unknown_bye_listener_(call_id, m.from().tag, m.to().tag);
    return CallScope::None;
  }
  if (method == Method::Bye) {
    dialogs_.close(*d);
  } else {
    t.dialog = dialogs_.ref(*d);
  }
  return CallScope::None;
}

// A BYE from the outside that another worker received (Relay::set_unknown_bye_listener).
void Relay::Impl::end_call(std::string_view inside_call_id, std::string_view from_tag,
                           std::string_view to_tag) noexcept {
  now_ = clock_();
  if (DialogTable::Dialog* d = dialogs_.find(inside_call_id, from_tag, to_tag, true))
    dialogs_.close(*d);
}

void Relay::Impl::refuse_call(const Message& m, const FlowInfo& flow, CallScope scope) noexcept {
  metrics::Counter* counter = &stats.call_limit_table;
  if (scope == CallScope::User) counter = &stats.call_limit_user;
  if (scope == CallScope::Source) counter = &stats.call_limit_source;
  if (scope == CallScope::Total) counter = &stats.call_limit_total;
  if (scope == CallScope::Dialogs) counter = &stats.dialog_table_full;
  counter->inc();
  if (scope == CallScope::Table || scope == CallScope::Dialogs) {
    const std::string_view retry[] = {"Retry-After: 5", kServer};
    return answer_outside(m, flow, 503, "Service Unavailable (call table full)", retry);
  }
  std::string_view reason = "Forbidden (call limit: ";
  if (call_limits_.reject_status == 486) reason = "Busy Here (call limit: ";
  if (call_limits_.reject_status == 503) reason = "Service Unavailable (call limit: ";
  reason_.assign(reason).append(scope_name(scope)).append(")");
  answer_outside(m, flow, call_limits_.reject_status, reason_);
}

void Relay::Impl::call_answered(Transaction& t, const Message* m, std::uint16_t status) noexcept {
  DialogTable::Dialog* d = dialogs_.get(t.dialog);
  if (d == nullptr) return;
  const bool success = status >= 200 && status < 300;
  if (t.creates_dialog) {
    if (success) {
      dialogs_.establish(*d, session_expiry(m));
    } else if (d->state == DialogTable::State::Attempt) {
      dialogs_.close(*d);
    }
    t.dialog = {};
  } else if (success && d->state == DialogTable::State::Established) {
    d->expires = session_expiry(m);  // a refresh (RFC 4028 section 10)
  }
}

}  // namespace sbc::proxy
