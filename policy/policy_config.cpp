#include "policy/policy_config.hpp"

namespace sbc::policy {

std::unique_ptr<Chain> make_chain(const PolicyConfig& config, unsigned worker) {
  if (!config.enabled) return nullptr;
  std::vector<std::unique_ptr<Stage>> stages;
  for (const std::string& name : config.chain) {
    if (name == "acl") {
      stages.push_back(std::make_unique<AclStage>(config.acl));
    } else if (name == "scanner") {
      stages.push_back(std::make_unique<ScannerStage>(config.scanner));
    } else if (name == "rate_limit") {
      stages.push_back(std::make_unique<RateLimitStage>(config.rate_limit));
    } else if (name == "sips") {
      stages.push_back(std::make_unique<SipsStage>(config.sips));
    } else if (name == "methods") {
      stages.push_back(std::make_unique<MethodsStage>(config.methods));
    } else if (name == "auth") {
      stages.push_back(std::make_unique<AuthStage>(config.auth, worker));
    }
  }
  return std::make_unique<Chain>(config.settings, std::move(stages));
}

}  // namespace sbc::policy
