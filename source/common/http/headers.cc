#include "source/common/http/headers.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace gateway::http {

void HeaderMap::Set(absl::string_view name, absl::string_view value) {
  Remove(name);
  Add(name, value);
}

size_t HeaderMap::Remove(absl::string_view name) {
  auto removed = std::remove_if(entries_.begin(), entries_.end(), [name](const Entry& entry) {
    return absl::EqualsIgnoreCase(entry.first, name);
  });
  size_t count = static_cast<size_t>(entries_.end() - removed);
  entries_.erase(removed, entries_.end());
  return count;
}

const std::string* HeaderMap::Get(absl::string_view name) const {
  for (const Entry& entry : entries_) {
    if (absl::EqualsIgnoreCase(entry.first, name)) {
      return &entry.second;
    }
  }
  return nullptr;
}

size_t HeaderMap::Count(absl::string_view name) const {
  return static_cast<size_t>(
      std::count_if(entries_.begin(), entries_.end(),
                    [name](const Entry& e) { return absl::EqualsIgnoreCase(e.first, name); }));
}

bool HeaderMap::HasToken(absl::string_view name, absl::string_view token) const {
  for (const Entry& entry : entries_) {
    if (!absl::EqualsIgnoreCase(entry.first, name)) {
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

bool IsValidHeaderName(absl::string_view name) {
  if (name.empty()) {
    return false;
  }
  for (char c : name) {
    const bool token_char = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                            (c >= '0' && c <= '9') ||
                            absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
    if (!token_char) {
      return false;
    }
  }
  return true;
}

bool IsValidHeaderValue(absl::string_view value) {
  return value.find_first_of(absl::string_view("\r\n\0", 3)) == absl::string_view::npos;
}

}  // namespace gateway::http
