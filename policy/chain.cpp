#include "policy/chain.hpp"

namespace sbc::policy {

Chain::Chain(const ChainSettings& settings, std::vector<std::unique_ptr<Stage>> stages)
    : settings_(settings),
      stages_(std::move(stages)),
      bans_(settings.bans),
      amplification_(settings.amplification),
      authenticated_(settings.max_authenticated) {
  counters_.resize(stages_.size());
  for (std::size_t i = 0; i < stages_.size(); ++i)
    counters_[i] = std::vector<metrics::Counter>(stages_[i]->reasons().size());
}

bool Chain::admit(const sbc::FlowInfo& flow, TimePoint now) noexcept {
  flow_ = &flow;
  now_ = now;
  const auto address = parse_address(flow.remote_ip);
  known_source_ = address.has_value();
  if (!known_source_) return true;
  address_ = *address;
  source_ = source_key(address_, settings_.ipv6_prefix);
  if (bans_.banned(source_, now, flow.protocol == sbc::Protocol::Udp)) {
    banned_dropped_.inc();
    return false;
  }
  return true;
}

bool Chain::banned(const sbc::FlowInfo& flow, TimePoint now) noexcept {
  const auto address = parse_address(flow.remote_ip);
  return address.has_value() && bans_.banned(source_key(*address, settings_.ipv6_prefix), now,
                                             flow.protocol == sbc::Protocol::Udp);
}

Chain::Outcome Chain::decide(const sip::Message& request, bool valid) noexcept {
  if (flow_ == nullptr || !known_source_) return {};
  Context context{
      .flow = *flow_, .source = source_, .address = address_, .now = now_, .bans = bans_};
  context.valid = valid;
  context.verified = flow_->protocol != sbc::Protocol::Udp;
  context.strikes = this;
  context.authenticated = authenticated_.find(source_, now_) != nullptr;
  for (std::size_t i = 0; i < stages_.size(); ++i) {
    const Decision d = stages_[i]->decide(request, context);
    if (context.return_route_proved) {
      amplification_.verified(source_, now_);
      context.return_route_proved = false;
    }
    if (d.proceeds()) continue;
    if (d.reason < counters_[i].size()) counters_[i][d.reason].inc();
    if (d.kind == Decision::Kind::Respond && request.method() != sip::Method::Ack)
      for (const auto& stage : stages_) stage->answered(context, d.status);
    // A source that floods or scans loses the trust its authentication earned; not for a
    // datagram anyone could have forged from its address (the next forgery would ban it).
    if (d.kind == Decision::Kind::Drop && context.authenticated && context.verified)
      authenticated_.erase(source_);
    return {d, stages_[i].get(), {}, {}};
  }
  if (!context.asserted_identity.empty()) {
    bool fresh = false;
    (void)authenticated_.get(source_, now_, fresh);
  }
  return {Decision::next(), nullptr, context.asserted_identity, context.consumed_credentials};
}

// What the relay reports about a client after the fact: each stage hears it in a context for
// that client's address (no message).
template <class Report>
void Chain::for_client(std::string_view remote_ip, sbc::Protocol protocol, TimePoint now,
                       Report report) noexcept {
  const auto address = parse_address(remote_ip);
  if (!address) return;
  const SourceKey source = source_key(*address, settings_.ipv6_prefix);
  sbc::FlowInfo flow;
  flow.protocol = protocol;
  flow.remote_ip = remote_ip;
  Context context{.flow = flow, .source = source, .address = *address, .now = now, .bans = bans_};
  context.strikes = this;
  context.verified = protocol != sbc::Protocol::Udp;
  context.authenticated = authenticated_.find(source, now) != nullptr;
  // No decide() ran: the ACL is asked whether the client is a trusted peer.
  for (const auto& stage : stages_) context.trusted = context.trusted || stage->trusts(*address);
  for (const auto& stage : stages_) report(*stage, context);
}

void Chain::core_refused(std::string_view remote_ip, sbc::Protocol protocol,
                         TimePoint now) noexcept {
  for_client(remote_ip, protocol, now,
             [](Stage& stage, Context& context) { stage.core_refused(context); });
}

void Chain::core_answered(std::string_view remote_ip, std::uint16_t status,
                          TimePoint now) noexcept {
  // Answers are only scored here (the scanner bans in decide(), on the source's next request,
  // with that request's own evidence): the transport does not matter.
  for_client(remote_ip, sbc::Protocol::Udp, now,
             [status](Stage& stage, Context& context) { stage.answered(context, status); });
}

bool Chain::may_answer(std::size_t request_bytes, std::size_t answer_bytes) noexcept {
  if (flow_ == nullptr || !known_source_) return true;
  if (amplification_.may_answer(source_, now_, request_bytes, answer_bytes)) return true;
  amplification_refused_.inc();
  return false;
}

void Chain::set_strike_forwarding(unsigned worker, unsigned workers, Forwarder forward) {
  worker_ = worker;
  workers_ = workers;
  forwarder_ = std::move(forward);
}

bool Chain::forward(const SourceKey& source, std::string_view stage, BanScope scope) noexcept {
  if (workers_ < 2 || !forwarder_) return false;
  const auto home = static_cast<unsigned>(source.hash() % workers_);
  if (home == worker_) return false;
  if (scope != BanScope::None) forwarder_(home, source, stage, scope);
  return true;
}

void Chain::strike(const SourceKey& source, std::string_view stage, TimePoint now,
                   BanScope scope) noexcept {
  if (scope == BanScope::None) return;
  sbc::FlowInfo flow;
  Context context{.flow = flow, .source = source, .now = now, .bans = bans_};
  // The forwarding worker judged the evidence (Context::ban_scope()); the same scope here.
  context.verified = scope == BanScope::All;
  context.strikes = this;  // the home worker: counted here, and shared with the fleet
  for (const auto& s : stages_)
    if (s->name() == stage) s->strike(context);
}

void Chain::spread(const HeavyUse& use, unsigned takers, TimePoint now) noexcept {
  for (const auto& s : stages_)
    if (s->name() == use.stage) s->spread(use, takers, now);
}

void Chain::maintain(TimePoint now) {
  bans_active_.store(bans_.active(now), std::memory_order_relaxed);
}

std::string_view Chain::allow_header() const noexcept {
  for (const auto& stage : stages_)
    if (const std::string_view allow = stage->allow_header(); !allow.empty()) return allow;
  return {};
}

}  // namespace sbc::policy
