#pragma once

// The per-request check of a client's access token (DESIGN.md "Tokens"), the work of the
// bearer_split filter on every MCP request, in two steps around the store lookup of the gateway
// half: Parse() the Authorization header's value, look token_hash() up, Validate() the record
// against the presented pair. Apart from the upstream token it hands out, nothing is allocated:
// the pair is decoded into, and the hash written to, buffers of the check's own (about 3 KiB, so
// a check lives on the stack, or on the heap while a lookup is in flight). Used on one thread.
//
// What the check derives from the token's text alone (the gateway half's hash; the upstream
// token, unsealed, or the hash of a plain one) depends on nothing but that text and the key ring.
// So each thread remembers it for the tokens that passed (up to kRememberedTokens, the least
// recently used going first), and a token seen before skips the decode, the hashes and the
// unseal: it costs a quarter to a half of a first sight (bench/token_bench.cc). With the token,
// the thread keeps the store's record it passed against and the store's token generation read
// before that lookup (Store::TokenGeneration()). While the store answers the same nonzero
// generation (no access token was revoked since) and the record has not expired, the record is
// vouched for and the lookup is skipped too; otherwise it is looked up, so a revoked or expired
// token is refused at once (and forgotten by the thread that refused it). The remembered tokens
// are process memory only, wiped when replaced, refused, expired (the worker's sweep:
// ForgetExpiredTokensOnThisThread()) or when the thread ends. A check is validated on the thread
// that parsed it; on another, it derives everything again.

#include <cstdint>
#include <memory>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "source/common/crypto.h"
#include "source/common/store/records.h"
#include "source/common/token/key_ring.h"
#include "source/common/token/token_pair.h"

namespace gateway::token {

// Why a token was refused (RFC 6750 section 3.1: each is `invalid_token`).
enum class AccessError {
  kNone,
  kNotBearer,         // the Authorization value is not a Bearer token
  kEmptyOrTooLong,    // nothing after the scheme, or more than DecodedPair::kMaxTokenChars
  kMalformed,         // not base64url, or not a pair
  kUnknown,           // no such half, or expired, revoked, or not an access token
  kOtherResource,     // issued for another resource (RFC 8707)
  kHalvesMismatch,    // the upstream part was not issued with this gateway half
  kBadUpstreamToken,  // the upstream part is not an RFC 6750 b64token
};

// The text a refusal carries as its error_description: the gateway's own words, never a token.
absl::string_view Describe(AccessError error);

class AccessCheck {
 public:
  // Step 1: reads `authorization` ("Bearer <token>", the scheme in any case, RFC 7235 section
  // 2.1), decodes and splits the token, and hashes the gateway half. On kNone, token_hash() is
  // the store key to look up.
  // `authorization` must outlive the check: Validate() reads the token again on a first sight.
  AccessError Parse(absl::string_view authorization);
  absl::string_view token_hash() const { return absl::string_view(hash_.data(), hash_length_); }
  // Whether Parse() found the token in this thread's memory of checked tokens.
  bool remembered() const { return remembered_at_ != 0; }

  // Between the steps, on the thread that parsed: for a remembered token, the record this
  // thread keeps for it if the store vouches for it: `generation` (what Store::TokenGeneration()
  // answers now) is nonzero and the one the record was looked up under, and the token has not
  // expired at `now`. Validate() that in place of a lookup. Null otherwise: look the hash up.
  // The record stays in this thread's memory until its next check.
  const std::shared_ptr<const store::TokenRecord>* VouchedRecord(uint64_t generation,
                                                                 absl::Time now) const;

  // Step 2: checks what the store holds for token_hash() (null: nothing unexpired): an access
  // token, for `resource` (compared without a trailing '/', which the caller has stripped), whose
  // upstream part belongs to this gateway half (unsealed with `keys`, or compared by hash in
  // constant time for the plain format). On kNone, `upstream_token` holds the upstream token.
  // `generation` is what Store::TokenGeneration() answered before the lookup (0: the record is
  // not vouched for later): the thread remembers the record under it.
  AccessError Validate(const std::shared_ptr<const store::TokenRecord>& record, uint64_t generation,
                       absl::string_view resource, const KeyRing& keys,
                       std::string& upstream_token);

 private:
  absl::string_view token_;  // the Authorization value's token (Parse()'s argument)
  bool decoded_ = false;     // pair_ holds token_ decoded (not done for a remembered token)
  DecodedPair pair_;
  crypto::SecretHashBuffer hash_;
  size_t hash_length_ = 0;
  // A remembered token: where this thread's memory holds it, as Parse() saw it (the entry is
  // used only if it still holds the same token when Validate() runs).
  const void* remembered_by_ = nullptr;  // the thread's memory Parse() found the token in
  size_t remembered_at_ = 0;
  uint64_t remembered_version_ = 0;
};

// How many tokens each thread remembers: 8,192 (4.5 MiB of address space per worker thread once
// it has checked a token, resident as entries are used: 192 KiB plus about 4 KiB per 7 tokens,
// and the records they hold).
inline constexpr size_t kRememberedTokens = 8192;

// Turns this thread's memory of checked tokens off or on (on by default), for benchmarks and
// tests that measure or exercise the whole derivation every time. Turning it off forgets all.
void RememberTokensOnThisThread(bool enabled);
// Wipes what this thread remembers of tokens expired at `now` (the worker's periodic sweep).
void ForgetExpiredTokensOnThisThread(absl::Time now);

}  // namespace gateway::token
