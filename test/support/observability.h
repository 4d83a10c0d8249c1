#pragma once

// Strict readers of what operators consume, for tests: the Prometheus text exposition format
// (version 0.0.4) and logfmt lines. Both refuse anything the formats do not allow, so a test that
// reads the gateway's output through them checks its syntax too.

#include <map>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gateway::testing {

// Every sample of an exposition, keyed by its series as written: `name` or
// `name{label="value",...}`.
using PrometheusSamples = std::map<std::string, double>;

// Parses `text`, checking: every line is a HELP, TYPE or sample line; names and labels are well
// formed and label values correctly escaped; each family has one TYPE, before its samples, which
// are contiguous; counter families end in _total; no series appears twice; every histogram has
// ascending `le` buckets with cumulative counts ending at +Inf, equal to its _count, and a _sum.
absl::StatusOr<PrometheusSamples> ParsePrometheusText(absl::string_view text);

// One logfmt line (without its newline): key=value pairs separated by single spaces; a value is
// bare (printable ASCII without space, '=', '"' or '\') or double-quoted with \" \\ and \xHH
// escapes. Keys appear once.
absl::StatusOr<std::map<std::string, std::string>> ParseLogfmtLine(absl::string_view line);

}  // namespace gateway::testing
