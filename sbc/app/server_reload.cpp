// A reload (SIGHUP, sbc ctl reload) of what can change while calls run: the policy, the cores,
// the token keys, the capture and the log level. What can fail (a capture directory, a resolver)
// is made before anything applies; the policy hand-over, the one step that can be refused, goes
// first of the changes; the rest cannot fail. So a reload applies whole or not at all, apart
// from the parts only a restart applies, which it names and leaves as they run.

#include <algorithm>
#include <exception>
#include <memory>

#include "sbc/app/server.hpp"

namespace sbc::app {
namespace {

bool same_target(const proxy::CoreTarget& a, const proxy::CoreTarget& b) {
  return a.ip == b.ip && a.port == b.port && a.priority == b.priority && a.weight == b.weight &&
         a.protocol == b.protocol && a.name == b.name;
}

bool same_targets(const std::vector<proxy::CoreTarget>& a,
                  const std::vector<proxy::CoreTarget>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), same_target);
}

std::vector<proxy::CoreTarget> named_only(const std::vector<proxy::CoreTarget>& targets) {
  std::vector<proxy::CoreTarget> named;
  std::copy_if(targets.begin(), targets.end(), std::back_inserter(named),
               [](const proxy::CoreTarget& t) { return !t.name.empty(); });
  return named;
}

bool same_keys(const std::vector<sbc::crypto::TokenSealer::Key>& a,
               const std::vector<sbc::crypto::TokenSealer::Key>& b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](const auto& x, const auto& y) {
    return x.id == y.id && x.bytes == y.bytes;
  });
}

bool same_capture(const capture::CaptureSettings& a, const capture::CaptureSettings& b) {
  return a.enabled == b.enabled && a.directory == b.directory && a.what == b.what &&
         a.ports == b.ports && a.max_file_bytes == b.max_file_bytes && a.max_files == b.max_files &&
         a.queue_messages == b.queue_messages && a.redact_credentials == b.redact_credentials;
}

std::string capture_text(const capture::CaptureSettings& c) {
  if (!c.enabled) return "off";
  return std::string(c.what == capture::CaptureSettings::What::All ? "all messages"
                                                                   : "rejected messages") +
         " to " + c.directory;
}

}  // namespace

void Server::CaptureTotals::add(const capture::LiveCapture& capture) {
  written += static_cast<double>(capture.written());
  dropped += static_cast<double>(capture.dropped());
  redacted += static_cast<double>(capture.redacted());
  refused += static_cast<double>(capture.refused_files());
}

Server::CaptureTotals Server::capture_totals(bool& any) const {
  const std::lock_guard lock(capture_mutex_);
  CaptureTotals totals = retired_capture_;
  any = live_capture_ != nullptr || !retiring_captures_.empty() || totals.ran;
  if (live_capture_) totals.add(*live_capture_);
  for (const auto& retiring : retiring_captures_) totals.add(*retiring);
  return totals;
}

std::unique_ptr<capture::LiveCapture> Server::make_capture(
    const capture::CaptureSettings& settings) {
  return std::make_unique<capture::LiveCapture>(
      settings, count_, [this](std::string_view line) { log_("warn", line); });
}

Server::ReloadReport Server::reload(const Config& fresh, const Post& post_to_control) {
  ReloadReport report;
  for (std::size_t i = 0; i < fresh.restart_only.size() && i < config_.restart_only.size(); ++i)
    if (fresh.restart_only[i].second != config_.restart_only[i].second)
      report.restart.push_back(fresh.restart_only[i].first + ": changed, applies at a restart");

  // What can fail, made before anything applies.
  const bool capture_changed = !same_capture(fresh.capture, capture_settings_);
  std::unique_ptr<capture::LiveCapture> next_capture;
  if (capture_changed && fresh.capture.enabled) {
    try {
      next_capture = make_capture(fresh.capture);
    } catch (const std::exception& e) {
      report.error = std::string("capture: ") + e.what();
      return report;
    }
  }
  std::string cores_why;
  const bool cores_changed = !same_targets(fresh.core.targets, core_targets_);
  const bool cores_live = cores_changed && cores_reloadable(fresh.core.targets, cores_why);
  if (cores_changed && !cores_live) report.restart.push_back("core.targets: " + cores_why);
  const std::vector<proxy::CoreTarget> next_named = named_only(fresh.core.targets);
  const bool names_changed = cores_live && !same_targets(next_named, named_cores_);
  std::unique_ptr<dns::Resolver> next_resolver;
  if (names_changed) {
    try {
      next_resolver = new_resolver(next_named);
    } catch (const std::exception& e) {
      report.error = std::string("core.targets: ") + e.what();
      return report;
    }
  }

  // The policy: refused while the previous reload is still being handed over (then nothing
  // has changed yet).
  policy::PolicyConfig policy = fresh.policy;
  // Without a configured nonce key, keep the one made at start (one per process).
  if (!policy.auth.nonce_key_configured) policy.auth.nonce_key = policies_->config().auth.nonce_key;
  if (!policies_->reload(policy, post_to_control)) {
    report.error = "the previous reload is still being handed over to the workers; try again";
    return report;
  }
  // policy.calls: the relays count the calls; the calls up keep their places.
  const proxy::CallLimitSettings limits = fresh.relay.call_limits;
  for (unsigned w = 0; w < relays_.size(); ++w)
    workers_[w]->post([this, w, limits] { relays_[w]->set_call_limits(limits); });
  std::string chain;
  for (const std::string& name : policy.chain) chain.append(chain.empty() ? "" : ",").append(name);
  const std::string users =
      std::to_string(policy.auth.credentials ? policy.auth.credentials->users() : 0);
  log_(logging::LogLevel::Info, "policy reloaded",
       {{"enabled", policy.enabled ? "true" : "false"}, {"chain", chain}, {"users", users}});
  report.applied.push_back("policy (chain " + chain + ", " + users + " users)");

  // The rest cannot fail.
  if (cores_live) {
    apply_cores(fresh.core.targets, std::move(next_resolver), names_changed);
    report.applied.push_back("core.targets (" + std::to_string(fresh.core.targets.size()) +
                             " targets)");
  }
  if (!same_keys(fresh.relay.token_keys, configured_token_keys_)) {
    if (fresh.relay.token_keys.empty()) {
      report.restart.push_back(
          "relay.token_keys: removed; the running keys stay (a random key would end every "
          "registration and dialog)");
    } else if (!relays_.empty()) {
      apply_token_keys(fresh.relay.token_keys);
      report.applied.push_back("relay.token_keys (" +
                               std::to_string(fresh.relay.token_keys.size()) + " keys, key " +
                               std::to_string(fresh.relay.token_keys.front().id) + " seals)");
    }
  }
  if (capture_changed) {
    replace_capture(std::move(next_capture), post_to_control);
    capture_settings_ = fresh.capture;
    report.applied.push_back("capture (" + capture_text(fresh.capture) + ")");
  }
  if (fresh.log_level != log_.threshold()) {
    log_.set_threshold(fresh.log_level);
    report.applied.push_back("log.level (" + std::string(logging::to_string(fresh.log_level)) +
                             ")");
  }
  return report;
}

// Whether the inside as it opened at start can reach `targets`; why not when it cannot.
bool Server::cores_reloadable(const std::vector<proxy::CoreTarget>& targets,
                              std::string& why) const {
  if (relays_.empty()) {
    why = "the SBC started without a core (its inside sockets open at start): restart it";
    return false;
  }
  if (targets.empty()) {
    why = "no core left: restart to run without a core (every request answered 503)";
    return false;
  }
  for (const proxy::CoreTarget& t : targets) {
    if (t.protocol != sbc::Protocol::Udp && !inside_streams_) {
      why =
          "a TCP or TLS core, and the SBC started with UDP cores only (the inside stream port "
          "opens at start): restart it";
      return false;
    }
    if (t.protocol == sbc::Protocol::Tls && !inside_tls_) {
      why =
          "a TLS core, and the SBC started without one (the TLS client is made at start): "
          "restart it";
      return false;
    }
  }
  return true;
}

// New cores: transactions in flight finish on theirs (a core that left is retired, still found
// for them); cores that stay keep their health, counters and drain.
void Server::apply_cores(const std::vector<proxy::CoreTarget>& targets,
                         std::unique_ptr<dns::Resolver> next_resolver, bool names_changed) {
  if (names_changed && resolver_) {
    resolver_->stop();  // its thread writes resolved_ and hands out cores: not while we do
    const std::lock_guard lock(resolver_mutex_);
    for (std::size_t i = 0; i < retired_resolutions_.size(); ++i)
      retired_resolutions_[i] += static_cast<double>(resolver_->stats().results[i].load());
  }
  std::unique_ptr<dns::Resolver> old;
  {
    const std::lock_guard lock(cores_mutex_);
    core_targets_ = targets;
    fixed_cores_.clear();
    std::vector<proxy::CoreTarget> named;
    for (const proxy::CoreTarget& t : targets) (t.name.empty() ? fixed_cores_ : named).push_back(t);
    static_cores_ = fixed_cores_.size();
    if (names_changed) {
      // A name that stays keeps its addresses until its new resolver answers.
      std::vector<std::vector<dns::Address>> resolved(named.size());
      for (std::size_t n = 0; n < named.size(); ++n)
        for (std::size_t o = 0; o < named_cores_.size(); ++o)
          if (named_cores_[o].name == named[n].name && named_cores_[o].port == named[n].port &&
              named_cores_[o].protocol == named[n].protocol)
            resolved[n] = resolved_[o];
      named_cores_ = std::move(named);
      resolved_ = std::move(resolved);
      const std::lock_guard swap(resolver_mutex_);
      old = std::move(resolver_);
      resolver_ = std::move(next_resolver);
    }
    hand_out_cores();
  }
  if (names_changed && resolver_) resolver_->start();
  for (const proxy::CoreTarget& t : targets)
    log_("info", "core " + (t.name.empty() ? core_uri(t) : t.name) + " (reloaded)");
}

void Server::apply_token_keys(const std::vector<sbc::crypto::TokenSealer::Key>& configured) {
  std::vector<sbc::crypto::TokenSealer::Key> keys = configured;
  // A random key made at start still opens what it sealed, unless its id is taken.
  if (!token_keys_configured_ && std::none_of(keys.begin(), keys.end(), [&](const auto& k) {
        return k.id == token_keys_.front().id;
      }))
    keys.push_back(token_keys_.front());
  auto shared = std::make_shared<const std::vector<sbc::crypto::TokenSealer::Key>>(keys);
  for (unsigned w = 0; w < count_; ++w)
    workers_[w]->post([this, w, shared] {
      if (!relays_[w]->set_token_keys(*shared))
        log_("error", "worker " + std::to_string(w) + " refused the new token keys");
    });
  configured_token_keys_ = configured;
  token_keys_ = std::move(keys);
  token_keys_configured_ = true;
}

// The new capture (or none) goes to every worker; the old one stops once every worker has let
// go of its tap, so that no message in a queue is lost and no worker writes to a queue that is
// gone.
void Server::replace_capture(std::unique_ptr<capture::LiveCapture> next,
                             const Post& post_to_control) {
  if (next) next->start();
  capture::LiveCapture* old = nullptr;
  {
    const std::lock_guard lock(capture_mutex_);
    old = live_capture_.get();
    if (live_capture_) retiring_captures_.push_back(std::move(live_capture_));
    live_capture_ = std::move(next);
  }
  auto remaining = std::make_shared<unsigned>(count_);
  for (unsigned w = 0; w < count_; ++w) {
    transport::MessageTap* tap = live_capture_ ? &live_capture_->tap(w) : nullptr;
    workers_[w]->post([this, w, tap, old, remaining, post_to_control] {
      workers_[w]->handler().set_tap(tap);
      post_to_control([this, old, remaining] {
        if (--*remaining != 0 || old == nullptr) return;
        const std::lock_guard lock(capture_mutex_);
        auto it = std::find_if(retiring_captures_.begin(), retiring_captures_.end(),
                               [old](const auto& c) { return c.get() == old; });
        if (it == retiring_captures_.end()) return;
        (*it)->stop();
        retired_capture_.add(**it);
        retired_capture_.ran = true;
        retiring_captures_.erase(it);
      });
    });
  }
}

}  // namespace sbc::app
