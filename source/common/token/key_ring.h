#pragma once

// The gateway's token keys. The first key seals; every key unseals, so a key can be rotated in
// without logging everyone out: add a new first key, keep the old one until the tokens sealed
// with it have expired, then drop it. Immutable once built; shared by all workers.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace gateway::token {

class KeyRing {
 public:
  struct Key {
    std::string id;      // 1 to 16 characters of [A-Za-z0-9_-]
    std::string secret;  // 32 bytes
  };

  // keys[0] is the current key. Ids must be distinct and secrets 32 bytes.
  static absl::StatusOr<KeyRing> Create(std::vector<Key> keys);
  // A key file holds one key per line, "<id> <secret as base64url>", the current key first;
  // blank lines and lines starting with # are ignored. A missing file is created with one fresh
  // key and mode 0600; an existing file readable or writable by group or others is refused.
  static absl::StatusOr<KeyRing> LoadOrCreate(const std::string& path);
  // A fresh random key, for tests and for new key files.
  static Key GenerateKey(std::string id);

  const Key& current() const { return keys_.front(); }
  // The key with `id`, or nullptr.
  const Key* Find(absl::string_view id) const;
  // Tells rings apart for code that caches work derived from their keys (a cipher context with
  // the key schedule set up): every ring Create() makes has its own; copies share it, and with it
  // the same keys (a ring never changes).
  uint64_t serial() const { return serial_; }

 private:
  explicit KeyRing(std::vector<Key> keys);
  std::vector<Key> keys_;
  uint64_t serial_;
};

}  // namespace gateway::token
