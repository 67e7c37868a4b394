#pragma once
// The `policy` section of the configuration, and the chain it makes (one per worker).

#include <memory>
#include <span>
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

// The stages a chain may list: each one's name (in `chain`, in metric labels, and the key of its
// options section) and how a worker's instance is made from the configuration.
struct StageFactory {
  std::string_view name;
  std::unique_ptr<Stage> (*make)(const PolicyConfig& config, unsigned worker);
};
std::span<const StageFactory> stage_factories() noexcept;
const StageFactory* find_stage(std::string_view name) noexcept;

// A chain as configured for worker `worker`; nullptr when the policies are disabled.
std::unique_ptr<Chain> make_chain(const PolicyConfig& config, unsigned worker = 0);

}  // namespace sbc::policy
