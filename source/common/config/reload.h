#pragma once

// SIGHUP: which changes in a new version of gateway.yaml a running gateway applies, and which
// wait for a restart. Called on the main thread with two parsed, valid configurations.

#include <string>
#include <vector>

#include "source/common/config/config.h"

namespace gateway {

// The keys whose settings a reload applies: users, limits, log.level, and listener.tls while TLS
// stays on (new certificate and key; turning TLS on or off changes the public URL, so it waits).
// The access log (log.access, log.access_output) is opened once, at start.
bool ReloadApplies(absl::string_view key);

// What changed between the files behind `running` and `next` that only a restart applies: the
// top-level keys, and for mappings the keys one level down ("upstream.rs", "filters"), compared
// as written (before environment references are expanded). Empty when a reload applies all of it.
std::vector<std::string> ChangesNeedingRestart(const Config& running, const Config& next);

}  // namespace gateway
