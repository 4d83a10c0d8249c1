// Client metadata, the JSON a client sends unauthenticated to POST /register (RFC 7591,
// oauth::ParseRegistration) and the document a client ID metadata URL serves
// (oauth::ParseClientMetadata). What is accepted must be what the rest of the gateway relies on:
// valid redirect URIs, a supported authentication method, a name to show, and metadata that
// echoes back as a JSON object in the 201 reply.

#include <cstddef>
#include <cstdint>
#include <string>

#include "source/common/json.h"
#include "source/common/oauth/client_metadata.h"
#include "source/common/oauth/redirect_uri.h"
#include "source/common/oauth/registration.h"
#include "test/fuzz/check.h"

namespace {

using gateway::fuzz::Check;

constexpr char kMetadataUrl[] = "https://client.example/oauth/metadata.json";

void CheckRedirectUris(const gateway::store::Client& client) {
  Check(!client.redirect_uris.empty(), "an accepted client has a redirect URI");
  for (const std::string& uri : client.redirect_uris) {
    Check(gateway::oauth::ValidateRedirectUri(uri).ok(), "every accepted redirect URI is valid");
    Check(gateway::oauth::FindRedirectUri(client.redirect_uris, uri) != nullptr,
          "every accepted redirect URI matches itself");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  std::string error_code;
  absl::StatusOr<gateway::oauth::ParsedRegistration> registration =
      gateway::oauth::ParseRegistration(input, &error_code);
  if (registration.ok()) {
    gateway::store::Client& client = registration->client;
    CheckRedirectUris(client);
    Check(client.auth_method == "none" || client.auth_method == "client_secret_post" ||
              client.auth_method == "client_secret_basic",
          "an accepted authentication method is a supported one");
    Check(registration->confidential == (client.auth_method != "none"),
          "confidential means a secret to authenticate with");
    Check(!client.client_name.empty(), "an accepted client has a name to show");
    client.client_id = "client-id";
    const std::string reply = gateway::oauth::RegistrationResponse(
        client, registration->confidential ? "client-secret" : "");
    absl::StatusOr<rapidjson::Document> echoed = gateway::json::Parse(reply);
    Check(echoed.ok() && echoed->IsObject() && echoed->HasMember("redirect_uris"),
          "the registration reply is a JSON object with the metadata");
  } else {
    Check(error_code == "invalid_client_metadata" || error_code == "invalid_redirect_uri",
          "a refused registration names an RFC 7591 error code");
  }

  absl::StatusOr<gateway::store::Client> document =
      gateway::oauth::ParseClientMetadata(kMetadataUrl, input);
  if (document.ok()) {
    CheckRedirectUris(*document);
    Check(document->client_id == kMetadataUrl, "a metadata document names its own URL");
    Check(document->auth_method == "none", "a metadata document client is public");
    Check(!document->client_name.empty(), "a metadata document client has a name to show");
  }
  return 0;
}
