#include "source/common/token/key_ring.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "source/common/crypto.h"

namespace gateway::token {
namespace {

bool ValidId(absl::string_view id) {
  if (id.empty() || id.size() > 16) {
    return false;
  }
  for (char c : id) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

KeyRing::KeyRing(std::vector<Key> keys) : keys_(std::move(keys)) {
  static std::atomic<uint64_t> next_serial{1};
  serial_ = next_serial.fetch_add(1, std::memory_order_relaxed);
}

KeyRing::Key KeyRing::GenerateKey(std::string id) {
  return Key{std::move(id), crypto::RandomBytes(32)};
}

absl::StatusOr<KeyRing> KeyRing::Create(std::vector<Key> keys) {
  if (keys.empty()) {
    return absl::InvalidArgumentError("no token key");
  }
  std::set<std::string> ids;
  for (const Key& key : keys) {
    if (!ValidId(key.id)) {
      return absl::InvalidArgumentError(
          absl::StrCat("token key id \"", key.id, "\" must be 1 to 16 of A-Z a-z 0-9 _ -"));
    }
    if (key.secret.size() != 32) {
      return absl::InvalidArgumentError(
          absl::StrCat("token key \"", key.id, "\" must be 32 bytes, not ", key.secret.size()));
    }
    if (!ids.insert(key.id).second) {
      return absl::InvalidArgumentError(absl::StrCat("token key id \"", key.id, "\" repeats"));
    }
  }
  return KeyRing(std::move(keys));
}

const KeyRing::Key* KeyRing::Find(absl::string_view id) const {
  for (const Key& key : keys_) {
    if (key.id == id) {
      return &key;
    }
  }
  return nullptr;
}

absl::StatusOr<KeyRing> KeyRing::LoadOrCreate(const std::string& path) {
  struct stat info;
  if (::stat(path.c_str(), &info) != 0) {
    if (errno != ENOENT) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot read the key file ", path, ": ", std::strerror(errno)));
    }
    Key key = GenerateKey(absl::StrCat("k", absl::ToUnixSeconds(absl::Now())));
    const std::string line =
        absl::StrCat("# mcp-oauth-gateway token keys: <id> <secret>, the current key first\n",
                     key.id, " ", crypto::Base64UrlEncode(key.secret), "\n");
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()) ||
        ::fsync(fd) != 0) {
      const int error = errno;
      if (fd >= 0) {
        ::close(fd);
      }
      return absl::FailedPreconditionError(
          absl::StrCat("cannot create the key file ", path, ": ", std::strerror(error)));
    }
    ::close(fd);
    return Create({std::move(key)});
  }
  if ((info.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("the key file ", path, " is open to other users; run: chmod 600 ", path));
  }
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  if (!file) {
    return absl::FailedPreconditionError(absl::StrCat("cannot read the key file ", path));
  }
  std::vector<Key> keys;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text.str(), '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') {
      continue;
    }
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    Key key;
    if (fields.size() != 2 || !crypto::Base64UrlDecode(fields[1], &key.secret)) {
      return absl::InvalidArgumentError(
          absl::StrCat(path, ":", line_number, ": expected \"<id> <secret as base64url>\""));
    }
    key.id = std::string(fields[0]);
    keys.push_back(std::move(key));
  }
  absl::StatusOr<KeyRing> ring = Create(std::move(keys));
  if (!ring.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": ", ring.status().message()));
  }
  return ring;
}

}  // namespace gateway::token
