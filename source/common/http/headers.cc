#include "source/common/http/headers.h"

#include <algorithm>
#include <array>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gateway::http {

void HeaderMap::Set(absl::string_view name, absl::string_view value) {
  Remove(name);
  Add(name, value);
}

size_t HeaderMap::Remove(absl::string_view name) {
  return EraseIf([name](const Entry& entry) { return SameFieldName(entry.first, name); });
}

const std::string* HeaderMap::Get(absl::string_view name) const {
  for (const Entry& entry : entries_) {
    if (SameFieldName(entry.first, name)) {
      return &entry.second;
    }
  }
  return nullptr;
}

size_t HeaderMap::Count(absl::string_view name) const {
  return static_cast<size_t>(
      std::count_if(entries_.begin(), entries_.end(),
                    [name](const Entry& e) { return SameFieldName(e.first, name); }));
}

bool HeaderMap::HasToken(absl::string_view name, absl::string_view token) const {
  for (const Entry& entry : entries_) {
    if (!SameFieldName(entry.first, name)) {
      continue;
    }
    for (absl::string_view item : absl::StrSplit(entry.second, ',')) {
      if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(item), token)) {
        return true;
      }
    }
  }
  return false;
}

namespace {

// RFC 9110 section 5.6.2's tchar, looked up by byte (the check runs over every header name of
// every request and response).
constexpr std::array<bool, 256> MakeTcharTable() {
  std::array<bool, 256> table{};
  for (int c = 'a'; c <= 'z'; ++c) {
    table[c] = true;
  }
  for (int c = 'A'; c <= 'Z'; ++c) {
    table[c] = true;
  }
  for (int c = '0'; c <= '9'; ++c) {
    table[c] = true;
  }
  for (char c : absl::string_view("!#$%&'*+-.^_`|~")) {
    table[static_cast<unsigned char>(c)] = true;
  }
  return table;
}
constexpr std::array<bool, 256> kTchar = MakeTcharTable();

}  // namespace

bool IsValidHeaderName(absl::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (char c : name) {
    if (!kTchar[static_cast<unsigned char>(c)]) {
      return false;
    }
  }
  return true;
}

bool IsValidHeaderValue(absl::string_view value) {
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') {
      return false;
    }
  }
  return true;
}

}  // namespace gateway::http
