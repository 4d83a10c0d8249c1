#include "test/support/observability.h"

#include <cmath>
#include <set>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gateway::testing {
namespace {

bool IsMetricName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name[0]))) {
    return false;
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != ':') {
      return false;
    }
  }
  return true;
}

bool IsLabelName(absl::string_view name) {
  return IsMetricName(name) && name.find(':') == absl::string_view::npos;
}

absl::StatusOr<double> ParseValue(absl::string_view text) {
  if (text == "+Inf") {
    return INFINITY;
  }
  if (text == "-Inf") {
    return -INFINITY;
  }
  if (text == "NaN") {
    return NAN;
  }
  double value = 0;
  if (!absl::SimpleAtod(text, &value) || std::isinf(value) || std::isnan(value)) {
    return absl::InvalidArgumentError(absl::StrCat("not a sample value: \"", text, "\""));
  }
  return value;
}

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // as written, unescaped values
  double value = 0;
};

// `name{a="x",b="y"} value` or `name value` (no timestamps: the gateway writes none).
absl::StatusOr<Sample> ParseSample(absl::string_view line) {
  Sample sample;
  size_t at = 0;
  while (at < line.size() && line[at] != '{' && line[at] != ' ') {
    ++at;
  }
  sample.name = std::string(line.substr(0, at));
  if (!IsMetricName(sample.name)) {
    return absl::InvalidArgumentError(absl::StrCat("bad metric name in: ", line));
  }
  if (at < line.size() && line[at] == '{') {
    ++at;
    while (true) {
      const size_t eq = line.find('=', at);
      if (eq == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("bad labels in: ", line));
      }
      const std::string label(line.substr(at, eq - at));
      if (!IsLabelName(label) || eq + 1 >= line.size() || line[eq + 1] != '"') {
        return absl::InvalidArgumentError(absl::StrCat("bad label \"", label, "\" in: ", line));
      }
      std::string value;
      at = eq + 2;
      while (at < line.size() && line[at] != '"') {
        if (line[at] == '\n') {
          return absl::InvalidArgumentError("raw line feed in a label value");
        }
        if (line[at] == '\\') {
          if (at + 1 >= line.size()) {
            return absl::InvalidArgumentError(absl::StrCat("bad escape in: ", line));
          }
          const char escaped = line[at + 1];
          if (escaped == '\\' || escaped == '"') {
            value += escaped;
          } else if (escaped == 'n') {
            value += '\n';
          } else {
            return absl::InvalidArgumentError(absl::StrCat("bad escape in: ", line));
          }
          at += 2;
          continue;
        }
        value += line[at++];
      }
      if (at >= line.size()) {
        return absl::InvalidArgumentError(absl::StrCat("unterminated label value in: ", line));
      }
      ++at;  // the closing quote
      for (const auto& [seen, unused] : sample.labels) {
        if (seen == label) {
          return absl::InvalidArgumentError(absl::StrCat("label twice in: ", line));
        }
      }
      sample.labels.emplace_back(label, std::move(value));
      if (at < line.size() && line[at] == ',') {
        ++at;
        continue;
      }
      if (at < line.size() && line[at] == '}') {
        ++at;
        break;
      }
      return absl::InvalidArgumentError(absl::StrCat("bad labels in: ", line));
    }
  }
  if (at >= line.size() || line[at] != ' ') {
    return absl::InvalidArgumentError(absl::StrCat("no value in: ", line));
  }
  absl::StatusOr<double> value = ParseValue(line.substr(at + 1));
  if (!value.ok()) {
    return value.status();
  }
  sample.value = *value;
  return sample;
}

std::string Escape(absl::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string SeriesKey(const std::string& name,
                      const std::vector<std::pair<std::string, std::string>>& labels) {
  if (labels.empty()) {
    return name;
  }
  std::string key = name + "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&key, i == 0 ? "" : ",", labels[i].first, "=\"", Escape(labels[i].second),
                    "\"");
  }
  return key + "}";
}

// The histogram checks for one series (its labels other than `le`).
struct HistogramSeries {
  std::vector<std::pair<double, double>> buckets;  // (le, cumulative count), as they came
  bool has_sum = false;
  bool has_count = false;
  double count = 0;
};

}  // namespace

absl::StatusOr<PrometheusSamples> ParsePrometheusText(absl::string_view text) {
  if (text.empty() || text.back() != '\n') {
    return absl::InvalidArgumentError("the exposition must end with a line feed");
  }
  text.remove_suffix(1);
  PrometheusSamples samples;
  std::map<std::string, std::string> types;  // family → type
  std::set<std::string> helped;
  std::set<std::string> finished;  // families whose samples are behind us
  std::string current;             // the family of the last sample or TYPE
  std::map<std::string, HistogramSeries> histograms;
  int number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++number;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(absl::StrCat("line ", number, ": ", what, ": ", line));
    };
    if (line.empty()) {
      return error("empty line");
    }
    if (absl::ConsumePrefix(&line, "# ")) {
      const std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 2));
      if (parts.size() < 3 || !IsMetricName(parts[1])) {
        return error("bad comment line");
      }
      const std::string family(parts[1]);
      if (parts[0] == "HELP") {
        if (!helped.insert(family).second || types.count(family) > 0) {
          return error("HELP twice, or after TYPE");
        }
        continue;
      }
      if (parts[0] != "TYPE") {
        return error("a comment that is neither HELP nor TYPE");
      }
      const std::string type(parts[2]);
      if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
          type != "untyped") {
        return error("unknown type");
      }
      if (!types.emplace(family, type).second) {
        return error("TYPE twice");
      }
      if (type == "counter" && !absl::EndsWith(family, "_total")) {
        return error("a counter whose name does not end in _total");
      }
      if (!current.empty() && current != family) {
        finished.insert(current);
      }
      current = family;
      continue;
    }
    absl::StatusOr<Sample> sample = ParseSample(line);
    if (!sample.ok()) {
      return error(sample.status().message());
    }
    // The family a sample belongs to: its own name, or a histogram's with the suffix removed.
    std::string family = sample->name;
    std::string suffix;
    for (const char* candidate : {"_bucket", "_sum", "_count"}) {
      absl::string_view base = sample->name;
      if (absl::ConsumeSuffix(&base, candidate) && types.count(std::string(base)) > 0 &&
          types[std::string(base)] == "histogram") {
        family = std::string(base);
        suffix = candidate;
      }
    }
    if (types.count(family) == 0) {
      return error("a sample before its family's TYPE");
    }
    if (types[family] == "histogram" && suffix.empty()) {
      return error("a histogram sample without _bucket, _sum or _count");
    }
    if (finished.count(family) > 0 || family != current) {
      return error("samples of one family are not together");
    }
    const std::string key = SeriesKey(sample->name, sample->labels);
    if (!samples.emplace(key, sample->value).second) {
      return error("the same series twice");
    }
    if (types[family] == "counter" && sample->value < 0) {
      return error("a negative counter");
    }
    if (types[family] != "histogram") {
      continue;
    }
    std::vector<std::pair<std::string, std::string>> others;
    double le = 0;
    bool has_le = false;
    for (const auto& [name, value] : sample->labels) {
      if (name == "le") {
        absl::StatusOr<double> bound = ParseValue(value);
        if (!bound.ok()) {
          return error("a bad le");
        }
        le = *bound;
        has_le = true;
      } else {
        others.emplace_back(name, value);
      }
    }
    HistogramSeries& series = histograms[SeriesKey(family, others)];
    if (suffix == "_bucket") {
      if (!has_le) {
        return error("a bucket without le");
      }
      if (series.has_sum || series.has_count) {
        return error("a bucket after _sum or _count");
      }
      if (!series.buckets.empty() &&
          (series.buckets.back().first >= le || series.buckets.back().second > sample->value)) {
        return error("buckets not ascending, or counts not cumulative");
      }
      series.buckets.emplace_back(le, sample->value);
    } else if (has_le) {
      return error("le on _sum or _count");
    } else if (suffix == "_sum") {
      series.has_sum = true;
    } else {
      series.has_count = true;
      series.count = sample->value;
    }
  }
  for (const auto& [key, series] : histograms) {
    if (series.buckets.empty() || !std::isinf(series.buckets.back().first) || !series.has_sum ||
        !series.has_count || series.buckets.back().second != series.count) {
      return absl::InvalidArgumentError(
          absl::StrCat(key,
                       ": a histogram needs buckets up to le=\"+Inf\" equal to its _count, "
                       "and a _sum"));
    }
  }
  return samples;
}

absl::StatusOr<std::map<std::string, std::string>> ParseLogfmtLine(absl::string_view line) {
  std::map<std::string, std::string> fields;
  size_t at = 0;
  while (at < line.size()) {
    const size_t eq = line.find('=', at);
    if (eq == absl::string_view::npos || eq == at) {
      return absl::InvalidArgumentError(absl::StrCat("no key=value at ", at, ": ", line));
    }
    const std::string key(line.substr(at, eq - at));
    for (char c : key) {
      if (!absl::ascii_islower(static_cast<unsigned char>(c)) && c != '_') {
        return absl::InvalidArgumentError(absl::StrCat("bad key \"", key, "\""));
      }
    }
    std::string value;
    at = eq + 1;
    if (at < line.size() && line[at] == '"') {
      ++at;
      while (true) {
        if (at >= line.size()) {
          return absl::InvalidArgumentError(absl::StrCat("unterminated value of ", key));
        }
        const unsigned char c = static_cast<unsigned char>(line[at]);
        if (c == '"') {
          ++at;
          break;
        }
        if (c < 0x20 || c >= 0x7f) {
          return absl::InvalidArgumentError(absl::StrCat("a raw control byte in ", key));
        }
        if (c != '\\') {
          value += static_cast<char>(c);
          ++at;
          continue;
        }
        if (at + 1 < line.size() && (line[at + 1] == '"' || line[at + 1] == '\\')) {
          value += line[at + 1];
          at += 2;
        } else if (at + 3 < line.size() && line[at + 1] == 'x' &&
                   absl::ascii_isxdigit(static_cast<unsigned char>(line[at + 2])) &&
                   absl::ascii_isxdigit(static_cast<unsigned char>(line[at + 3]))) {
          int byte = 0;
          absl::SimpleHexAtoi(line.substr(at + 2, 2), &byte);
          value += static_cast<char>(byte);
          at += 4;
        } else {
          return absl::InvalidArgumentError(absl::StrCat("a bad escape in ", key));
        }
      }
    } else {
      while (at < line.size() && line[at] != ' ') {
        const unsigned char c = static_cast<unsigned char>(line[at]);
        if (c <= 0x20 || c >= 0x7f || c == '=' || c == '"' || c == '\\') {
          return absl::InvalidArgumentError(
              absl::StrCat("a bare value with '", line.substr(at, 1), "'"));
        }
        value += line[at++];
      }
      if (value.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("an empty bare value for ", key));
      }
    }
    if (!fields.emplace(key, std::move(value)).second) {
      return absl::InvalidArgumentError(absl::StrCat("key twice: ", key));
    }
    if (at < line.size()) {
      if (line[at] != ' ' || at + 1 >= line.size()) {
        return absl::InvalidArgumentError(absl::StrCat("not one space after ", key));
      }
      ++at;
    }
  }
  if (fields.empty()) {
    return absl::InvalidArgumentError("an empty line");
  }
  return fields;
}

}  // namespace gateway::testing
