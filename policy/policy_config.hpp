#pragma once
// The `policy` section of the configuration, and the chain it makes (one per worker).

#include <memory>
#include <string>
#include <vector>

#include "policy/acl_stage.hpp"
#include "policy/auth_stage.hpp"
#include "policy/chain.hpp"
#include "policy/methods_stage.hpp"
#include "policy/rate_limit_stage.hpp"
#include "policy/scanner_stage.hpp"
#include "policy/sips_stage.hpp"

namespace sbc::policy {

struct PolicyConfig {
  bool enabled = true;
  // Stage names in order; each at most once.
  std::vector<std::string> chain{"acl", "scanner", "rate_limit", "sips", "methods"};
  ChainSettings settings;
  AclSettings acl;
  ScannerSettings scanner;
  RateLimitSettings rate_limit;
  MethodsSettings methods;
  SipsSettings sips;
  AuthSettings auth;
};

// The stage names a chain may list.
inline constexpr std::string_view kStageNames[] = {"acl",  "scanner", "rate_limit",
                                                   "sips", "methods", "auth"};

// A chain as configured for worker `worker`; nullptr when the policies are disabled.
std::unique_ptr<Chain> make_chain(const PolicyConfig& config, unsigned worker = 0);

}  // namespace sbc::policy
