#pragma once

// Records as JSON documents, for the backends that keep them outside this process. Upstream
// tokens and the gateway's own documents (the upstream client registration, with its secret) are
// sealed with the gateway key (AES-256-GCM, bound to the record they belong to): a copy of the
// database without the key file holds no usable upstream credential. Gateway tokens, codes and
// client secrets are only ever hashes already.
//
// Decoding is strict: a missing or mistyped field is an error naming the record kind, never a
// record with silently empty fields.

#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "source/common/store/records.h"

namespace gateway::token {
class KeyRing;
}

namespace gateway::store {

class RecordCodec {
 public:
  explicit RecordCodec(const token::KeyRing& keys) : keys_(keys) {}

  std::string EncodeClient(const Client& client) const;
  absl::StatusOr<Client> DecodeClient(absl::string_view text) const;
  std::string EncodeFlow(const Flow& flow) const;
  absl::StatusOr<Flow> DecodeFlow(absl::string_view text) const;
  std::string EncodeCode(const Code& code, bool taken) const;
  absl::StatusOr<std::pair<Code, bool>> DecodeCode(absl::string_view text) const;
  std::string EncodeGrant(const Grant& grant) const;
  // Unauthenticated when the upstream tokens were sealed with a key this gateway does not have.
  absl::StatusOr<Grant> DecodeGrant(absl::string_view text) const;
  std::string EncodeToken(const TokenRecord& token) const;
  absl::StatusOr<TokenRecord> DecodeToken(absl::string_view text) const;
  // A refresh token's rotation alone (successor, when, the sealed response), for a backend that
  // keeps it beside the immutable token record.
  std::string EncodeRotation(const TokenRecord& token) const;
  absl::Status DecodeRotation(absl::string_view text, TokenRecord& into) const;
  std::string EncodeConsent(const Consent& consent) const;
  absl::StatusOr<Consent> DecodeConsent(absl::string_view text) const;
  std::string EncodeMeta(const std::string& key, const std::string& value) const;
  absl::StatusOr<std::string> DecodeMeta(const std::string& key, absl::string_view text) const;

 private:
  const token::KeyRing& keys_;
};

}  // namespace gateway::store
