#include "source/common/config/config_map.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "source/common/url.h"

namespace gateway::config {
namespace {

std::string ChildPath(const std::string& parent, absl::string_view key) {
  return parent.empty() ? std::string(key) : absl::StrCat(parent, ".", key);
}

bool IsEnvNameChar(char c, bool first) {
  return absl::ascii_isalpha(static_cast<unsigned char>(c)) || c == '_' ||
         (!first && absl::ascii_isdigit(static_cast<unsigned char>(c)));
}

}  // namespace

const std::string& Node::file() const {
  static const std::string* const kUnknown = new std::string("<config>");
  return file_ != nullptr ? *file_ : *kUnknown;
}

std::string Node::Where() const {
  const YAML::Mark mark = yaml_.IsDefined() ? yaml_.Mark() : YAML::Mark::null_mark();
  if (mark.is_null()) {
    return file();
  }
  return absl::StrCat(file(), ":", mark.line + 1, ":", mark.column + 1);
}

absl::Status Node::Error(absl::string_view message) const {
  if (path_.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(Where(), ": ", message));
  }
  return absl::InvalidArgumentError(absl::StrCat(Where(), ": ", path_, ": ", message));
}

absl::StatusOr<std::string> Node::Scalar() const {
  if (!yaml_.IsScalar()) {
    return Error("expected a single value, not a list or mapping");
  }
  absl::StatusOr<std::string> expanded = ExpandEnvironment(yaml_.Scalar());
  if (!expanded.ok()) {
    return Error(expanded.status().message());
  }
  return expanded;
}

absl::StatusOr<Node> ParseYaml(absl::string_view text, absl::string_view file_name) {
  auto file = std::make_shared<const std::string>(file_name);
  try {
    YAML::Node root = YAML::Load(std::string(text));
    return Node(root, file, "");
  } catch (const YAML::Exception& error) {
    if (error.mark.is_null()) {
      return absl::InvalidArgumentError(absl::StrCat(file_name, ": ", error.msg));
    }
    return absl::InvalidArgumentError(absl::StrCat(file_name, ":", error.mark.line + 1, ":",
                                                   error.mark.column + 1, ": ", error.msg));
  }
}

absl::StatusOr<std::string> ExpandEnvironment(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '$') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 1 < text.size() && text[i + 1] == '$') {
      out.push_back('$');
      ++i;
      continue;
    }
    if (i + 1 >= text.size() || text[i + 1] != '{') {
      out.push_back('$');
      continue;
    }
    const size_t close = text.find('}', i + 2);
    if (close == absl::string_view::npos) {
      return absl::InvalidArgumentError("unterminated ${ in value");
    }
    absl::string_view reference = text.substr(i + 2, close - i - 2);
    absl::string_view name = reference;
    absl::string_view fallback;
    bool has_fallback = false;
    if (const size_t dash = reference.find(":-"); dash != absl::string_view::npos) {
      name = reference.substr(0, dash);
      fallback = reference.substr(dash + 2);
      has_fallback = true;
    }
    if (name.empty()) {
      return absl::InvalidArgumentError("empty environment variable name in ${}");
    }
    for (size_t k = 0; k < name.size(); ++k) {
      if (!IsEnvNameChar(name[k], k == 0)) {
        return absl::InvalidArgumentError(
            absl::StrCat("\"", name, "\" is not an environment variable name"));
      }
    }
    const char* value = std::getenv(std::string(name).c_str());
    if (value != nullptr) {
      out.append(value);
    } else if (has_fallback) {
      out.append(fallback.data(), fallback.size());
    } else {
      return absl::InvalidArgumentError(absl::StrCat("environment variable ", name,
                                                     " is not set (write ${", name,
                                                     ":-default} to make it optional)"));
    }
    i = close;
  }
  return out;
}

absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view text) {
  absl::Duration duration;
  const absl::string_view trimmed = absl::StripAsciiWhitespace(text);
  int64_t days = 0;
  // absl::ParseDuration stops at hours; token lifetimes are naturally said in days.
  if (absl::EndsWith(trimmed, "d") &&
      absl::SimpleAtoi(trimmed.substr(0, trimmed.size() - 1), &days) && days >= 0 &&
      days <= 36500) {
    return absl::Hours(24 * days);
  }
  if (!absl::ParseDuration(trimmed, &duration) || duration < absl::ZeroDuration() ||
      duration == absl::InfiniteDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a duration such as 250ms, 10s, 5m, 1h or 30d, got \"", text, "\""));
  }
  return duration;
}

absl::StatusOr<uint64_t> ParseBytesText(absl::string_view text) {
  absl::string_view number = absl::StripAsciiWhitespace(text);
  uint64_t multiplier = 1;
  for (const auto& [suffix, factor] : {std::pair<absl::string_view, uint64_t>{"KiB", 1ULL << 10},
                                       {"MiB", 1ULL << 20},
                                       {"GiB", 1ULL << 30}}) {
    if (absl::EndsWith(number, suffix)) {
      number = absl::StripTrailingAsciiWhitespace(number.substr(0, number.size() - 3));
      multiplier = factor;
      break;
    }
  }
  uint64_t value = 0;
  if (!absl::SimpleAtoi(number, &value) || value > (UINT64_MAX / multiplier)) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a size such as 4096, 64KiB or 1MiB, got \"", text, "\""));
  }
  return value * multiplier;
}

MapReader::MapReader(const Node& node) : node_(node) {
  if (!node_.defined()) {
    return;
  }
  if (!node_.yaml().IsMap()) {
    AddError(node_.Error("expected a mapping of keys to values"));
    return;
  }
  std::set<std::string, std::less<>> seen;
  for (const auto& entry : node_.yaml()) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    if (!seen.insert(key).second) {
      AddError(Node(entry.first, node_.file_ptr(), ChildPath(node_.path(), key))
                   .Error("this key appears twice"));
    }
  }
}

Node MapReader::Lookup(absl::string_view key) {
  known_.emplace(key);
  const std::string path = ChildPath(node_.path(), key);
  const auto& file = node_.file_ptr();
  if (!node_.defined() || !node_.yaml().IsMap()) {
    return Node(YAML::Node(YAML::NodeType::Undefined), file, path);
  }
  for (const auto& entry : node_.yaml()) {
    if (entry.first.IsScalar() && entry.first.Scalar() == key) {
      return Node(entry.second, file, path);
    }
  }
  return Node(YAML::Node(YAML::NodeType::Undefined), file, path);
}

bool MapReader::Has(absl::string_view key) const {
  if (!node_.defined() || !node_.yaml().IsMap()) {
    return false;
  }
  for (const auto& entry : node_.yaml()) {
    if (entry.first.IsScalar() && entry.first.Scalar() == key) {
      return !entry.second.IsNull();
    }
  }
  return false;
}

template <typename T, typename Parse>
T MapReader::Read(absl::string_view key, T fallback, Parse parse) {
  Node value = Lookup(key);
  if (!value.defined()) {
    return fallback;
  }
  absl::StatusOr<std::string> text = value.Scalar();
  if (!text.ok()) {
    AddError(text.status());
    return fallback;
  }
  absl::StatusOr<T> parsed = parse(*text);
  if (!parsed.ok()) {
    AddError(value.Error(parsed.status().message()));
    return fallback;
  }
  return *std::move(parsed);
}

std::string MapReader::String(absl::string_view key, absl::string_view fallback) {
  return Read<std::string>(
      key, std::string(fallback),
      [](const std::string& text) -> absl::StatusOr<std::string> { return text; });
}

int64_t MapReader::Int(absl::string_view key, int64_t fallback, int64_t min, int64_t max) {
  return Read<int64_t>(
      key, fallback, [min, max](const std::string& text) -> absl::StatusOr<int64_t> {
        int64_t number = 0;
        if (!absl::SimpleAtoi(text, &number) || number < min || number > max) {
          return absl::InvalidArgumentError(
              absl::StrCat("expected an integer from ", min, " to ", max, ", got \"", text, "\""));
        }
        return number;
      });
}

bool MapReader::Bool(absl::string_view key, bool fallback) {
  return Read<bool>(key, fallback, [](const std::string& text) -> absl::StatusOr<bool> {
    if (text == "true" || text == "false") {
      return text == "true";
    }
    return absl::InvalidArgumentError(absl::StrCat("expected true or false, got \"", text, "\""));
  });
}

absl::Duration MapReader::Duration(absl::string_view key, absl::Duration fallback) {
  return Read<absl::Duration>(key, fallback, ParseDurationText);
}

uint64_t MapReader::Bytes(absl::string_view key, uint64_t fallback) {
  return Read<uint64_t>(key, fallback, ParseBytesText);
}

std::string MapReader::UrlString(absl::string_view key) {
  return Read<std::string>(key, "", [](const std::string& text) -> absl::StatusOr<std::string> {
    if (text.empty()) {
      return text;  // e.g. ${VAR:-} with VAR unset: treated as absent
    }
    if (absl::StatusOr<Url> url = ParseUrl(text); !url.ok()) {
      return url.status();
    }
    return text;
  });
}

std::vector<std::string> MapReader::StringList(absl::string_view key) {
  Node value = Lookup(key);
  std::vector<std::string> result;
  if (!value.defined()) {
    return result;
  }
  if (value.yaml().IsScalar()) {
    absl::StatusOr<std::string> text = value.Scalar();
    if (!text.ok()) {
      AddError(text.status());
    } else {
      result.push_back(*text);
    }
    return result;
  }
  if (!value.yaml().IsSequence()) {
    AddError(value.Error("expected a string or a list of strings"));
    return result;
  }
  size_t index = 0;
  for (const auto& item : value.yaml()) {
    Node element(item, node_.file_ptr(), absl::StrCat(value.path(), "[", index++, "]"));
    absl::StatusOr<std::string> text = element.Scalar();
    if (!text.ok()) {
      AddError(text.status());
      continue;
    }
    result.push_back(*text);
  }
  return result;
}

Node MapReader::Child(absl::string_view key) { return Lookup(key); }

std::vector<Node> MapReader::List(absl::string_view key) {
  Node value = Lookup(key);
  std::vector<Node> result;
  if (!value.defined()) {
    return result;
  }
  if (!value.yaml().IsSequence()) {
    AddError(value.Error("expected a list"));
    return result;
  }
  size_t index = 0;
  for (const auto& item : value.yaml()) {
    result.emplace_back(item, node_.file_ptr(), absl::StrCat(value.path(), "[", index++, "]"));
  }
  return result;
}

void MapReader::AddError(const absl::Status& status) {
  if (status_.ok() && !status.ok()) {
    status_ = status;
  }
}

absl::Status MapReader::Finish() {
  if (!status_.ok() || !node_.defined() || !node_.yaml().IsMap()) {
    return status_;
  }
  for (const auto& entry : node_.yaml()) {
    const std::string key = entry.first.IsScalar() ? entry.first.Scalar() : "";
    if (known_.find(key) == known_.end()) {
      Node where(entry.first, node_.file_ptr(), ChildPath(node_.path(), key));
      return where.Error(
          known_.empty()
              ? std::string("unknown key (this mapping takes no keys)")
              : absl::StrCat("unknown key (known here: ", absl::StrJoin(known_, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

}  // namespace gateway::config
