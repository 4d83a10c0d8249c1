// What an upstream answers the gateway: its token endpoint's response to a code exchange or a
// refresh (oauth::ParseTokenResponse: JSON, or GitHub's form encoding, GitHub's "200 with an
// error" included) and the WWW-Authenticate challenge of its MCP server
// (oauth::ParseBearerChallenge). An upstream may be compromised or simply wrong; neither may
// crash the gateway or make it take a failure for tokens.
//
// Input: a first line "<status> <content-type>" (the content type may be absent), then the body.
// The body is also read as a challenge.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "source/common/oauth/challenge.h"
#include "source/common/oauth/upstream_client.h"
#include "test/fuzz/check.h"

namespace {

using gateway::fuzz::Check;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const std::pair<absl::string_view, absl::string_view> head_body =
      absl::StrSplit(input, absl::MaxSplits('\n', 1));
  const std::pair<absl::string_view, absl::string_view> status_type =
      absl::StrSplit(head_body.first, absl::MaxSplits(' ', 1));

  gateway::http::FetchResponse response;
  if (!absl::SimpleAtoi(status_type.first, &response.head.status)) {
    response.head.status = 200;
  }
  if (!status_type.second.empty()) {
    response.head.headers.Add("Content-Type", status_type.second);
  }
  response.body = std::string(head_body.second);

  absl::StatusOr<gateway::oauth::UpstreamTokens> tokens =
      gateway::oauth::ParseTokenResponse(response);
  if (tokens.ok()) {
    Check(response.head.status / 100 == 2, "tokens come only with a 2xx");
    Check(!tokens->access_token.empty(), "an accepted response has an access token");
    Check(!tokens->expires_in.has_value() || *tokens->expires_in > absl::ZeroDuration(),
          "an expiry is in the future");
  } else {
    const absl::StatusCode code = tokens.status().code();
    Check(code == absl::StatusCode::kPermissionDenied || code == absl::StatusCode::kUnavailable ||
              code == absl::StatusCode::kFailedPrecondition,
          "a failure is a gone grant, upstream trouble or a refusal");
  }

  const gateway::oauth::BearerChallengeParams challenge =
      gateway::oauth::ParseBearerChallenge(response.body);
  Check(challenge.present || (challenge.error.empty() && challenge.scope.empty() &&
                              challenge.resource_metadata.empty()),
        "attributes come only from a Bearer challenge");
  Check(challenge.scope.empty() || gateway::oauth::IsScopeString(challenge.scope),
        "a challenge's scope is a valid scope string");
  return 0;
}
