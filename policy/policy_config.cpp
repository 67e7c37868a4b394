#include "policy/policy_config.hpp"

namespace sbc::policy {
namespace {

template <class StageType, auto Member>
std::unique_ptr<Stage> make_stage(const PolicyConfig& config, unsigned /*worker*/) {
  return std::make_unique<StageType>(config.*Member);
}

std::unique_ptr<Stage> make_auth(const PolicyConfig& config, unsigned worker) {
  return std::make_unique<AuthStage>(config.auth, worker);
}

constexpr StageFactory kStages[] = {
    {"acl", make_stage<AclStage, &PolicyConfig::acl>},
    {"scanner", make_stage<ScannerStage, &PolicyConfig::scanner>},
    {"rate_limit", make_stage<RateLimitStage, &PolicyConfig::rate_limit>},
    {"sips", make_stage<SipsStage, &PolicyConfig::sips>},
    {"methods", make_stage<MethodsStage, &PolicyConfig::methods>},
    {"auth", make_auth},
};

}  // namespace

std::span<const StageFactory> stage_factories() noexcept {
  return kStages;
}

const StageFactory* find_stage(std::string_view name) noexcept {
  for (const StageFactory& stage : kStages)
    if (stage.name == name) return &stage;
  return nullptr;
}

std::unique_ptr<Chain> make_chain(const PolicyConfig& config, unsigned worker) {
  if (!config.enabled) return nullptr;
  std::vector<std::unique_ptr<Stage>> stages;
  for (const std::string& name : config.chain)
    if (const StageFactory* stage = find_stage(name)) stages.push_back(stage->make(config, worker));
  return std::make_unique<Chain>(config.settings, std::move(stages));
}

}  // namespace sbc::policy
