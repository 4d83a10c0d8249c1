#pragma once

// Reading YAML configuration with errors that point at the node that caused them (h2o's rule):
// "gateway.yaml:12:5: listener.port: expected an integer from 0 to 65535, got \"80a\"".
// yaml-cpp's exceptions stop here; everything above sees absl::Status.
//
// Scalars may reference the environment: ${NAME} (an error if NAME is unset) or ${NAME:-default};
// "$$" is a literal "$". Expansion happens as a value is read, so the error names the node.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace gateway::config {

// A YAML node, the file it came from and its key path ("listener.port", "filters[2].config").
class Node {
 public:
  Node() = default;
  Node(YAML::Node yaml, std::shared_ptr<const std::string> file, std::string path)
      : yaml_(std::move(yaml)), file_(std::move(file)), path_(std::move(path)) {}

  const YAML::Node& yaml() const { return yaml_; }
  // Present and not null.
  bool defined() const { return yaml_.IsDefined() && !yaml_.IsNull(); }
  const std::string& path() const { return path_; }
  const std::string& file() const;
  const std::shared_ptr<const std::string>& file_ptr() const { return file_; }
  // "gateway.yaml:12:5", or the file alone when the node has no position.
  std::string Where() const;
  // InvalidArgument: "<where>: <path>: <message>".
  absl::Status Error(absl::string_view message) const;
  // The text of a scalar, environment references expanded.
  absl::StatusOr<std::string> Scalar() const;

 private:
  YAML::Node yaml_;
  std::shared_ptr<const std::string> file_;
  std::string path_;
};

// Parses YAML text; a syntax error names file, line and column.
absl::StatusOr<Node> ParseYaml(absl::string_view text, absl::string_view file_name);

// Expands ${NAME}, ${NAME:-default} and $$ in `text` from the process environment.
absl::StatusOr<std::string> ExpandEnvironment(absl::string_view text);

// "250ms", "10s", "5m", "1h" (Go-style, as absl::ParseDuration), and "30d".
absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view text);
// 4096, "64KiB", "1MiB", "2GiB".
absl::StatusOr<uint64_t> ParseBytesText(absl::string_view text);

// Reads the keys of one mapping. Each getter returns the value, or `fallback` when the key is
// absent; the first problem is kept and returned by Finish(), which also refuses any key that no
// getter asked for (a misspelt key must not be ignored silently). An absent or null node reads as
// an empty mapping.
class MapReader {
 public:
  explicit MapReader(const Node& node);

  std::string String(absl::string_view key, absl::string_view fallback = "");
  int64_t Int(absl::string_view key, int64_t fallback, int64_t min, int64_t max);
  bool Bool(absl::string_view key, bool fallback);
  absl::Duration Duration(absl::string_view key, absl::Duration fallback);
  uint64_t Bytes(absl::string_view key, uint64_t fallback);
  // A string, or a list of strings.
  std::vector<std::string> StringList(absl::string_view key);
  // An absolute http(s) URL, checked; empty when absent.
  std::string UrlString(absl::string_view key);
  // The node under `key` (undefined when absent), for nested readers.
  Node Child(absl::string_view key);
  // The items of the sequence under `key`; empty when absent.
  std::vector<Node> List(absl::string_view key);
  bool Has(absl::string_view key) const;

  // Records a problem found by the caller's own checks (the first one wins).
  void AddError(const absl::Status& status);
  const Node& node() const { return node_; }
  absl::Status Finish();

 private:
  // The value under `key`, marked as read; undefined when absent.
  Node Lookup(absl::string_view key);
  // The scalar under `key` through `parse` (text → absl::StatusOr<T>); `fallback` when absent or
  // invalid, the error then kept with the node's position.
  template <typename T, typename Parse>
  T Read(absl::string_view key, T fallback, Parse parse);

  Node node_;
  std::set<std::string, std::less<>> known_;
  absl::Status status_;
};

}  // namespace gateway::config
