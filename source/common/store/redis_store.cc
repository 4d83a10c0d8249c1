#include "source/common/store/redis_store.h"

#include <hiredis/hiredis.h>

#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "source/common/crypto.h"
#include "source/common/log.h"
#include "source/common/store/memory_state.h"
#include "source/common/store/record_codec.h"

namespace gateway::store {
namespace {

// Lua scripts: each runs atomically in Redis, which is what makes one winner across replicas.

// Puts a record with its expiry and keeps the kind's index (a sorted set of id -> expiry) for
// the size limit: 0 when the kind is full, else 1.
// KEYS[1] record, KEYS[2] index. ARGV[1] id, ARGV[2] value, ARGV[3] expiry (Unix ms),
// ARGV[4] now (Unix ms), ARGV[5] limit.
#define GATEWAY_PUT_INDEXED                                                 \
  "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[4]) "               \
  "if not redis.call('ZSCORE', KEYS[2], ARGV[1]) and "                      \
  "   redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then return 0 end " \
  "redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3]) "                   \
  "redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1]) "

constexpr char kPutScript[] = GATEWAY_PUT_INDEXED "return 1";

// A flow, and its index by upstream state (KEYS[3], value ARGV[6]) when it has one.
constexpr char kPutFlowScript[] = GATEWAY_PUT_INDEXED
    "if KEYS[3] then redis.call('SET', KEYS[3], ARGV[6], 'PXAT', ARGV[3]) end "
    "return 1";

// A token, and its grant's set of tokens (KEYS[3]), which lives as long as its longest token.
constexpr char kPutTokenScript[] = GATEWAY_PUT_INDEXED
    "redis.call('SADD', KEYS[3], ARGV[1]) "
    "local left = redis.call('PTTL', KEYS[3]) "
    "if left < 0 or left < tonumber(ARGV[3]) - tonumber(ARGV[4]) then "
    "  redis.call('PEXPIREAT', KEYS[3], ARGV[3]) end "
    "return 1";

// Removes a flow and its upstream-state index. KEYS[1] flow, KEYS[2] flows index. ARGV[1] id,
// ARGV[2] prefix of upstream-state keys.
constexpr char kDeleteFlowScript[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if v then "
    "  local state = cjson.decode(v).upstream_state "
    "  if state and state ~= '' then redis.call('DEL', ARGV[2] .. state) end "
    "end "
    "redis.call('DEL', KEYS[1]) "
    "redis.call('ZREM', KEYS[2], ARGV[1]) "
    "return 1";

// Finds the flow of an upstream state and removes both: a callback is used once.
// KEYS[1] upstream-state key. ARGV[1] prefix of flow keys, ARGV[2] flows index.
constexpr char kTakeFlowScript[] =
    "local id = redis.call('GET', KEYS[1]) "
    "if not id then return false end "
    "redis.call('DEL', KEYS[1]) "
    "local v = redis.call('GET', ARGV[1] .. id) "
    "redis.call('DEL', ARGV[1] .. id) "
    "redis.call('ZREM', ARGV[2], id) "
    "return v";

// Stores a new token pair in its grant's set (which lives as long as its longest token). The
// layout both scripts below share: KEYS[4] access, KEYS[5] refresh, KEYS[6] the grant's token
// set, KEYS[7] tokens index; ARGV[1..3] access hash, value, expiry, ARGV[4..6] refresh hash,
// value, expiry, ARGV[7] now.
#define GATEWAY_STORE_PAIR                                          \
  "redis.call('SET', KEYS[4], ARGV[2], 'PXAT', ARGV[3]) "           \
  "redis.call('ZADD', KEYS[7], ARGV[3], ARGV[1]) "                  \
  "redis.call('SET', KEYS[5], ARGV[5], 'PXAT', ARGV[6]) "           \
  "redis.call('ZADD', KEYS[7], ARGV[6], ARGV[4]) "                  \
  "redis.call('SADD', KEYS[6], ARGV[1], ARGV[4]) "                  \
  "local longest = math.max(tonumber(ARGV[3]), tonumber(ARGV[6])) " \
  "local set_left = redis.call('PTTL', KEYS[6]) "                   \
  "if set_left < 0 or set_left < longest - tonumber(ARGV[7]) then " \
  "  redis.call('PEXPIREAT', KEYS[6], longest) end "

// Redeems a code: 2 redeemed (marked used, both tokens stored), 1 used before (a replay),
// 0 unknown (absent, or its grant revoked), -1 the tokens are at their limit.
// KEYS[1] code, KEYS[2] its used marker, KEYS[3] the grant, then the pair's layout; ARGV[8] the
// token limit.
constexpr char kRedeemScript[] =
    "local code = redis.call('GET', KEYS[1]) "
    "if not code or cjson.decode(code).expires_at / 1000 <= tonumber(ARGV[7]) then return 0 end "
    "if redis.call('EXISTS', KEYS[2]) == 1 then return 1 end "
    "if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end "
    "redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', ARGV[7]) "
    "if redis.call('ZCARD', KEYS[7]) + 2 > tonumber(ARGV[8]) then return -1 end "
    "local left = redis.call('PTTL', KEYS[1]) "
    "if left <= 0 then left = 1000 end "
    "redis.call('SET', KEYS[2], '1', 'PX', left) " GATEWAY_STORE_PAIR "return 2";

// Revokes a grant and every token issued from it. KEYS[1] grant, KEYS[2] its token set,
// KEYS[3] grants index. ARGV[1] grant id, ARGV[2] token prefix, ARGV[3] rotation prefix,
// ARGV[4] tokens index.
constexpr char kRevokeScript[] =
    "local hashes = redis.call('SMEMBERS', KEYS[2]) "
    "for _, h in ipairs(hashes) do "
    "  redis.call('DEL', ARGV[2] .. h, ARGV[3] .. h) "
    "  redis.call('ZREM', ARGV[4], h) "
    "end "
    "redis.call('DEL', KEYS[1], KEYS[2]) "
    "redis.call('ZREM', KEYS[3], ARGV[1]) "
    "return #hashes";

// Rotates a refresh token: 2 rotated, 1 already rotated (a replay), 0 unknown (absent, expired,
// or not a refresh token). KEYS[1] old token, KEYS[2] its rotation, KEYS[3] the grant (not read:
// a revoked grant took the old token with it), then the pair's layout; ARGV[8] the rotation,
// ARGV[9] the old token's expiry.
constexpr char kRotateScript[] =
    "local v = redis.call('GET', KEYS[1]) "
    "if not v then return 0 end "
    "local old = cjson.decode(v) "
    "if old.kind ~= 'refresh' or old.expires_at / 1000 <= tonumber(ARGV[7]) then return 0 end "
    "if not redis.call('SET', KEYS[2], ARGV[8], 'NX', 'PXAT', ARGV[9]) then return 1 "
    "end " GATEWAY_STORE_PAIR "return 2";

#undef GATEWAY_STORE_PAIR

// Counts an attempt in a fixed window starting at the first one.
constexpr char kCountScript[] =
    "local n = redis.call('INCR', KEYS[1]) "
    "if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end "
    "return n";

// Releases a lease if its holder still has it.
constexpr char kReleaseScript[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
    "return 0";

#undef GATEWAY_PUT_INDEXED

std::string Millis(absl::Time time) { return absl::StrCat(absl::ToUnixMillis(time)); }

absl::Status Full(absl::string_view what) {
  return absl::ResourceExhaustedError(
      absl::StrCat("the gateway holds as many ", what, " as it is configured to; try later"));
}

absl::Status Unexpected() {
  return absl::InternalError("the gateway's store (Redis) gave an unexpected answer");
}

// Process-wide cache of access-token records, the per-request check. A record is served for at
// most `ttl` after it was read from Redis; a revocation elsewhere is seen within that bound.
class TokenCache {
 public:
  TokenCache(const Clock& clock, absl::Duration ttl) : clock_(clock), ttl_(ttl) {}

  std::shared_ptr<const TokenRecord> Find(absl::string_view hash) {
    if (ttl_ <= absl::ZeroDuration()) {
      return nullptr;
    }
    absl::ReaderMutexLock lock(&mutex_);
    auto found = entries_.find(hash);
    if (found == entries_.end() || clock_.Now() - found->second.read_at >= ttl_ ||
        found->second.token->expires_at <= clock_.Now()) {
      return nullptr;
    }
    return found->second.token;
  }

  void Put(std::shared_ptr<const TokenRecord> token) {
    if (ttl_ <= absl::ZeroDuration()) {
      return;
    }
    absl::MutexLock lock(&mutex_);
    if (entries_.size() >= kCapacity) {
      entries_.clear();  // bounded; the next reads fill it again
    }
    std::string hash = token->token_hash;
    entries_[hash] = Entry{std::move(token), clock_.Now()};
  }

  void DropGrant(const std::string& grant_id) {
    absl::MutexLock lock(&mutex_);
    absl::erase_if(entries_,
                   [&](const auto& entry) { return entry.second.token->grant_id == grant_id; });
  }

  void Sweep() {
    absl::MutexLock lock(&mutex_);
    const absl::Time now = clock_.Now();
    absl::erase_if(entries_, [&](const auto& entry) { return now - entry.second.read_at >= ttl_; });
  }

 private:
  static constexpr size_t kCapacity = 100000;
  struct Entry {
    std::shared_ptr<const TokenRecord> token;
    absl::Time read_at;
  };
  const Clock& clock_;
  const absl::Duration ttl_;
  absl::Mutex mutex_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mutex_);
};

}  // namespace

// What every worker's store shares: options, codec, cache.
class RedisShared {
 public:
  RedisShared(RedisOptions options, const Clock& clock, StoreLimits limits,
              const token::KeyRing& keys)
      : options(std::move(options)),
        clock(clock),
        limits(limits),
        codec(keys),
        cache(clock, this->options.token_cache_ttl) {}

  std::string Key(absl::string_view kind, absl::string_view id) const {
    return absl::StrCat(options.key_prefix, kind, ":", id);
  }
  std::string Prefix(absl::string_view kind) const {
    return absl::StrCat(options.key_prefix, kind, ":");
  }
  std::string Index(Table table) const {
    return absl::StrCat(options.key_prefix, "index:", TableName(table));
  }

  const RedisOptions options;
  const Clock& clock;
  const StoreLimits limits;
  const RecordCodec codec;
  TokenCache cache;
};

namespace {

class RedisStore : public Store {
 public:
  RedisStore(RedisShared& shared, Dispatcher& dispatcher)
      : shared_(shared), redis_(dispatcher, shared.options.endpoint) {}

  void PutClient(Client client, DoneCallback done) override {
    PutIndexed(Table::kClients, client.client_id, shared_.codec.EncodeClient(client),
               client.last_used_at + shared_.limits.client_idle_ttl, shared_.limits.max_clients,
               "registered clients", std::move(done));
  }

  void GetClient(const std::string& client_id, Callback<std::optional<Client>> done) override {
    Get(shared_.Key("client", client_id), std::move(done),
        [this](absl::string_view text) { return shared_.codec.DecodeClient(text); });
  }

  void TouchClient(const std::string& client_id) override {
    const std::string expiry = Millis(shared_.clock.Now() + shared_.limits.client_idle_ttl);
    redis_.Command({"PEXPIREAT", shared_.Key("client", client_id), expiry}, Ignore);
    redis_.Command({"ZADD", shared_.Index(Table::kClients), "XX", expiry, client_id}, Ignore);
  }

  void PutFlow(Flow flow, DoneCallback done) override {
    std::vector<std::string> args = {
        "EVAL", kPutFlowScript, flow.upstream_state.empty() ? "2" : "3",
        shared_.Key("flow", flow.flow_id), shared_.Index(Table::kFlows)};
    if (!flow.upstream_state.empty()) {
      args.push_back(shared_.Key("upstream-state", flow.upstream_state));
    }
    AppendPutArgs(args, flow.flow_id, shared_.codec.EncodeFlow(flow), flow.expires_at,
                  shared_.limits.max_flows);
    args.push_back(flow.flow_id);
    RunPut(args, "authorizations in progress", std::move(done));
  }

  void GetFlow(const std::string& flow_id, Callback<std::optional<Flow>> done) override {
    Get(shared_.Key("flow", flow_id), std::move(done),
        [this](absl::string_view text) { return Unexpired(shared_.codec.DecodeFlow(text)); });
  }

  void DeleteFlow(const std::string& flow_id) override {
    redis_.Command({"EVAL", kDeleteFlowScript, "2", shared_.Key("flow", flow_id),
                    shared_.Index(Table::kFlows), flow_id, shared_.Prefix("upstream-state")},
                   Ignore);
  }

  void TakeFlowByUpstreamState(const std::string& state,
                               Callback<std::optional<Flow>> done) override {
    redis_.Command({"EVAL", kTakeFlowScript, "1", shared_.Key("upstream-state", state),
                    shared_.Prefix("flow"), shared_.Index(Table::kFlows)},
                   [this, done = std::move(done)](absl::StatusOr<RedisValue> reply) {
                     done(DecodeOptional<Flow>(reply, [this](absl::string_view text) {
                       return Unexpired(shared_.codec.DecodeFlow(text));
                     }));
                   });
  }

  void PutCode(Code code, DoneCallback done) override {
    PutIndexed(Table::kCodes, code.code_hash, shared_.codec.EncodeCode(code, false),
               code.expires_at, shared_.limits.max_codes, "authorization codes", std::move(done));
  }

  void GetCode(const std::string& code_hash, Callback<CodeTake> done) override {
    GetRecordAndMarker<CodeTake>(
        shared_.Key("code", code_hash), shared_.Key("code-used", code_hash), std::move(done),
        [this](const RedisValue& stored, const RedisValue& used) -> absl::StatusOr<CodeTake> {
          CodeTake take;
          if (stored.is_nil()) {
            return take;
          }
          absl::StatusOr<std::pair<Code, bool>> code = shared_.codec.DecodeCode(stored.string);
          if (!code.ok()) {
            return code.status();
          }
          if (code->first.expires_at <= shared_.clock.Now()) {
            return take;  // as if gone: expiry is the gateway's clock, not only Redis's
          }
          if (used.is_nil()) {
            take.code = std::move(code->first);
          } else {
            take.reused = true;
            take.grant_id = code->first.grant_id;
          }
          return take;
        });
  }

  void RedeemCode(const std::string& code_hash, TokenRecord access, TokenRecord refresh,
                  Callback<RedeemOutcome> done) override {
    std::vector<std::string> args = {"EVAL",
                                     kRedeemScript,
                                     "7",
                                     shared_.Key("code", code_hash),
                                     shared_.Key("code-used", code_hash),
                                     shared_.Key("grant", access.grant_id)};
    AppendPair(args, access, refresh);
    args.push_back(absl::StrCat(shared_.limits.max_tokens));
    redis_.Command(args, [done = std::move(done)](absl::StatusOr<RedisValue> reply) {
      if (!reply.ok()) {
        done(reply.status());
      } else if (reply->integer == 2) {
        done(RedeemOutcome::kRedeemed);
      } else if (reply->integer == 1) {
        done(RedeemOutcome::kReplayed);
      } else if (reply->integer == -1) {
        done(Full("tokens"));
      } else {
        done(RedeemOutcome::kUnknown);
      }
    });
  }

  void PutGrant(Grant grant, DoneCallback done) override {
    PutIndexed(Table::kGrants, grant.grant_id, shared_.codec.EncodeGrant(grant), grant.expires_at,
               shared_.limits.max_grants, "grants", std::move(done));
  }

  void GetGrant(const std::string& grant_id, Callback<std::optional<Grant>> done) override {
    Get(shared_.Key("grant", grant_id), std::move(done),
        [this](absl::string_view text) { return Unexpired(shared_.codec.DecodeGrant(text)); });
  }

  void UpdateGrant(Grant grant, DoneCallback done) override {
    redis_.Command({"SET", shared_.Key("grant", grant.grant_id), shared_.codec.EncodeGrant(grant),
                    "XX", "PXAT", Millis(grant.expires_at)},
                   [done = std::move(done)](absl::StatusOr<RedisValue> reply) {
                     if (!reply.ok()) {
                       done(reply.status());
                     } else if (reply->is_nil()) {
                       done(absl::NotFoundError("the grant was revoked"));
                     } else {
                       done(absl::OkStatus());
                     }
                   });
  }

  void RevokeGrant(const std::string& grant_id, DoneCallback done) override {
    shared_.cache.DropGrant(grant_id);
    redis_.Command(
        {"EVAL", kRevokeScript, "3", shared_.Key("grant", grant_id),
         shared_.Key("grant-tokens", grant_id), shared_.Index(Table::kGrants), grant_id,
         shared_.Prefix("token"), shared_.Prefix("rotation"), shared_.Index(Table::kTokens)},
        [done = std::move(done)](absl::StatusOr<RedisValue> reply) {
          done(reply.ok() ? absl::OkStatus() : reply.status());
        });
  }

  void PutToken(TokenRecord token, DoneCallback done) override {
    std::vector<std::string> args = {"EVAL",
                                     kPutTokenScript,
                                     "3",
                                     shared_.Key("token", token.token_hash),
                                     shared_.Index(Table::kTokens),
                                     shared_.Key("grant-tokens", token.grant_id)};
    AppendPutArgs(args, token.token_hash, shared_.codec.EncodeToken(token), token.expires_at,
                  shared_.limits.max_tokens);
    RunPut(args, "tokens", std::move(done));
  }

  void GetToken(const std::string& token_hash,
                Callback<std::shared_ptr<const TokenRecord>> done) override {
    if (std::shared_ptr<const TokenRecord> cached = shared_.cache.Find(token_hash)) {
      done(std::move(cached));
      return;
    }
    GetRecordAndMarker<std::shared_ptr<const TokenRecord>>(
        shared_.Key("token", token_hash), shared_.Key("rotation", token_hash), std::move(done),
        [this](const RedisValue& stored,
               const RedisValue& rotated) -> absl::StatusOr<std::shared_ptr<const TokenRecord>> {
          if (stored.is_nil()) {
            return std::shared_ptr<const TokenRecord>();
          }
          absl::StatusOr<TokenRecord> token = shared_.codec.DecodeToken(stored.string);
          if (!token.ok()) {
            return token.status();
          }
          if (!rotated.is_nil()) {
            if (absl::Status rotation = shared_.codec.DecodeRotation(rotated.string, *token);
                !rotation.ok()) {
              return rotation;
            }
          }
          if (token->expires_at <= shared_.clock.Now()) {
            return std::shared_ptr<const TokenRecord>();
          }
          auto record = std::make_shared<const TokenRecord>(std::move(*token));
          // Access tokens never change once stored (only go): safe to serve for a while.
          // Refresh tokens rotate, and every replica must see that at once.
          if (record->kind == TokenKind::kAccess) {
            shared_.cache.Put(record);
          }
          return record;
        });
  }

  // Only what the cache holds: a miss, or a record past its time there, needs Redis.
  bool GetTokenNow(absl::string_view token_hash,
                   std::shared_ptr<const TokenRecord>* record) override {
    *record = shared_.cache.Find(token_hash);
    return *record != nullptr;
  }

  void RotateRefresh(const std::string& old_hash, TokenRecord new_access, TokenRecord new_refresh,
                     std::string sealed_response, Callback<RotateOutcome> done) override {
    TokenRecord rotation;
    rotation.successor_hash = new_refresh.token_hash;
    rotation.rotated_at = shared_.clock.Now();
    rotation.successor_response = std::move(sealed_response);
    // The rotation lives as long as the old refresh token could: new_refresh's lifetime is the
    // same grant's, so it is at least as long.
    std::vector<std::string> args = {"EVAL",
                                     kRotateScript,
                                     "7",
                                     shared_.Key("token", old_hash),
                                     shared_.Key("rotation", old_hash),
                                     shared_.Key("grant", new_refresh.grant_id)};
    AppendPair(args, new_access, new_refresh);
    args.push_back(shared_.codec.EncodeRotation(rotation));
    args.push_back(Millis(new_refresh.expires_at));
    redis_.Command(args, [done = std::move(done)](absl::StatusOr<RedisValue> reply) {
      if (!reply.ok()) {
        done(reply.status());
      } else if (reply->integer == 2) {
        done(RotateOutcome::kRotated);
      } else if (reply->integer == 1) {
        done(RotateOutcome::kReplayed);
      } else {
        done(RotateOutcome::kUnknown);
      }
    });
  }

  void AcquireLease(const std::string& key, absl::Duration ttl,
                    Callback<std::string> done) override {
    std::string holder = crypto::RandomToken();
    redis_.Command({"SET", shared_.Key("lease", key), holder, "NX", "PX",
                    absl::StrCat(absl::ToInt64Milliseconds(ttl))},
                   [holder, done = std::move(done)](absl::StatusOr<RedisValue> reply) {
                     if (!reply.ok()) {
                       done(reply.status());
                     } else {
                       done(reply->is_nil() ? std::string() : holder);
                     }
                   });
  }

  void ReleaseLease(const std::string& key, const std::string& holder) override {
    redis_.Command({"EVAL", kReleaseScript, "1", shared_.Key("lease", key), holder}, Ignore);
  }

  void PutConsent(Consent consent, DoneCallback done) override {
    Set(shared_.Key("consent", MemoryState::ConsentKey(consent.user, consent.client_id)),
        shared_.codec.EncodeConsent(consent), std::move(done));
  }

  void GetConsent(const std::string& user, const std::string& client_id,
                  Callback<std::optional<Consent>> done) override {
    Get(shared_.Key("consent", MemoryState::ConsentKey(user, client_id)), std::move(done),
        [this](absl::string_view text) { return shared_.codec.DecodeConsent(text); });
  }

  void CountAttempt(const std::string& key, absl::Duration window,
                    Callback<int64_t> done) override {
    redis_.Command({"EVAL", kCountScript, "1", shared_.Key("attempts", key),
                    absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(window)))},
                   [done = std::move(done)](absl::StatusOr<RedisValue> reply) {
                     if (!reply.ok()) {
                       done(reply.status());
                     } else {
                       done(reply->integer);
                     }
                   });
  }

  void ResetAttempts(const std::string& key) override {
    redis_.Command({"DEL", shared_.Key("attempts", key)}, Ignore);
  }

  void PutMeta(const std::string& key, std::string value, DoneCallback done) override {
    Set(shared_.Key("meta", key), shared_.codec.EncodeMeta(key, value), std::move(done));
  }

  void GetMeta(const std::string& key, Callback<std::optional<std::string>> done) override {
    Get(shared_.Key("meta", key), std::move(done),
        [this, key](absl::string_view text) { return shared_.codec.DecodeMeta(key, text); });
  }

  // Records expire in Redis by themselves; the size indexes and the cache are trimmed here.
  void Sweep() override {
    const std::string now = Millis(shared_.clock.Now());
    for (Table table :
         {Table::kClients, Table::kFlows, Table::kCodes, Table::kGrants, Table::kTokens}) {
      redis_.Command({"ZREMRANGEBYSCORE", shared_.Index(table), "-inf", now}, Ignore);
    }
    shared_.cache.Sweep();
  }

 private:
  static void Ignore(absl::StatusOr<RedisValue>) {}

  // Records expire in Redis, and also by the gateway's clock when it is read (replicas' clocks
  // and Redis's may differ a little): expired reads as absent.
  template <typename T>
  absl::StatusOr<T> Unexpired(absl::StatusOr<T> record) const {
    if (record.ok() && record->expires_at <= shared_.clock.Now()) {
      return absl::NotFoundError("expired");
    }
    return record;
  }

  void AppendPutArgs(std::vector<std::string>& args, const std::string& id, std::string value,
                     absl::Time expires_at, size_t limit) const {
    args.push_back(id);
    args.push_back(std::move(value));
    args.push_back(Millis(expires_at));
    args.push_back(Millis(shared_.clock.Now()));
    args.push_back(absl::StrCat(limit));
  }

  // KEYS[4..7] and ARGV[1..7] of a script that stores a token pair (GATEWAY_STORE_PAIR), after
  // the script's own first three keys.
  void AppendPair(std::vector<std::string>& args, const TokenRecord& access,
                  const TokenRecord& refresh) const {
    args.push_back(shared_.Key("token", access.token_hash));
    args.push_back(shared_.Key("token", refresh.token_hash));
    args.push_back(shared_.Key("grant-tokens", access.grant_id));
    args.push_back(shared_.Index(Table::kTokens));
    for (const TokenRecord* token : {&access, &refresh}) {
      args.push_back(token->token_hash);
      args.push_back(shared_.codec.EncodeToken(*token));
      args.push_back(Millis(token->expires_at));
    }
    args.push_back(Millis(shared_.clock.Now()));
  }

  void PutIndexed(Table table, const std::string& id, std::string value, absl::Time expires_at,
                  size_t limit, absl::string_view what, DoneCallback done) {
    std::vector<std::string> args = {"EVAL", kPutScript, "2", shared_.Key(KindOf(table), id),
                                     shared_.Index(table)};
    AppendPutArgs(args, id, std::move(value), expires_at, limit);
    RunPut(args, what, std::move(done));
  }

  void RunPut(const std::vector<std::string>& args, absl::string_view what, DoneCallback done) {
    redis_.Command(
        args, [what = std::string(what), done = std::move(done)](absl::StatusOr<RedisValue> reply) {
          if (!reply.ok()) {
            done(reply.status());
          } else if (reply->integer == 0) {
            done(Full(what));
          } else {
            done(absl::OkStatus());
          }
        });
  }

  void Set(const std::string& key, std::string value, DoneCallback done) {
    redis_.Command({"SET", key, std::move(value)},
                   [done = std::move(done)](absl::StatusOr<RedisValue> reply) {
                     done(reply.ok() ? absl::OkStatus() : reply.status());
                   });
  }

  // GET `key` and decode it; a record sealed with a key this gateway lacks reads as absent.
  template <typename T, typename Decode>
  void Get(const std::string& key, Callback<std::optional<T>> done, Decode decode) {
    redis_.Command({"GET", key}, [done = std::move(done),
                                  decode = std::move(decode)](absl::StatusOr<RedisValue> reply) {
      done(DecodeOptional<T>(reply, decode));
    });
  }

  // A record and the marker kept beside it (a code's use, a refresh token's rotation), read
  // together; `decode` makes the answer of the two values (either may be nil).
  template <typename T, typename Decode>
  void GetRecordAndMarker(const std::string& record_key, const std::string& marker_key,
                          Callback<T> done, Decode decode) {
    redis_.Command(
        {"MGET", record_key, marker_key},
        [done = std::move(done), decode = std::move(decode)](absl::StatusOr<RedisValue> reply) {
          if (!reply.ok()) {
            done(reply.status());
          } else if (reply->elements.size() != 2) {
            done(Unexpected());
          } else {
            done(decode(reply->elements[0], reply->elements[1]));
          }
        });
  }

  template <typename T, typename Decode>
  static absl::StatusOr<std::optional<T>> DecodeOptional(const absl::StatusOr<RedisValue>& reply,
                                                         const Decode& decode) {
    if (!reply.ok()) {
      return reply.status();
    }
    if (reply->is_nil()) {
      return std::optional<T>();
    }
    absl::StatusOr<T> value = decode(reply->string);
    if (value.status().code() == absl::StatusCode::kNotFound) {
      return std::optional<T>();
    }
    if (value.status().code() == absl::StatusCode::kUnauthenticated) {
      log::Warning("a stored record is sealed with a key not in tokens.key_file; ignoring it");
      return std::optional<T>();
    }
    if (!value.ok()) {
      return value.status();
    }
    return std::optional<T>(std::move(*value));
  }

  static absl::string_view KindOf(Table table) {
    switch (table) {
      case Table::kClients:
        return "client";
      case Table::kFlows:
        return "flow";
      case Table::kCodes:
        return "code";
      case Table::kGrants:
        return "grant";
      case Table::kTokens:
        return "token";
      case Table::kConsents:
        return "consent";
      case Table::kMeta:
        return "meta";
    }
    return "unknown";
  }

  RedisShared& shared_;
  RedisConnection redis_;
};

}  // namespace

RedisStoreBackend::RedisStoreBackend(RedisOptions options, const Clock& clock, StoreLimits limits,
                                     const token::KeyRing& keys)
    : shared_(std::make_unique<RedisShared>(std::move(options), clock, limits, keys)) {}

RedisStoreBackend::~RedisStoreBackend() = default;

absl::Status RedisStoreBackend::Check() const {
  const RedisEndpoint& endpoint = shared_->options.endpoint;
  const std::string where = absl::StrCat("redis ", endpoint.host, ":", endpoint.port);
  timeval timeout = absl::ToTimeval(endpoint.timeout);
  redisContext* context = redisConnectWithTimeout(endpoint.host.c_str(), endpoint.port, timeout);
  std::unique_ptr<redisContext, void (*)(redisContext*)> owned(context, &redisFree);
  if (context == nullptr || context->err != 0) {
    return absl::UnavailableError(
        absl::StrCat(where, " is unreachable (", context != nullptr ? context->errstr : "", ")"));
  }
  redisSetTimeout(context, timeout);
  auto command = [&](std::vector<std::string> args) -> absl::StatusOr<std::string> {
    std::vector<const char*> argv;
    std::vector<size_t> lengths;
    for (const std::string& arg : args) {
      argv.push_back(arg.data());
      lengths.push_back(arg.size());
    }
    auto* reply = static_cast<redisReply*>(
        redisCommandArgv(context, static_cast<int>(argv.size()), argv.data(), lengths.data()));
    if (reply == nullptr) {
      return absl::UnavailableError(absl::StrCat(where, " did not answer (", context->errstr, ")"));
    }
    std::unique_ptr<redisReply, void (*)(void*)> owned_reply(reply, &freeReplyObject);
    if (reply->type == REDIS_REPLY_ERROR) {
      return absl::FailedPreconditionError(
          absl::StrCat(where, " refused ", args[0], ": ", std::string(reply->str, reply->len)));
    }
    return reply->type == REDIS_REPLY_STRING || reply->type == REDIS_REPLY_STATUS
               ? std::string(reply->str, reply->len)
               : std::string();
  };
  if (!endpoint.password.empty()) {
    if (absl::StatusOr<std::string> auth = command({"AUTH", endpoint.password}); !auth.ok()) {
      return auth.status();
    }
  }
  absl::StatusOr<std::string> info = command({"INFO", "server"});
  if (!info.ok()) {
    return info.status();
  }
  for (absl::string_view line : absl::StrSplit(*info, "\r\n")) {
    if (absl::ConsumePrefix(&line, "redis_version:")) {
      std::vector<absl::string_view> parts = absl::StrSplit(line, '.');
      int major = 0;
      int minor = 0;
      if (parts.size() < 2 || !absl::SimpleAtoi(parts[0], &major) ||
          !absl::SimpleAtoi(parts[1], &minor) || major < 6 || (major == 6 && minor < 2)) {
        return absl::FailedPreconditionError(
            absl::StrCat(where, " runs Redis ", line, "; the gateway needs 6.2 or later"));
      }
    }
  }
  if (endpoint.database != 0) {
    if (absl::StatusOr<std::string> select = command({"SELECT", absl::StrCat(endpoint.database)});
        !select.ok()) {
      return select.status();
    }
  }
  return absl::OkStatus();
}

std::unique_ptr<Store> RedisStoreBackend::ForWorker(Dispatcher& dispatcher) {
  return std::make_unique<RedisStore>(*shared_, dispatcher);
}

}  // namespace gateway::store
