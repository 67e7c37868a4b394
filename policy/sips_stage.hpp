#pragma once
// SIPS and TLS enforcement (RFC 3261 26.2, RFC 5630): a sips: Request-URI only over TLS (416
// otherwise: this hop cannot keep the promise); TLS required for every request or for chosen
// domains (403); sources (trunks) that must present a verified client certificate (403).

#include <string>
#include <vector>

#include "policy/stage.hpp"
#include "sbc/common/address.hpp"

namespace sbc::policy {

struct SipsSettings {
  bool require_tls = false;                   // every request must arrive over TLS
  std::vector<std::string> domains;           // Request-URI hosts that require TLS
  std::vector<Cidr> client_certificate_from;  // sources that must show a verified certificate
};

class SipsStage final : public Stage {
 public:
  enum Reason : std::uint8_t { kSipsWithoutTls, kTlsRequired, kCertificateRequired };
  explicit SipsStage(SipsSettings settings) : settings_(std::move(settings)) {}
  std::string_view name() const noexcept override { return "sips"; }
  std::span<const std::string_view> reasons() const noexcept override;
  Decision decide(const sip::Message& request, Context& context) noexcept override;

 private:
  SipsSettings settings_;
};

}  // namespace sbc::policy
