#include "policy/methods_stage.hpp"

namespace sbc::policy {
namespace {
constexpr std::string_view kReasons[] = {"method_not_allowed"};
}  // namespace

MethodsStage::MethodsStage(MethodsSettings settings) : settings_(std::move(settings)) {
  allow_header_ = "Allow: ";
  for (std::size_t i = 0; i < settings_.allowed.size(); ++i) {
    if (i != 0) allow_header_ += ", ";
    allow_header_ += settings_.allowed[i];
    const sip::Method m = sip::method_from_name(settings_.allowed[i]);
    if (m == sip::Method::Other) {
      other_allowed_.push_back(settings_.allowed[i]);
    } else {
      known_allowed_[static_cast<std::size_t>(m)] = true;
    }
  }
}

std::span<const std::string_view> MethodsStage::reasons() const noexcept {
  return kReasons;
}

Decision MethodsStage::decide(const sip::Message& request, Context& context) noexcept {
  if (context.trusted || !context.valid) return Decision::next();
  const sip::Method m = request.method();
  if (m == sip::Method::Ack || m == sip::Method::Cancel) return Decision::next();
  if (m != sip::Method::Other) {
    if (known_allowed_[static_cast<std::size_t>(m)]) return Decision::next();
  } else {
    for (const std::string& allowed : other_allowed_)
      if (allowed == request.method_name()) return Decision::next();
  }
  return Decision::respond(405, "Method Not Allowed", kNotAllowed, allow_header_);
}

}  // namespace sbc::policy
