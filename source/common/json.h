#pragma once

// Small helpers around RapidJSON: parsing with a checked result, and writing.

#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gateway::json {

// Parses `text`; a syntax error names its offset. Never throws, never asserts, never recurses:
// any nesting depth costs heap, bounded by the size of `text`.
absl::StatusOr<rapidjson::Document> Parse(absl::string_view text);

// Serializes `value` compactly.
std::string Write(const rapidjson::Value& value);

// A writer over a string; `Finish()` returns what was written.
class Writer {
 public:
  Writer() : writer_(buffer_) {}
  rapidjson::Writer<rapidjson::StringBuffer>& operator*() { return writer_; }
  rapidjson::Writer<rapidjson::StringBuffer>* operator->() { return &writer_; }
  void Key(absl::string_view key) {
    writer_.Key(key.data(), static_cast<rapidjson::SizeType>(key.size()));
  }
  void String(absl::string_view value) {
    writer_.String(value.data(), static_cast<rapidjson::SizeType>(value.size()));
  }
  std::string Finish() const { return std::string(buffer_.GetString(), buffer_.GetSize()); }

 private:
  rapidjson::StringBuffer buffer_;
  rapidjson::Writer<rapidjson::StringBuffer> writer_;
};

}  // namespace gateway::json
