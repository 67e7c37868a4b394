#include "policy/sips_stage.hpp"

#include <algorithm>

#include "sbc/sip/scanner.hpp"

namespace sbc::policy {
namespace {
constexpr std::string_view kReasons[] = {"sips_without_tls", "tls_required",
                                         "certificate_required"};
}  // namespace

std::span<const std::string_view> SipsStage::reasons() const noexcept {
  return kReasons;
}

Decision SipsStage::decide(const sip::Message& request, Context& context) noexcept {
  if (!context.valid) return Decision::next();  // the edge answers it 400 anyway
  const bool over_tls = context.flow.protocol == sbc::Protocol::Tls;
  // Even a trusted peer cannot have a sips: request carried over a hop without TLS.
  if (request.request_uri().scheme == sip::Scheme::Sips && !over_tls)
    return Decision::respond(416, "Unsupported URI Scheme (sips: needs TLS)", kSipsWithoutTls);
  if (!over_tls) {
    if (settings_.require_tls)
      return Decision::respond(403, "Forbidden (TLS required)", kTlsRequired);
    const std::string_view host = request.request_uri().host;
    const bool domain = std::any_of(settings_.domains.begin(), settings_.domains.end(),
                                    [&](const std::string& d) { return sip::iequals(d, host); });
    if (domain)
      return Decision::respond(403, "Forbidden (TLS required for this domain)", kTlsRequired);
  }
  const bool must_show = std::any_of(settings_.client_certificate_from.begin(),
                                     settings_.client_certificate_from.end(),
                                     [&](const Cidr& c) { return c.contains(context.address); });
  if (must_show && context.flow.tls.peer_identity.empty())
    return Decision::respond(403, "Forbidden (client certificate required)", kCertificateRequired);
  return Decision::next();
}

}  // namespace sbc::policy
