#pragma once

// An ordered list of HTTP header fields with case-insensitive lookup (RFC 9110 section 5.1).
// Order and duplicates are kept as received. A small vector beats a hash map at the dozen
// headers a request carries.

#include <algorithm>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/string_view.h"

namespace gateway::http {

bool IsValidHeaderValue(absl::string_view value);  // below

class HeaderMap {
 public:
  using Entry = std::pair<std::string, std::string>;

  HeaderMap() = default;
  HeaderMap(const HeaderMap&) = default;
  HeaderMap& operator=(const HeaderMap&) = default;
  // A map moved from is empty, checked prefix included: fields added to it later are checked.
  HeaderMap(HeaderMap&& other) noexcept
      : entries_(std::move(other.entries_)), checked_(std::exchange(other.checked_, 0)) {
    other.entries_.clear();
  }
  HeaderMap& operator=(HeaderMap&& other) noexcept {
    entries_ = std::move(other.entries_);
    checked_ = std::exchange(other.checked_, 0);
    other.entries_.clear();
    return *this;
  }

  void Add(absl::string_view name, absl::string_view value) {
    entries_.emplace_back(std::string(name), std::string(value));
  }
  // Takes a value built for the field (such as a StrCat's) without copying it.
  void Add(absl::string_view name, std::string&& value) {
    entries_.emplace_back(std::string(name), std::move(value));
  }
  // A literal value (which would fit both overloads above).
  void Add(absl::string_view name, const char* value) { Add(name, absl::string_view(value)); }
  // As Add(), for a field the caller vouches for: its name a valid token (a constant), its value
  // free of CR, LF and NUL, by how it was made (a constant, a number, an address, a value read
  // from validated config) or because the caller checked it with IsValidHeaderValue(). The
  // encoder does not check it again, while every field before it is checked too (see checked()).
  // `value` as Add() takes it (a view, a string to move, a literal).
  template <typename Value>
  void AddVouched(absl::string_view name, Value&& value) {
    const bool prefix = checked_ == entries_.size();
    Add(name, std::forward<Value>(value));
    checked_ = prefix ? entries_.size() : checked_;
  }
  // As AddVouched(), for a field with a constant name whose value may have changed since it was
  // made (a filter may set it): vouched for if the value passes IsValidHeaderValue() now, added
  // unvouched otherwise, for the encoder to refuse.
  void AddCheckingValue(absl::string_view name, std::string value) {
    if (IsValidHeaderValue(value)) {
      AddVouched(name, std::move(value));
    } else {
      Add(name, std::move(value));
    }
  }
  // As Set(), with the value checked as AddCheckingValue() does.
  void SetCheckingValue(absl::string_view name, std::string value) {
    Remove(name);
    AddCheckingValue(name, std::move(value));
  }
  // The HTTP parser's: appends a field with an empty name and value, for the parser to fill in
  // place as its bytes arrive (no copy through scratch strings). The reference holds until the
  // next field is added. Unchecked, as every field added is.
  Entry& AddEmpty() { return entries_.emplace_back(); }
  // Replaces every field named `name` with one field.
  void Set(absl::string_view name, absl::string_view value);
  // Removes every field named `name`; returns how many there were.
  size_t Remove(absl::string_view name);
  // The first field named `name`, or nullptr.
  const std::string* Get(absl::string_view name) const;
  size_t Count(absl::string_view name) const;
  // Keeps the fields whose name `keep(name)` accepts, in order, and drops the others. `keep` is
  // asked once per field, in order: it may note what it sees.
  template <typename Keep>
  void RetainIf(Keep keep) {
    EraseIf([&keep](const Entry& entry) { return !keep(entry.first); });
  }

  // Appends, in order, the fields of `other` whose name `keep(name)` accepts. Fields from
  // other's checked prefix stay checked here while every field before them is.
  template <typename Keep>
  void AppendIf(const HeaderMap& other, Keep keep) {
    bool prefix = checked_ == entries_.size();
    for (size_t i = 0; i < other.entries_.size(); ++i) {
      const Entry& entry = other.entries_[i];
      if (!keep(entry.first)) {
        continue;
      }
      entries_.push_back(entry);
      prefix = prefix && i < other.checked_;
      if (prefix) {
        checked_ = entries_.size();
      }
    }
  }

  // The fields the HTTP parser delivered have passed IsValidHeaderName() and
  // IsValidHeaderValue()'s rules already (llhttp's strict mode refuses the message otherwise;
  // test/unit/parser_test.cc and the parser's fuzzer hold it to that), and the encoder need not
  // check them again. MarkChecked() records that every field now present is such a field; the
  // first checked() fields are, in order. A field added or set later is not (unless vouched for:
  // AddVouched(), AddCheckingValue(), SetCheckingValue()), nor is any field after it.
  void MarkChecked() { checked_ = entries_.size(); }
  size_t checked() const { return checked_; }
  bool Has(absl::string_view name) const { return Get(name) != nullptr; }
  // Whether the comma-separated field `name` lists `token` (case-insensitive), as in
  // "Connection: keep-alive, Upgrade".
  bool HasToken(absl::string_view name, absl::string_view token) const;

  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  void clear() {
    entries_.clear();
    checked_ = 0;
  }
  void reserve(size_t n) { entries_.reserve(n); }

 private:
  // Removes the fields `drop` accepts, in place, keeping the order and the checked prefix (the
  // checked fields that stay are still the first ones). Answers how many went.
  template <typename Drop>
  size_t EraseIf(Drop drop) {
    // Most calls (Set() of a field not yet there) drop nothing: one pass of lookups, no moves.
    const auto first = std::find_if(entries_.begin(), entries_.end(), drop);
    if (first == entries_.end()) {
      return 0;
    }
    const size_t count = entries_.size();
    size_t kept = static_cast<size_t>(first - entries_.begin());
    size_t kept_checked = std::min(kept, checked_);
    for (size_t i = kept + 1; i < count; ++i) {
      if (drop(entries_[i])) {
        continue;
      }
      if (i < checked_) {
        ++kept_checked;
      }
      entries_[kept++] = std::move(entries_[i]);
    }
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(kept), entries_.end());
    checked_ = kept_checked;
    return count - kept;
  }

  std::vector<Entry> entries_;
  size_t checked_ = 0;
};

// Whether two field names are the same name (RFC 9110 section 5.1: case-insensitive). The lengths
// are compared first, inline: most of the names a lookup passes differ in length.
inline bool SameFieldName(absl::string_view a, absl::string_view b) {
  if (a.size() != b.size()) {
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(a[i])) !=
        absl::ascii_tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// A set of field names, for "is this field one of them?" asked of every field of every proxied
// message. The names are kept by length: a lookup compares (ignoring case) only the one or two of
// the same length, where a list would check the length of each.
class FieldNameSet {
 public:
  FieldNameSet() = default;
  FieldNameSet(std::initializer_list<absl::string_view> names) {
    for (absl::string_view name : names) {
      Insert(name);
    }
  }
  void Insert(absl::string_view name);
  bool Contains(absl::string_view name) const {
    if (name.size() >= by_length_.size()) {
      return false;
    }
    for (const std::string& candidate : by_length_[name.size()]) {
      if (SameFieldName(name, candidate)) {
        return true;
      }
    }
    return false;
  }

 private:
  std::vector<std::vector<std::string>> by_length_;  // [n]: the names n characters long
};

// RFC 9110 section 5.6.2: whether `name` is a token. Header names that are not are refused.
bool IsValidHeaderName(absl::string_view name);
// RFC 9110 section 5.5: a field value never carries CR, LF or NUL. This is the check that keeps
// response splitting and header injection out of everything the gateway sends.
bool IsValidHeaderValue(absl::string_view value);

}  // namespace gateway::http
