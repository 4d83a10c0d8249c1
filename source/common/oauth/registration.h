#pragma once

// RFC 7591 client metadata: validating a registration request and writing the response.

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "source/common/store/records.h"

namespace gateway::oauth {

struct ParsedRegistration {
  store::Client client;  // everything but client_id, secret_hash and the times
  bool confidential = false;
};

// Validates a registration body. On failure `error_code` is set to the RFC 7591 section 3.2.2
// code ("invalid_redirect_uri" or "invalid_client_metadata") and the status says what is wrong.
absl::StatusOr<ParsedRegistration> ParseRegistration(absl::string_view body,
                                                     std::string* error_code);

// The 201 body: client_id, client_id_issued_at, the secret (if any) with
// client_secret_expires_at 0, and the registered metadata.
std::string RegistrationResponse(const store::Client& client, const std::string& client_secret);

}  // namespace gateway::oauth
