#include "source/common/oauth/client_metadata.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "source/common/json.h"
#include "source/common/oauth/redirect_uri.h"
#include "source/common/url.h"

namespace gateway::oauth {
namespace {

constexpr size_t kMaxDocumentBytes = 64 * 1024;
constexpr absl::Duration kFetchTimeout = absl::Seconds(5);
constexpr absl::Duration kDefaultLifetime = absl::Minutes(5);
constexpr absl::Duration kMinLifetime = absl::Minutes(1);
constexpr absl::Duration kMaxLifetime = absl::Hours(24);

// How long a response may be reused (RFC 9111 section 5.2.2): no-store/no-cache: not at all;
// max-age: that long, within [1 min, 24 h]; otherwise 5 minutes.
absl::Duration Lifetime(const http::HeaderMap& headers) {
  const std::string* cache_control = headers.Get("cache-control");
  if (cache_control == nullptr) {
    return kDefaultLifetime;
  }
  absl::Duration lifetime = kDefaultLifetime;
  for (absl::string_view directive : absl::StrSplit(*cache_control, ',')) {
    directive = absl::StripAsciiWhitespace(directive);
    if (absl::EqualsIgnoreCase(directive, "no-store") ||
        absl::EqualsIgnoreCase(directive, "no-cache")) {
      return absl::ZeroDuration();
    }
    int64_t seconds = 0;
    if (absl::StartsWithIgnoreCase(directive, "max-age=") &&
        absl::SimpleAtoi(directive.substr(8), &seconds)) {
      lifetime = std::clamp(absl::Seconds(seconds), kMinLifetime, kMaxLifetime);
    }
  }
  return lifetime;
}

}  // namespace

bool IsClientMetadataUrl(absl::string_view client_id) {
  if (!absl::StartsWith(client_id, "https://")) {
    return false;
  }
  absl::StatusOr<Url> url = ParseUrl(client_id);
  return url.ok() && url->path != "/";
}

absl::StatusOr<store::Client> ParseClientMetadata(absl::string_view url, absl::string_view body) {
  absl::StatusOr<rapidjson::Document> document = json::Parse(body);
  if (!document.ok() || !document->IsObject()) {
    return absl::InvalidArgumentError("the client metadata document is not a JSON object");
  }
  auto text = [&](const char* name) -> std::string {
    auto member = document->FindMember(name);
    return member != document->MemberEnd() && member->value.IsString()
               ? std::string(member->value.GetString(), member->value.GetStringLength())
               : std::string();
  };
  if (text("client_id") != url) {
    return absl::InvalidArgumentError(
        "the client metadata document's client_id is not the URL it was fetched from");
  }
  store::Client client;
  client.client_id = std::string(url);
  client.auth_method = text("token_endpoint_auth_method");
  if (client.auth_method.empty()) {
    client.auth_method = "none";
  }
  if (client.auth_method != "none") {
    return absl::InvalidArgumentError(
        absl::StrCat("token_endpoint_auth_method \"", client.auth_method,
                     "\" is not supported for metadata documents (only none)"));
  }
  auto uris = document->FindMember("redirect_uris");
  if (uris == document->MemberEnd() || !uris->value.IsArray() || uris->value.Empty()) {
    return absl::InvalidArgumentError("the client metadata document lists no redirect_uris");
  }
  for (const auto& uri : uris->value.GetArray()) {
    if (!uri.IsString()) {
      return absl::InvalidArgumentError("redirect_uris must be strings");
    }
    const std::string value(uri.GetString(), uri.GetStringLength());
    if (absl::Status status = ValidateRedirectUri(value); !status.ok()) {
      return status;
    }
    client.redirect_uris.push_back(value);
  }
  // Shown to the user with the host that vouches for it: a name alone proves nothing.
  const std::string host = ParseUrl(url)->host;
  const std::string name = text("client_name");
  client.client_name = name.empty() ? host : absl::StrCat(name.substr(0, 200), " (", host, ")");
  client.metadata_json = std::string(body);
  return client;
}

ClientMetadataResolver::ClientMetadataResolver(const Clock& clock, bool allow_private_addresses,
                                               size_t capacity)
    : clock_(clock), allow_private_addresses_(allow_private_addresses), capacity_(capacity) {}

void ClientMetadataResolver::Remember(const std::string& url, const store::Client& client,
                                      absl::Duration lifetime) {
  if (lifetime <= absl::ZeroDuration()) {
    return;
  }
  absl::MutexLock lock(&mutex_);
  const absl::Time now = clock_.Now();
  if (cache_.size() >= capacity_) {
    absl::erase_if(cache_, [now](const auto& entry) { return entry.second.expires_at <= now; });
    if (cache_.size() >= capacity_) {
      cache_.erase(cache_.begin());
    }
  }
  cache_[url] = Cached{client, now + lifetime};
}

std::unique_ptr<Operation> ClientMetadataResolver::Resolve(http::HttpClient& client,
                                                           const std::string& url,
                                                           UpstreamCallback<store::Client> done) {
  std::optional<store::Client> found;
  {
    absl::MutexLock lock(&mutex_);
    auto cached = cache_.find(url);
    if (cached != cache_.end() && cached->second.expires_at > clock_.Now()) {
      found = cached->second.client;
    }
  }
  if (found.has_value()) {
    done(std::move(*found));
    return DoneOperation();
  }
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) {
    done(parsed.status());
    return DoneOperation();
  }
  http::RequestHead head;
  head.method = "GET";
  head.target = parsed->Target();
  head.headers.Add("Accept", "application/json");
  head.headers.Add("User-Agent", "mcp-oauth-gateway");
  return RequestOperation(client.Fetch(
      *parsed, std::move(head), "",
      [this, url, done = std::move(done)](absl::StatusOr<http::FetchResponse> response) {
        if (!response.ok()) {
          done(absl::UnavailableError(absl::StrCat("cannot fetch the client metadata document: ",
                                                   response.status().message())));
          return;
        }
        if (response->head.status != 200) {
          done(absl::UnavailableError(
              absl::StrCat("the client metadata document answered HTTP ", response->head.status)));
          return;
        }
        absl::StatusOr<store::Client> parsed_client = ParseClientMetadata(url, response->body);
        if (parsed_client.ok()) {
          Remember(url, *parsed_client, Lifetime(response->head.headers));
        }
        done(std::move(parsed_client));
      },
      kMaxDocumentBytes, kFetchTimeout,
      allow_private_addresses_ ? http::AddressPolicy::kAny : http::AddressPolicy::kPublicOnly));
}

}  // namespace gateway::oauth
