#include "sbc/transport/edge_handler.hpp"

#include <cstring>

#include "sbc/sip/response.hpp"

namespace sbc::transport {
namespace {

constexpr std::string_view kAllow =
    "Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REGISTER, PRACK, UPDATE, INFO, MESSAGE, SUBSCRIBE, "
    "NOTIFY, REFER, PUBLISH";
constexpr std::string_view kSupported = "Supported:";
constexpr std::string_view kAccept = "Accept: application/sdp";
constexpr std::string_view kServer = "Server: sbc";

}  // namespace

EdgeHandler::EdgeHandler(EdgeOptions options)
    : options_(std::move(options)), message_(std::make_unique<sip::Message>()) {
  supported_views_.assign(options_.proxy_require_supported.begin(),
                          options_.proxy_require_supported.end());
}

bool EdgeHandler::addressed_to_self(const sip::Message& m) const noexcept {
  // An OPTIONS without a user part names a server, not a user: this is the keep-alive and
  // monitoring ping that load balancers and trunks send to the edge.
  const sip::Uri& uri = m.request_uri();
  return (uri.scheme == sip::Scheme::Sip || uri.scheme == sip::Scheme::Sips) && !uri.has_user();
}

EdgeHandler::Outcome EdgeHandler::reply(const sip::Verdict& verdict, const FlowInfo& flow,
                                        std::span<const std::string_view> extra) noexcept {
  std::array<char, 16> tag_buffer;
  sip::ResponseSpec spec;
  spec.status = verdict.status;
  spec.reason = verdict.reason;
  spec.to_tag = sip::stateless_to_tag(*message_, tag_buffer);
  spec.source_ip = flow.remote_ip;
  spec.source_port = flow.remote_port;
  spec.extra_headers = extra;
  const std::size_t size = sip::build_response(*message_, spec, out_);
  if (size == 0) {
    stats_.invalid_dropped.inc();
    return {Action::None, {}, verdict};
  }
  if (flow.protocol == Protocol::Udp && policy_ != nullptr &&
      !policy_->may_answer(request_bytes_, size)) {
    stats_.amplification_refused.inc();
    return {Action::None, {}, sip::Verdict::drop("Answer larger than the request (amplification)")};
  }
  stats_.answers[std::min<std::size_t>(verdict.status / 100, 6)].inc();
  return {Action::Reply, {out_.data(), size}, verdict};
}

const FlowInfo& EdgeHandler::routed(const FlowInfo& flow, const sip::Message& m,
                                    FlowInfo& copy) noexcept {
  if (flow.flow_token != 0 || flow_binder_ == nullptr) return flow;
  const bool hold =
      m.is_request() && (m.method() == sip::Method::Register || m.method() == sip::Method::Invite ||
                         m.method() == sip::Method::Subscribe || m.method() == sip::Method::Refer);
  copy = flow;
  copy.flow_token = flow_binder_->bind_flow(hold);
  return copy;
}

EdgeHandler::Outcome EdgeHandler::handle(std::string_view bytes, sip::Framing framing,
                                         const FlowInfo& flow) noexcept {
  rejected_ = false;
  Outcome outcome = handle_message(bytes, framing, flow);
  if (tap_ != nullptr) tap_->observe(bytes, flow, rejected_);
  return outcome;
}

EdgeHandler::Outcome EdgeHandler::handle_message(std::string_view bytes, sip::Framing framing,
                                                 const FlowInfo& flow) noexcept {
  stats_.received[static_cast<std::size_t>(flow.protocol)].inc();
  request_bytes_ = bytes.size();
  if (policy_ != nullptr && !policy_->admit(flow, std::chrono::steady_clock::now()))
    return refused({Action::None, {}, sip::Verdict::drop("Banned source")});
  sip::Message& m = *message_;
  sip::Verdict verdict = m.parse(bytes, framing, options_.limits);
  if (verdict.kind != sip::Verdict::Kind::Drop) {
    const std::size_t kind = !m.is_request()                       ? 3
                             : m.method() == sip::Method::Register ? 0
                             : m.method() == sip::Method::Invite   ? 1
                                                                   : 2;
    stats_.received_by_kind[static_cast<std::size_t>(flow.protocol)][kind].inc();
  }
  if (verdict.kind == sip::Verdict::Kind::Drop) {
    stats_.invalid_dropped.inc();
    return refused({Action::None, {}, verdict});
  }
  if (verdict.kind == sip::Verdict::Kind::Respond) {
    // The policies see invalid requests too (a flood of broken requests counts against its
    // source; a denied source or a scanner gets no answer, not even a 400).
    if (policy_ != nullptr && m.is_request() &&
        policy_->decide(m, /*valid=*/false).decision.kind == policy::Decision::Kind::Drop)
      return refused({Action::None, {}, sip::Verdict::drop("Refused by policy")});
    if (m.is_request() && m.method() == sip::Method::Ack) {
      stats_.invalid_dropped.inc();  // an ACK is never answered
      return refused({Action::None, {}, verdict});
    }
    stats_.invalid_answered.inc();
    return refused(reply(verdict, flow));
  }
  FlowInfo bound;
  if (!m.is_request() && router_ != nullptr) {
    stats_.relayed.inc();
    router_->response_from_outside(m, routed(flow, m, bound));
    return {Action::None, {}, verdict};
  }
  if (!m.is_request()) {
    stats_.responses_dropped.inc();
    return {Action::None, {}, sip::Verdict::drop("No transaction for this response")};
  }
  policy::Chain::Outcome outcome;
  if (policy_ != nullptr) {
    outcome = policy_->decide(m);
    if (outcome.decision.kind == policy::Decision::Kind::Drop ||
        (outcome.decision.kind == policy::Decision::Kind::Respond &&
         m.method() == sip::Method::Ack)) {
      return refused({Action::None, {}, sip::Verdict::drop("Refused by policy")});
    }
    if (outcome.decision.kind == policy::Decision::Kind::Respond) {
      stats_.invalid_answered.inc();
      rejected_ = true;
      if (outcome.decision.extra_header.empty())
        return reply(sip::Verdict::respond(outcome.decision.status, outcome.decision.phrase), flow);
      const std::string_view extra[] = {outcome.decision.extra_header};
      return reply(sip::Verdict::respond(outcome.decision.status, outcome.decision.phrase), flow,
                   extra);
    }
  }
  if (m.method() == sip::Method::Ack && router_ != nullptr) {
    stats_.relayed.inc();
    router_->request_from_outside(m, routed(flow, m, bound));
    return {Action::None, {}, verdict};
  }
  if (m.method() == sip::Method::Ack) {
    stats_.acks_absorbed.inc();
    return {Action::None, {}, verdict};
  }
  if (m.method() == sip::Method::Options && addressed_to_self(m)) {
    stats_.options_answered.inc();
    if (draining_ != nullptr && draining_->load(std::memory_order_relaxed)) {
      const std::string_view retry[] = {"Retry-After: 5", kServer};
      Outcome refusal =
          reply(sip::Verdict::respond(503, "Service Unavailable (shutting down)"), flow, retry);
      refusal.close_after = true;
      return refusal;
    }
    // The methods the policies let in, when a methods stage restricts them.
    const std::string_view allow =
        policy_ != nullptr && !policy_->allow_header().empty() ? policy_->allow_header() : kAllow;
    const std::string_view headers[] = {allow, kAccept, kSupported, kServer};
    return reply(sip::Verdict::respond(200, "OK"), flow, headers);
  }
  verdict = m.check_proxy_rules({supported_views_});
  if (!verdict.is_valid()) {
    stats_.invalid_answered.inc();
    rejected_ = true;
    if (verdict.status == 420) {
      // RFC 3261 8.2.2.3: list the tags we do not support in Unsupported.
      constexpr std::string_view kPrefix = "Unsupported: ";
      const std::size_t n = std::min(verdict.detail.size(), scratch_.size() - kPrefix.size());
      std::memcpy(scratch_.data(), kPrefix.data(), kPrefix.size());
      std::memcpy(scratch_.data() + kPrefix.size(), verdict.detail.data(), n);
      const std::string_view unsupported[] = {{scratch_.data(), kPrefix.size() + n}};
      return reply(verdict, flow, unsupported);
    }
    return reply(verdict, flow);
  }
  if (router_ != nullptr) {
    stats_.relayed.inc();
    if (outcome.asserted_identity.empty()) {
      router_->request_from_outside(m, routed(flow, m, bound));
    } else {
      FlowInfo authenticated = routed(flow, m, bound);
      authenticated.asserted_identity = outcome.asserted_identity;
      authenticated.consumed_credentials = outcome.consumed_credentials;
      router_->request_from_outside(m, authenticated);
      return {Action::None, {}, verdict, true};
    }
    return {Action::None, {}, verdict};
  }
  stats_.unrouted_answered.inc();
  const std::string_view retry[] = {"Retry-After: 60", kServer};
  return reply(sip::Verdict::respond(503, "No route to the core (relay not configured)"), flow,
               retry);
}

EdgeHandler::Outcome EdgeHandler::reject_stream(std::string_view header_section,
                                                std::uint16_t status, std::string_view reason,
                                                const FlowInfo& flow) noexcept {
  stats_.received[static_cast<std::size_t>(flow.protocol)].inc();
  if (tap_ != nullptr) tap_->observe(header_section, flow, true);
  sip::Message& m = *message_;
  // Parse what there is only to find the headers an answer copies.
  (void)m.parse(header_section, sip::Framing::Datagram, options_.limits);
  if (!m.is_request()) {
    stats_.invalid_dropped.inc();
    return {Action::None, {}, sip::Verdict::drop(reason)};
  }
  stats_.invalid_answered.inc();
  return reply(sip::Verdict::respond(status, reason), flow);
}

}  // namespace sbc::transport
