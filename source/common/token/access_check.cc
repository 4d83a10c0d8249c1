#include "source/common/token/access_check.h"

#include <openssl/crypto.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include "absl/hash/hash.h"
#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"

namespace gateway::token {
namespace {

// A thread's memory of the tokens that passed the check (see access_check.h): set-associative,
// kWays entries per set, the least recently used one replaced. Keyed by the token's text; an
// entry matches only on the whole text, compared in constant time. A set's keys share a cache
// line apart from the entries, and an entry holds its token's text inline, so a lookup reads the
// set's keys and the one entry that matches. Beside each entry, the store's record its token
// passed against, and the store's generation then (see access_check.h). Entries are wiped when
// replaced, when their token is refused, when it expires (ForgetExpired(), from the worker's
// sweep) and with the thread.
class TokenMemory {
 public:
  // Longer tokens (far beyond a sealed pair for a GitHub token) are not remembered. The upstream
  // token of a pair that long is shorter than the pair's decoded bytes.
  static constexpr size_t kMaxTokenChars = 256;
  static constexpr size_t kMaxUpstreamChars = kMaxTokenChars / 4 * 3;

  // Plain bytes, all zero when empty: the entries are allocated zeroed (calloc) and a page of
  // them becomes resident only when a token is remembered in it.
  struct Entry {
    uint64_t version;  // changes whenever the entry is written or cleared
    uint64_t last_used;
    uint64_t ring_serial;  // the key ring the upstream token was unsealed with
    uint64_t generation;   // the store's token generation the record was looked up under, or 0
    int64_t expires_at;    // the token's, from its record (Unix seconds)
    uint16_t token_size;
    uint16_t upstream_size;
    bool plain;  // upstream_part_hash is set (plain format)
    char token[kMaxTokenChars];
    crypto::SecretHashBuffer token_hash;
    crypto::SecretHashBuffer upstream_part_hash;
    char upstream_token[kMaxUpstreamChars];

    absl::string_view Token() const { return absl::string_view(token, token_size); }
    absl::string_view UpstreamToken() const {
      return absl::string_view(upstream_token, upstream_size);
    }
  };
  static_assert(std::is_trivially_copyable_v<Entry> && std::is_aggregate_v<Entry>);

  TokenMemory() = default;
  TokenMemory(const TokenMemory&) = delete;
  TokenMemory& operator=(const TokenMemory&) = delete;
  ~TokenMemory() { ForgetAll(); }

  static TokenMemory& ForThisThread() {
    thread_local TokenMemory memory;
    return memory;
  }

  // The entry holding `token` (its index plus one, for AccessCheck::remembered_at_), or 0.
  size_t Find(absl::string_view token) {
    if (entries_ == nullptr) {
      return 0;
    }
    const size_t at = Holding(Key(token), token);
    if (at != 0) {
      entries_[at - 1].last_used = ++tick_;
    }
    return at;
  }

  // The entry at `at` (Find()'s answer) if it still holds what it held as `version`.
  const Entry* Get(size_t at, uint64_t version) const {
    if (at == 0 || entries_ == nullptr || at > kEntries || entries_[at - 1].version != version) {
      return nullptr;
    }
    return &entries_[at - 1];
  }
  uint64_t Version(size_t at) const { return entries_[at - 1].version; }

  // The record kept with the entry at `at` (still holding what it held as `version`), if it was
  // looked up under `generation` (nonzero) and has not expired at `now`.
  const std::shared_ptr<const store::TokenRecord>* Vouched(size_t at, uint64_t version,
                                                           uint64_t generation,
                                                           absl::Time now) const {
    const Entry* entry = Get(at, version);
    if (entry == nullptr || generation == 0 || entry->generation != generation) {
      return nullptr;
    }
    const std::shared_ptr<const store::TokenRecord>& record = records_[at - 1];
    return record != nullptr && record->expires_at > now ? &record : nullptr;
  }

  // Keeps `record` with the entry at `at` (if it still holds what it held as `version`), as
  // looked up under `generation`.
  void Vouch(size_t at, uint64_t version, const std::shared_ptr<const store::TokenRecord>& record,
             uint64_t generation) {
    if (Get(at, version) == nullptr) {
      return;
    }
    entries_[at - 1].generation = generation;
    if (records_[at - 1] != record) {
      records_[at - 1] = record;
    }
  }

  // Remembers `token`, in place of its set's least recently used entry, with the `record` it
  // passed against, looked up under `generation`. (A copy: the record may be the one the entry
  // kept, which is cleared first.)
  void Remember(absl::string_view token, absl::string_view token_hash, bool plain,
                absl::string_view upstream_part_hash, absl::string_view upstream_token,
                uint64_t ring_serial, std::shared_ptr<const store::TokenRecord> record,
                uint64_t generation) {
    if (!enabled_ || token.size() > kMaxTokenChars || upstream_token.size() > kMaxUpstreamChars ||
        token_hash.size() != crypto::kSecretHashLength ||
        (plain && upstream_part_hash.size() != crypto::kSecretHashLength)) {
      return;
    }
    if (entries_ == nullptr) {
      entries_.reset(static_cast<Entry*>(std::calloc(kEntries, sizeof(Entry))));
      keys_.reset(
          static_cast<SetKeys*>(std::aligned_alloc(alignof(SetKeys), kSets * sizeof(SetKeys))));
      records_.reset(new (std::nothrow) std::shared_ptr<const store::TokenRecord>[kEntries]);
      if (entries_ == nullptr || keys_ == nullptr || records_ == nullptr) {
        entries_.reset();
        keys_.reset();
        records_.reset();
        return;  // no memory to spare: every check derives
      }
      std::memset(keys_.get(), 0, kSets * sizeof(SetKeys));
    }
    const uint64_t key = Key(token);
    // The entry that holds this token already (remembered with another key ring), or else the
    // set's least recently used one.
    size_t chosen = Holding(key, token);
    if (chosen != 0) {
      --chosen;
    } else {
      const size_t first = (key % kSets) * kWays;
      chosen = first;
      for (size_t i = first + 1; i < first + kWays; ++i) {
        if (entries_[i].last_used < entries_[chosen].last_used) {
          chosen = i;
        }
      }
    }
    Clear(chosen);
    Entry& entry = entries_[chosen];
    keys_[chosen / kWays].key[chosen % kWays] = key;
    entry.last_used = ++tick_;
    entry.ring_serial = ring_serial;
    entry.generation = generation;
    entry.expires_at = absl::ToUnixSeconds(record->expires_at);
    records_[chosen] = std::move(record);
    entry.plain = plain;
    std::copy(token.begin(), token.end(), entry.token);
    entry.token_size = static_cast<uint16_t>(token.size());
    std::copy(token_hash.begin(), token_hash.end(), entry.token_hash.begin());
    if (plain) {
      std::copy(upstream_part_hash.begin(), upstream_part_hash.end(),
                entry.upstream_part_hash.begin());
    }
    std::copy(upstream_token.begin(), upstream_token.end(), entry.upstream_token);
    entry.upstream_size = static_cast<uint16_t>(upstream_token.size());
  }

  void Forget(size_t at, uint64_t version) {
    if (Get(at, version) != nullptr) {
      Clear(at - 1);
    }
  }

  void SetEnabled(bool enabled) {
    enabled_ = enabled;
    if (!enabled) {
      ForgetAll();
    }
  }

  void ForgetExpired(absl::Time now) {
    const int64_t now_seconds = absl::ToUnixSeconds(now);
    for (size_t i = 0; entries_ != nullptr && i < kEntries; ++i) {
      if (entries_[i].token_size != 0 && entries_[i].expires_at <= now_seconds) {
        Clear(i);
      }
    }
  }

 private:
  static constexpr size_t kWays = 4;
  static constexpr size_t kEntries = kRememberedTokens;
  static constexpr size_t kSets = kEntries / kWays;

  // A hash of the token's first characters: the gateway half's random bytes, enough to spread
  // the tokens (the whole text is compared on a match) at a third of the cost of hashing it all.
  static uint64_t Key(absl::string_view token) {
    const uint64_t key = absl::Hash<absl::string_view>{}(token.substr(0, 16));
    return key == 0 ? 1 : key;
  }

  // The entry of `key`'s set that holds `token` (its index plus one), or 0.
  size_t Holding(uint64_t key, absl::string_view token) const {
    const size_t first = (key % kSets) * kWays;
    for (size_t i = first; i < first + kWays; ++i) {
      if (keys_[i / kWays].key[i % kWays] == key &&
          crypto::ConstantTimeEquals(entries_[i].Token(), token)) {
        return i + 1;
      }
    }
    return 0;
  }

  void ForgetAll() {
    for (size_t i = 0; entries_ != nullptr && i < kEntries; ++i) {
      if (entries_[i].token_size != 0) {
        Clear(i);  // empty ones hold nothing (and may not even be resident)
      }
    }
  }

  // Empties entry `i`, wiping what it held.
  void Clear(size_t i) {
    Entry& entry = entries_[i];
    OPENSSL_cleanse(entry.token, sizeof(entry.token));
    OPENSSL_cleanse(entry.token_hash.data(), entry.token_hash.size());
    OPENSSL_cleanse(entry.upstream_part_hash.data(), entry.upstream_part_hash.size());
    OPENSSL_cleanse(entry.upstream_token, sizeof(entry.upstream_token));
    entry.token_size = 0;
    entry.upstream_size = 0;
    entry.last_used = 0;
    entry.generation = 0;
    records_[i].reset();
    // Unique in the process, not only in this memory: an index and version a check carries can
    // name no entry of another thread's memory either.
    entry.version = next_version_.fetch_add(1, std::memory_order_relaxed) + 1;
    keys_[i / kWays].key[i % kWays] = 0;  // 0 for an empty entry: Key() never is
  }

  // A set's keys, in one aligned half of a cache line.
  struct alignas(32) SetKeys {
    uint64_t key[kWays];
  };

  struct Free {
    void operator()(void* memory) const { std::free(memory); }
  };
  // Allocated on the first Remember(): the entries, their keys by set, and their records.
  std::unique_ptr<Entry[], Free> entries_;
  std::unique_ptr<SetKeys[], Free> keys_;
  std::unique_ptr<std::shared_ptr<const store::TokenRecord>[]> records_;
  uint64_t tick_ = 0;  // for least recently used
  static inline std::atomic<uint64_t> next_version_{0};
  bool enabled_ = true;
};

// "Bearer " with the scheme in any case (RFC 7235 section 2.1), inline: a call out to
// absl::EqualsIgnoreCase cost a few percent of the whole check.
bool StartsWithBearerScheme(absl::string_view value) {
  constexpr absl::string_view kScheme = "bearer ";
  if (value.size() < kScheme.size()) {
    return false;
  }
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (absl::ascii_tolower(static_cast<unsigned char>(value[i])) != kScheme[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

absl::string_view Describe(AccessError error) {
  switch (error) {
    case AccessError::kNone:
      return "";
    case AccessError::kNotBearer:
      return "the Authorization header is not a Bearer token";
    case AccessError::kEmptyOrTooLong:
      return "the token is empty or too long";
    case AccessError::kMalformed:
      return "the token is not one this gateway issued";
    case AccessError::kUnknown:
      return "the token is unknown, expired or revoked";
    case AccessError::kOtherResource:
      return "the token was issued for another resource";
    case AccessError::kHalvesMismatch:
      return "the token's halves do not belong together";
    case AccessError::kBadUpstreamToken:
      return "the token's upstream half is not a valid bearer token";
  }
  return "the token is invalid";
}

void RememberTokensOnThisThread(bool enabled) { TokenMemory::ForThisThread().SetEnabled(enabled); }

void ForgetExpiredTokensOnThisThread(absl::Time now) {
  TokenMemory::ForThisThread().ForgetExpired(now);
}

AccessError AccessCheck::Parse(absl::string_view authorization) {
  token_ = {};
  decoded_ = false;
  hash_length_ = 0;
  remembered_at_ = 0;
  remembered_by_ = nullptr;
  if (!StartsWithBearerScheme(authorization)) {
    return AccessError::kNotBearer;
  }
  token_ = absl::StripAsciiWhitespace(authorization.substr(7));
  if (token_.empty() || token_.size() > DecodedPair::kMaxTokenChars) {
    return AccessError::kEmptyOrTooLong;
  }
  TokenMemory& memory = TokenMemory::ForThisThread();
  if (const size_t at = memory.Find(token_); at != 0) {
    remembered_by_ = &memory;
    remembered_at_ = at;
    remembered_version_ = memory.Version(at);
    const TokenMemory::Entry& entry = *memory.Get(at, remembered_version_);
    std::copy(entry.token_hash.begin(), entry.token_hash.end(), hash_.begin());
    hash_length_ = hash_.size();
    return AccessError::kNone;
  }
  if (!pair_.Decode(token_)) {
    return AccessError::kMalformed;
  }
  decoded_ = true;
  hash_length_ = crypto::SecretHashInto(pair_.gateway_half(), hash_).size();
  return AccessError::kNone;
}

const std::shared_ptr<const store::TokenRecord>* AccessCheck::VouchedRecord(uint64_t generation,
                                                                            absl::Time now) const {
  TokenMemory& memory = TokenMemory::ForThisThread();
  if (remembered_by_ != &memory) {
    return nullptr;
  }
  return memory.Vouched(remembered_at_, remembered_version_, generation, now);
}

AccessError AccessCheck::Validate(const std::shared_ptr<const store::TokenRecord>& record,
                                  uint64_t generation, absl::string_view resource,
                                  const KeyRing& keys, std::string& upstream_token) {
  upstream_token.clear();
  TokenMemory& memory = TokenMemory::ForThisThread();
  // What Parse() found is used only in the memory it was found in: an entry's index and
  // version mean nothing to another thread's.
  const bool same_memory = remembered_by_ == &memory;
  if (record == nullptr || record->kind != store::TokenKind::kAccess) {
    if (same_memory) {
      memory.Forget(remembered_at_, remembered_version_);  // revoked or expired since
    }
    return AccessError::kUnknown;
  }
  if (absl::StripSuffix(record->resource, "/") != resource) {
    return AccessError::kOtherResource;
  }
  const bool plain = !record->upstream_part_hash.empty();
  const TokenMemory::Entry* remembered =
      same_memory ? memory.Get(remembered_at_, remembered_version_) : nullptr;
  if (remembered != nullptr && remembered->ring_serial == keys.serial() &&
      remembered->plain == plain) {
    if (plain &&
        !crypto::ConstantTimeEquals(
            absl::string_view(remembered->upstream_part_hash.data(), crypto::kSecretHashLength),
            record->upstream_part_hash)) {
      return AccessError::kHalvesMismatch;
    }
    const absl::string_view remembered_upstream = remembered->UpstreamToken();
    upstream_token.assign(remembered_upstream.data(), remembered_upstream.size());
    // (`record` may be the one kept there: Vouch() leaves it as it is.)
    memory.Vouch(remembered_at_, remembered_version_, record, generation);
    return AccessError::kNone;
  }
  // A first sight (or the memory's entry was replaced while the store answered): the whole
  // derivation.
  if (!decoded_) {
    if (!pair_.Decode(token_)) {
      return AccessError::kMalformed;
    }
    decoded_ = true;
  }
  crypto::SecretHashBuffer presented;
  absl::string_view presented_hash;
  if (plain) {
    presented_hash = crypto::SecretHashInto(pair_.upstream_part(), presented);
    if (!crypto::ConstantTimeEquals(presented_hash, record->upstream_part_hash)) {
      return AccessError::kHalvesMismatch;
    }
    upstream_token.assign(pair_.upstream_part().data(), pair_.upstream_part().size());
  } else if (!UnsealInto(keys, pair_.upstream_part(), pair_.gateway_half(), upstream_token)) {
    return AccessError::kHalvesMismatch;
  }
  // No CR or LF (or anything else) can reach the upstream's Authorization header.
  if (!IsB64Token(upstream_token)) {
    upstream_token.clear();
    return AccessError::kBadUpstreamToken;
  }
  memory.Remember(token_, token_hash(), plain, presented_hash, upstream_token, keys.serial(),
                  record, generation);
  return AccessError::kNone;
}

}  // namespace gateway::token
