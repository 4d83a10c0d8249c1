#include "source/common/json.h"

#include <rapidjson/error/en.h>

#include "absl/strings/str_cat.h"

namespace gateway::json {

absl::StatusOr<rapidjson::Document> Parse(absl::string_view text) {
  rapidjson::Document document;
  // Iterative: the default parser recurses once per nesting level, so a body of "[[[[..." (the
  // unauthenticated /register, an upstream's answer) overflowed the stack and killed the process
  // (found by test/fuzz/registration_fuzzer). This one keeps its stack on the heap.
  document.Parse<rapidjson::kParseIterativeFlag>(text.data(), text.size());
  if (document.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat("invalid JSON at offset ", document.GetErrorOffset(), ": ",
                     rapidjson::GetParseError_En(document.GetParseError())));
  }
  return document;
}

std::string Write(const rapidjson::Value& value) {
  rapidjson::StringBuffer buffer;
  rapidjson::Writer<rapidjson::StringBuffer> writer(buffer);
  value.Accept(writer);
  return std::string(buffer.GetString(), buffer.GetSize());
}

}  // namespace gateway::json
