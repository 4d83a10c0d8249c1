#include "source/common/config/reload.h"

#include <yaml-cpp/yaml.h>

#include <set>

#include "absl/strings/str_cat.h"

namespace gateway {
namespace {

// yaml-cpp's node for an absent key is "invalid": every question but IsDefined() throws.
bool IsMap(const YAML::Node& node) { return node.IsDefined() && node.IsMap(); }

// The keys of a mapping (none for anything else).
std::set<std::string> KeysOf(const YAML::Node& node) {
  std::set<std::string> keys;
  if (IsMap(node)) {
    for (const auto& entry : node) {
      keys.insert(entry.first.Scalar());
    }
  }
  return keys;
}

// The value of `key` in `node` as YAML text; "" when absent.
std::string Text(const YAML::Node& node, const std::string& key) {
  if (!IsMap(node)) {
    return "";
  }
  const YAML::Node value = node[key];
  return value.IsDefined() ? YAML::Dump(value) : "";
}

}  // namespace

bool ReloadApplies(absl::string_view key) {
  return key == "users" || key == "limits" || key == "log.level" || key == "listener.tls";
}

std::vector<std::string> ChangesNeedingRestart(const Config& running, const Config& next) {
  const YAML::Node& before = running.root.yaml();
  const YAML::Node& after = next.root.yaml();
  std::set<std::string> keys = KeysOf(before);
  keys.merge(KeysOf(after));
  std::vector<std::string> changed;
  for (const std::string& key : keys) {
    if (ReloadApplies(key) || Text(before, key) == Text(after, key)) {
      continue;
    }
    const YAML::Node old_value = before[key];
    const YAML::Node new_value = after[key];
    // A mapping on both sides is compared key by key; so is one added or removed whole, which
    // is named whole when anything in it needs a restart.
    const bool old_map = IsMap(old_value) || !old_value.IsDefined();
    const bool new_map = IsMap(new_value) || !new_value.IsDefined();
    if (!old_map || !new_map) {
      changed.push_back(key);
      continue;
    }
    std::set<std::string> inner = KeysOf(old_value);
    inner.merge(KeysOf(new_value));
    std::vector<std::string> inner_changed;
    for (const std::string& name : inner) {
      const std::string path = absl::StrCat(key, ".", name);
      if (ReloadApplies(path) || Text(old_value, name) == Text(new_value, name)) {
        continue;
      }
      inner_changed.push_back(path);
    }
    if (IsMap(old_value) && IsMap(new_value)) {
      changed.insert(changed.end(), inner_changed.begin(), inner_changed.end());
    } else if (!inner_changed.empty()) {
      changed.push_back(key);
    }
  }
  // A new certificate applies; TLS turned on or off changes the public URL: a restart. Compared
  // as parsed, since `tls:` with no value, `{}` and an empty certificate_file all mean off.
  if (running.listener.tls.enabled() != next.listener.tls.enabled()) {
    changed.push_back("listener.tls");
  }
  return changed;
}

}  // namespace gateway
