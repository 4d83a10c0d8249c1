#include "source/common/oauth/client_auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "source/common/crypto.h"

namespace gateway::oauth {

absl::StatusOr<ClientCredentials> ReadClientCredentials(const http::HeaderMap& headers,
                                                        const Form& form) {
  ClientCredentials out;
  const std::string* authorization = headers.Get("authorization");
  if (authorization != nullptr && authorization->size() > 6 &&
      absl::EqualsIgnoreCase(authorization->substr(0, 6), "basic ")) {
    std::string decoded;
    if (!absl::Base64Unescape(absl::StripAsciiWhitespace(authorization->substr(6)), &decoded)) {
      return absl::InvalidArgumentError("the Basic credentials are not base64");
    }
    const size_t colon = decoded.find(':');
    if (colon == std::string::npos ||
        !FormDecode(absl::string_view(decoded).substr(0, colon), &out.client_id) ||
        !FormDecode(absl::string_view(decoded).substr(colon + 1), &out.client_secret)) {
      return absl::InvalidArgumentError("the Basic credentials are malformed");
    }
    if (form.Has("client_secret")) {
      return absl::InvalidArgumentError("client credentials presented twice");
    }
    if (form.Has("client_id") && form.Get("client_id") != out.client_id) {
      return absl::InvalidArgumentError("two different client_id values");
    }
    out.basic = true;
    return out;
  }
  out.client_id = form.Get("client_id");
  out.client_secret = form.Get("client_secret");
  if (out.client_id.empty()) {
    return absl::UnauthenticatedError("no client_id");
  }
  return out;
}

bool Authenticates(const store::Client& client, const ClientCredentials& presented) {
  if (client.client_id != presented.client_id) {
    return false;
  }
  if (client.secret_hash.empty()) {
    return presented.client_secret.empty();
  }
  return crypto::ConstantTimeEquals(crypto::SecretHash(presented.client_secret),
                                    client.secret_hash);
}

}  // namespace gateway::oauth
