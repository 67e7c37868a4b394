#pragma once
// Allowed methods: anything else gets 405 Method Not Allowed with the Allow list (RFC 3261
// 21.4.6). ACK and CANCEL always pass (they belong to transactions already admitted).

#include <array>
#include <string>
#include <vector>

#include "policy/stage.hpp"

namespace sbc::policy {

struct MethodsSettings {
  std::vector<std::string> allowed{"INVITE",    "ACK",    "CANCEL", "BYE",    "OPTIONS",
                                   "REGISTER",  "PRACK",  "UPDATE", "INFO",   "MESSAGE",
                                   "SUBSCRIBE", "NOTIFY", "REFER",  "PUBLISH"};
};

class MethodsStage final : public Stage {
 public:
  enum Reason : std::uint8_t { kNotAllowed };
  explicit MethodsStage(MethodsSettings settings);
  std::string_view name() const noexcept override { return "methods"; }
  std::span<const std::string_view> reasons() const noexcept override;
  Decision decide(const sip::Message& request, Context& context) noexcept override;
  std::string_view allow_header() const noexcept override { return allow_header_; }

 private:
  MethodsSettings settings_;
  std::string allow_header_;
  std::array<bool, 16> known_allowed_{};    // by sip::Method (known methods: no string compare)
  std::vector<std::string> other_allowed_;  // extension methods, compared by name
};

}  // namespace sbc::policy
