#include "source/common/http/headers.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>

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

void FieldNameSet::Insert(absl::string_view name) {
  if (Contains(name)) {
    return;
  }
  if (name.size() >= by_length_.size()) {
    by_length_.resize(name.size() + 1);
  }
  by_length_[name.size()].push_back(absl::AsciiStrToLower(name));
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
  // No branch per byte: names are short, and nearly always valid.
  bool valid = !name.empty();
  for (char c : name) {
    valid &= kTchar[static_cast<unsigned char>(c)];
  }
  return valid;
}

bool IsValidHeaderValue(absl::string_view value) {
  // Eight bytes at a time: a word holds a zero byte exactly when
  // (word - 0x01...01) & ~word & 0x80...80 is not zero, and a CR (LF) byte when the word XOR
  // CRs (LFs) holds a zero byte.
  constexpr uint64_t kOnes = 0x0101010101010101;
  constexpr uint64_t kHighBits = 0x8080808080808080;
  auto zero_byte = [](uint64_t word) { return (word - kOnes) & ~word & kHighBits; };
  const char* at = value.data();
  size_t left = value.size();
  for (; left >= 8; at += 8, left -= 8) {
    uint64_t word;
    std::memcpy(&word, at, 8);
    if ((zero_byte(word) | zero_byte(word ^ (kOnes * '\r')) | zero_byte(word ^ (kOnes * '\n'))) !=
        0) {
      return false;
    }
  }
  for (; left > 0; ++at, --left) {
    if (*at == '\r' || *at == '\n' || *at == '\0') {
      return false;
    }
  }
  return true;
}

}  // namespace gateway::http
