#include "source/common/oauth/upstream_client.h"

#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "source/common/crypto.h"
#include "source/common/json.h"
#include "source/common/liveness.h"
#include "source/common/log.h"
#include "source/common/metrics.h"
#include "source/common/oauth/challenge.h"
#include "source/common/oauth/form.h"
#include "source/common/oauth/redirect_uri.h"
#include "source/dispatcher.h"

namespace gateway::oauth {
namespace {

constexpr size_t kMaxDocumentBytes = 256 * 1024;
constexpr absl::Duration kFetchTimeout = absl::Seconds(15);
constexpr char kRegistrationKey[] = "upstream_registration";
// The dynamic registration is made under a lease (one per store, so one for every worker and
// every replica sharing it); whoever finds it taken looks for the holder's result every
// kRegistrationRetry, kRegistrationTries times (longer than the holder's request may take).
constexpr char kRegistrationLease[] = "upstream-registration";
constexpr absl::Duration kRegistrationLeaseTtl = absl::Seconds(30);
constexpr absl::Duration kRegistrationRetry = absl::Milliseconds(100);
constexpr int kRegistrationTries = 200;
constexpr size_t kMaxChallengeScopes = 256;

http::RequestHead Head(absl::string_view method, const Url& url) {
  http::RequestHead head;
  head.method = std::string(method);
  head.target = url.Target();
  head.headers.Add("Accept", "application/json");
  head.headers.Add("User-Agent", "mcp-oauth-gateway");
  return head;
}

std::string JoinedPath(const Url& url) { return std::string(absl::StripSuffix(url.path, "/")); }

std::string StringMember(const rapidjson::Value& object, const char* name) {
  if (!object.IsObject()) {
    return "";
  }
  auto member = object.FindMember(name);
  if (member == object.MemberEnd() || !member->value.IsString()) {
    return "";
  }
  return std::string(member->value.GetString(), member->value.GetStringLength());
}

std::vector<std::string> StringListMember(const rapidjson::Value& object, const char* name) {
  std::vector<std::string> out;
  if (!object.IsObject()) {
    return out;
  }
  auto member = object.FindMember(name);
  if (member == object.MemberEnd() || !member->value.IsArray()) {
    return out;
  }
  for (const auto& item : member->value.GetArray()) {
    if (item.IsString()) {
      out.emplace_back(item.GetString(), item.GetStringLength());
    }
  }
  return out;
}

bool Contains(const std::vector<std::string>& list, absl::string_view value) {
  for (const std::string& item : list) {
    if (item == value) {
      return true;
    }
  }
  return false;
}

// Adds the client's credentials to a token-endpoint request (RFC 6749 section 2.3.1).
void Authenticate(const UpstreamSetup& setup, http::RequestHead& head,
                  std::vector<std::pair<std::string, std::string>>& form) {
  if (setup.auth_method == "client_secret_basic" && !setup.client_secret.empty()) {
    const std::string credentials =
        absl::StrCat(FormEncode(setup.client_id), ":", FormEncode(setup.client_secret));
    std::string encoded;
    absl::Base64Escape(credentials, &encoded);
    head.headers.Add("Authorization", absl::StrCat("Basic ", encoded));
    return;
  }
  form.emplace_back("client_id", setup.client_id);
  if (setup.auth_method == "client_secret_post" && !setup.client_secret.empty()) {
    form.emplace_back("client_secret", setup.client_secret);
  }
}

}  // namespace

http::AddressPolicy UpstreamAddressPolicy(const UpstreamConfig& config, const Url& url) {
  for (const std::string* configured : {&config.rs, &config.as, &config.authorize_endpoint,
                                        &config.token_endpoint, &config.revocation_endpoint}) {
    absl::StatusOr<Url> trusted = ParseUrl(*configured);
    if (trusted.ok() && trusted->host == url.host) {
      return http::AddressPolicy::kAny;
    }
  }
  return http::AddressPolicy::kPublicOnly;
}

namespace {

// A token or revocation request; a failure to reach the endpoint comes back as Unavailable.
// `metrics` (may be null) times it and counts failures.
std::unique_ptr<Operation> PostTokenRequest(
    http::HttpClient& client, const UpstreamConfig& config, Metrics* metrics,
    const UpstreamSetup& setup, const std::string& endpoint,
    std::vector<std::pair<std::string, std::string>> form,
    std::function<void(absl::StatusOr<http::FetchResponse>)> done) {
  absl::StatusOr<Url> url = ParseUrl(endpoint);
  if (!url.ok()) {
    done(absl::FailedPreconditionError(url.status().message()));
    return nullptr;
  }
  http::RequestHead head = Head("POST", *url);
  head.headers.Add("Content-Type", "application/x-www-form-urlencoded");
  Authenticate(setup, head, form);
  const auto sent_at = std::chrono::steady_clock::now();
  return RequestOperation(client.Fetch(
      *url, std::move(head), EncodeForm(form),
      [done = std::move(done), metrics, sent_at](absl::StatusOr<http::FetchResponse> response) {
        if (metrics != nullptr) {
          metrics->Observe(Histogram::kUpstreamOAuth,
                           absl::FromChrono(std::chrono::steady_clock::now() - sent_at));
          if (!response.ok() || response->head.status >= 500) {
            metrics->Add(Counter::kUpstreamOAuthError);
          }
        }
        if (!response.ok()) {
          done(absl::UnavailableError(absl::StrCat(
              "the upstream token endpoint cannot be reached: ", response.status().message())));
          return;
        }
        done(std::move(response));
      },
      kMaxDocumentBytes, kFetchTimeout, UpstreamAddressPolicy(config, *url)));
}

}  // namespace

namespace {

class RequestHolder : public Operation {
 public:
  explicit RequestHolder(std::unique_ptr<http::UpstreamRequest> request)
      : request_(std::move(request)) {}

 private:
  std::unique_ptr<http::UpstreamRequest> request_;
};

class Finished : public Operation {};

}  // namespace

std::unique_ptr<Operation> RequestOperation(std::unique_ptr<http::UpstreamRequest> request) {
  return std::make_unique<RequestHolder>(std::move(request));
}

std::unique_ptr<Operation> DoneOperation() { return std::make_unique<Finished>(); }

std::string ProtectedResourceMetadataUrl(const Url& resource) {
  return absl::StrCat(resource.Origin(), "/.well-known/oauth-protected-resource",
                      JoinedPath(resource));
}

std::string AuthorizationServerMetadataUrl(const Url& issuer) {
  return absl::StrCat(issuer.Origin(), "/.well-known/oauth-authorization-server",
                      JoinedPath(issuer));
}

std::string OpenIdConfigurationUrl(const Url& issuer) {
  return absl::StrCat(issuer.Origin(), "/.well-known/openid-configuration", JoinedPath(issuer));
}

std::string OpenIdConfigurationAppendedUrl(const Url& issuer) {
  return absl::StrCat(issuer.Origin(), JoinedPath(issuer), "/.well-known/openid-configuration");
}

absl::StatusOr<UpstreamTokens> ParseTokenResponse(const http::FetchResponse& response) {
  const int status = response.head.status;
  const std::string* content_type = response.head.headers.Get("content-type");
  const bool json =
      content_type != nullptr && absl::StrContains(absl::AsciiStrToLower(*content_type), "json");
  bool readable = false;
  std::string error;
  std::string description;
  UpstreamTokens tokens;
  std::string expires_in;
  if (json) {
    absl::StatusOr<rapidjson::Document> document = json::Parse(response.body);
    readable = document.ok() && document->IsObject();
    if (readable) {
      error = StringMember(*document, "error");
      description = StringMember(*document, "error_description");
      tokens.access_token = StringMember(*document, "access_token");
      tokens.refresh_token = StringMember(*document, "refresh_token");
      tokens.scope = StringMember(*document, "scope");
      auto member = document->FindMember("expires_in");
      if (member != document->MemberEnd()) {
        if (member->value.IsInt64()) {
          expires_in = absl::StrCat(member->value.GetInt64());
        } else if (member->value.IsNumber() && std::fabs(member->value.GetDouble()) < 1e15) {
          // A fraction counts in whole seconds; a number past any lifetime (1e300, found by
          // test/fuzz/token_response_fuzzer) as no expiry, since converting it is undefined.
          expires_in = absl::StrCat(static_cast<int64_t>(member->value.GetDouble()));
        } else if (member->value.IsString()) {
          expires_in = member->value.GetString();
        }
      }
    }
  } else {
    absl::StatusOr<Form> form = Form::Parse(response.body);
    readable = form.ok();
    if (readable) {
      error = form->Get("error");
      description = form->Get("error_description");
      tokens.access_token = form->Get("access_token");
      tokens.refresh_token = form->Get("refresh_token");
      tokens.scope = form->Get("scope");
      expires_in = form->Get("expires_in");
    }
  }
  // Trouble on the upstream's side (RFC 9110 sections 15.5.9, 15.5.20, 15.6), worth a retry.
  const bool upstream_trouble = status / 100 == 5 || status == 408 || status == 429;
  if (!error.empty()) {
    // GitHub says "bad_verification_code" where RFC 6749 says invalid_grant; both mean the code
    // or refresh token is no good.
    const std::string code =
        error == "bad_verification_code" || error == "bad_refresh_token" ? "invalid_grant" : error;
    const std::string message = absl::StrCat(code, ": ", description);
    if (code == "invalid_grant") {
      return absl::PermissionDeniedError(message);
    }
    if (upstream_trouble || code == "server_error" || code == "temporarily_unavailable") {
      return absl::UnavailableError(message);
    }
    return absl::FailedPreconditionError(message);
  }
  if (status / 100 != 2 || tokens.access_token.empty()) {
    const std::string message =
        absl::StrCat("the upstream token endpoint answered ", status,
                     readable ? " without a token" : " with an unreadable body");
    if (status / 100 == 4 && !upstream_trouble) {
      return absl::FailedPreconditionError(message);
    }
    return absl::UnavailableError(message);
  }
  if (!expires_in.empty()) {
    int64_t seconds = 0;
    if (absl::SimpleAtoi(expires_in, &seconds) && seconds > 0) {
      tokens.expires_in = absl::Seconds(seconds);
    }
  }
  return tokens;
}

bool IsTransient(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable ||
         status.code() == absl::StatusCode::kDeadlineExceeded;
}

bool AuthorizationResponseIssuerAccepted(const UpstreamSetup& setup, bool has_iss,
                                         const std::string& iss) {
  if (has_iss) {
    return setup.issuer.empty() || iss == setup.issuer;
  }
  return !setup.iss_parameter_supported;
}

ClientError PrepareFailureForClient(const absl::Status& status) {
  if (IsTransient(status)) {
    return {"temporarily_unavailable",
            "the gateway cannot reach the upstream authorization server"};
  }
  return {"server_error", "the gateway cannot use the upstream authorization server"};
}

bool SameResource(absl::string_view resource, absl::string_view expected) {
  absl::StatusOr<Url> a = ParseUrl(resource);
  absl::StatusOr<Url> b = ParseUrl(expected);
  // ParseUrl lower-cases scheme and host and makes the default port explicit.
  return a.ok() && b.ok() && a->scheme == b->scheme && a->host == b->host && a->port == b->port &&
         JoinedPath(*a) == JoinedPath(*b) && a->query == b->query;
}

namespace {

// The unauthenticated request that makes the upstream MCP server show its challenge. A ping, not
// an initialize: a server that lets it through starts no session for it.
constexpr char kProbeBody[] =
    R"({"jsonrpc":"2.0","id":"mcp-oauth-gateway-discovery","method":"ping"})";

// Where protected-resource metadata may be, and the resources it may then name (RFC 9728 section
// 3.3: the one whose URL led there).
struct MetadataCandidate {
  std::string url;
  std::vector<std::string> resources;
};

void AddScopes(const std::vector<std::string>& scopes, std::vector<std::string>& to) {
  for (const std::string& scope : scopes) {
    if (!Contains(to, scope)) {
      to.push_back(scope);
    }
  }
}

// Finds the upstream's endpoints and the gateway's client there, one request at a time.
class SetupDiscovery : public Operation {
 public:
  SetupDiscovery(const Config& config, std::string redirect_uri, http::HttpClient& client,
                 store::Store& store,
                 std::function<void(std::shared_ptr<const UpstreamSetup>)> remember,
                 UpstreamCallback<std::shared_ptr<const UpstreamSetup>> done)
      : config_(config),
        redirect_uri_(std::move(redirect_uri)),
        client_(client),
        store_(store),
        remember_(std::move(remember)),
        done_(std::move(done)) {}
  ~SetupDiscovery() override { ReleaseRegistrationLease(); }

  void Start() {
    setup_.authorize_endpoint = config_.upstream.authorize_endpoint;
    setup_.token_endpoint = config_.upstream.token_endpoint;
    setup_.revocation_endpoint = config_.upstream.revocation_endpoint;
    setup_.scopes = config_.upstream.scopes;
    absl::StatusOr<Url> resource = ParseUrl(config_.upstream.rs);
    if (!resource.ok()) {
      Finish(absl::FailedPreconditionError(resource.status().message()));
      return;
    }
    resource_ = *resource;
    if (!setup_.authorize_endpoint.empty()) {
      // Configured endpoints: the metadata adds only the resource and the scopes.
      QueueWellKnownMetadata();
      FetchResourceMetadata();
      return;
    }
    Probe();
  }

 private:
  // Step 0 (MCP authorization, "Protected Resource Metadata Discovery Requirements"): an
  // unauthenticated request to the MCP server; its challenge may name the metadata (RFC 9728
  // section 5.1) and the scope the server wants (MCP, "Scope Selection Strategy").
  void Probe() {
    http::RequestHead head = Head("POST", resource_);
    head.headers.Set("Accept", "application/json, text/event-stream");
    head.headers.Add("Content-Type", "application/json");
    Fetch(resource_, std::move(head), kProbeBody,
          [this](absl::StatusOr<http::FetchResponse> response) {
            if (!response.ok()) {
              NoteFailure(config_.upstream.rs, response.status());
            }
            asked_for_authorization_ = response.ok() && response->head.status == 401;
            if (response.ok() && (response->head.status == 401 || response->head.status == 403)) {
              BearerChallengeParams challenge = FindBearerChallenge(response->head.headers);
              if (!challenge.scope.empty()) {
                AddScopes(absl::StrSplit(challenge.scope, ' ', absl::SkipEmpty()),
                          setup_.known_scopes);
                if (setup_.scopes.empty()) {
                  setup_.scopes = challenge.scope;
                }
              }
              if (ParseUrl(challenge.resource_metadata).ok()) {
                // Fetched from the URL the server gave: about the URL the request went to.
                candidates_.push_back({challenge.resource_metadata, {config_.upstream.rs}});
              } else if (!challenge.resource_metadata.empty()) {
                log::Warning(absl::StrCat("the upstream's challenge names resource_metadata \"",
                                          absl::CHexEscape(challenge.resource_metadata),
                                          "\", which is not a URL; ignored"));
              }
            }
            QueueWellKnownMetadata();
            FetchResourceMetadata();
          });
  }

  // After the challenge's URL, if any: the well-known URLs (RFC 9728 section 3.1), the one for
  // the path first, then the origin's, which may describe the origin.
  void QueueWellKnownMetadata() {
    for (MetadataCandidate candidate :
         {MetadataCandidate{ProtectedResourceMetadataUrl(resource_), {config_.upstream.rs}},
          MetadataCandidate{
              absl::StrCat(resource_.Origin(), "/.well-known/oauth-protected-resource"),
              {config_.upstream.rs, resource_.Origin()}}}) {
      bool queued = false;
      for (const MetadataCandidate& other : candidates_) {
        queued = queued || other.url == candidate.url;
      }
      if (!queued) {
        candidates_.push_back(std::move(candidate));
      }
    }
  }

  // Step 1: RFC 9728 protected-resource metadata, the first that answers.
  void FetchResourceMetadata() {
    if (candidates_.empty()) {
      WithoutResourceMetadata();
      return;
    }
    MetadataCandidate candidate = std::move(candidates_.front());
    candidates_.erase(candidates_.begin());
    Get(candidate.url, [this, candidate](absl::StatusOr<http::FetchResponse> response) {
      absl::StatusOr<rapidjson::Document> document = JsonDocument(response);
      if (!document.ok()) {
        NoteFailure(candidate.url, document.status());
        FetchResourceMetadata();
        return;
      }
      const std::string resource = StringMember(*document, "resource");
      bool named = false;
      for (const std::string& expected : candidate.resources) {
        named = named || SameResource(resource, expected);
      }
      if (!named) {
        // RFC 9728 section 3.3: metadata about another resource must not be used, and nothing
        // goes to the authorization servers it names (an impersonation attempt, section 7.3).
        const std::string problem = absl::StrCat(
            "the protected-resource metadata at ", candidate.url,
            resource.empty() ? " names no resource"
                             : absl::StrCat(" is about the resource \"", absl::CHexEscape(resource),
                                            "\", not ", config_.upstream.rs),
            " (RFC 9728 section 3.3)");
        if (setup_.authorize_endpoint.empty()) {
          Finish(absl::FailedPreconditionError(absl::StrCat(problem, "; refusing to use it")));
          return;
        }
        // The endpoints are configured: only the resource and scopes would have come from it.
        log::Warning(absl::StrCat(problem, "; ignored: no resource or scope is taken from it"));
        ChooseClient();
        return;
      }
      setup_.resource = resource;
      const std::vector<std::string> supported = StringListMember(*document, "scopes_supported");
      AddScopes(supported, setup_.known_scopes);
      if (setup_.scopes.empty()) {
        setup_.scopes = absl::StrJoin(supported, " ");
      }
      std::vector<std::string> servers = StringListMember(*document, "authorization_servers");
      if (!setup_.authorize_endpoint.empty()) {
        ChooseClient();
      } else if (!config_.upstream.as.empty()) {
        DiscoverAuthorizationServer(config_.upstream.as, /*legacy=*/false);
      } else if (!servers.empty()) {
        DiscoverAuthorizationServer(servers.front(), /*legacy=*/false);
      } else {
        Finish(absl::FailedPreconditionError(
            "the upstream's protected-resource metadata names no authorization server"));
      }
    });
  }

  void WithoutResourceMetadata() {
    if (!setup_.authorize_endpoint.empty()) {
      ChooseClient();
    } else if (!config_.upstream.as.empty()) {
      DiscoverAuthorizationServer(config_.upstream.as, /*legacy=*/false);
    } else if (!asked_for_authorization_) {
      Finish(absl::UnavailableError(absl::StrCat(
          "cannot discover the upstream's authorization server: ", config_.upstream.rs,
          " publishes no protected-resource metadata and did not answer 401 (last: ", last_failure_,
          "); set upstream.as or the upstream endpoints")));
    } else {
      // MCP 2025-03-26 ("Server Metadata Discovery"): a server that asks for authorization but
      // publishes no protected-resource metadata is its own authorization server, at its origin.
      log::Info(absl::StrCat(config_.upstream.rs,
                             " publishes no protected-resource metadata; looking for an "
                             "authorization server at its origin (MCP 2025-03-26)"));
      DiscoverAuthorizationServer(resource_.Origin(), /*legacy=*/true);
    }
  }

  // Step 2: RFC 8414 metadata, then OpenID discovery.
  void DiscoverAuthorizationServer(const std::string& issuer, bool legacy) {
    absl::StatusOr<Url> url = ParseUrl(issuer);
    if (!url.ok()) {
      Finish(absl::FailedPreconditionError(
          absl::StrCat("bad upstream issuer: ", url.status().message())));
      return;
    }
    issuer_ = issuer;
    legacy_ = legacy;
    only_not_found_ = true;
    server_candidates_.clear();
    for (std::string candidate :
         {AuthorizationServerMetadataUrl(*url), OpenIdConfigurationUrl(*url),
          OpenIdConfigurationAppendedUrl(*url)}) {
      if (!Contains(server_candidates_, candidate)) {
        server_candidates_.push_back(std::move(candidate));
      }
    }
    FetchServerMetadata();
  }

  void FetchServerMetadata() {
    if (server_candidates_.empty()) {
      if (legacy_ && only_not_found_) {
        DefaultEndpoints();
        return;
      }
      absl::StatusOr<Url> issuer = ParseUrl(issuer_);
      const bool guarded = issuer.ok() && UpstreamAddressPolicy(config_.upstream, *issuer) ==
                                              http::AddressPolicy::kPublicOnly;
      Finish(absl::UnavailableError(absl::StrCat(
          "no authorization server metadata found for ", issuer_, " (last: ", last_failure_, ")",
          guarded ? "; a host the configuration does not name is reached at public addresses "
                    "only (set upstream.as to trust it)"
                  : "")));
      return;
    }
    const std::string url = server_candidates_.front();
    server_candidates_.erase(server_candidates_.begin());
    Get(url, [this, url](absl::StatusOr<http::FetchResponse> response) {
      absl::StatusOr<rapidjson::Document> document = JsonDocument(response);
      if (!document.ok()) {
        NoteFailure(url, document.status());
        FetchServerMetadata();
        return;
      }
      const std::string issuer = StringMember(*document, "issuer");
      if (!IssuerAccepted(issuer)) {
        Finish(absl::FailedPreconditionError(absl::StrCat(
            "the metadata found for ", issuer_, " names another issuer, \"",
            absl::CHexEscape(issuer), "\" (RFC 8414 section 3.3); refusing to use it")));
        return;
      }
      setup_.issuer = issuer;
      const rapidjson::Value::ConstMemberIterator iss_supported =
          document->FindMember("authorization_response_iss_parameter_supported");
      setup_.iss_parameter_supported =
          iss_supported != document->MemberEnd() && iss_supported->value.IsTrue();
      setup_.authorize_endpoint = StringMember(*document, "authorization_endpoint");
      setup_.token_endpoint = StringMember(*document, "token_endpoint");
      if (setup_.revocation_endpoint.empty()) {
        setup_.revocation_endpoint = StringMember(*document, "revocation_endpoint");
      }
      if (setup_.authorize_endpoint.empty() || setup_.token_endpoint.empty()) {
        Finish(absl::FailedPreconditionError(
            absl::StrCat(issuer_, " publishes no authorization or token endpoint")));
        return;
      }
      registration_endpoint_ = StringMember(*document, "registration_endpoint");
      auth_methods_ = StringListMember(*document, "token_endpoint_auth_methods_supported");
      have_metadata_ = true;
      AddScopes(StringListMember(*document, "scopes_supported"), setup_.known_scopes);
      ChooseClient();
    });
  }

  // RFC 8414 section 3.3: the metadata must be about the issuer that was asked for. A 2025-03-26
  // server names no issuer: what its origin serves is its own word, as its protected-resource
  // metadata would be, so any issuer on that origin is taken.
  bool IssuerAccepted(const std::string& issuer) const {
    if (!legacy_) {
      return absl::StripSuffix(issuer, "/") == absl::StripSuffix(issuer_, "/");
    }
    absl::StatusOr<Url> url = ParseUrl(issuer);
    return url.ok() && url->Origin() == resource_.Origin();
  }

  // MCP 2025-03-26, "Fallbacks for Servers without Metadata Discovery": only when the origin
  // answered that it has no metadata (404), never because it could not be reached.
  void DefaultEndpoints() {
    const std::string origin = resource_.Origin();
    setup_.authorize_endpoint = absl::StrCat(origin, "/authorize");
    setup_.token_endpoint = absl::StrCat(origin, "/token");
    registration_endpoint_ = absl::StrCat(origin, "/register");
    log::Warning(absl::StrCat(config_.upstream.rs,
                              " publishes no OAuth metadata at all; using the MCP 2025-03-26 "
                              "default endpoints ",
                              origin, "/authorize, /token and /register"));
    ChooseClient();
  }

  // Step 3: the gateway's client at the upstream: configured, remembered, or registered.
  void ChooseClient() {
    if (!config_.upstream.client_id.empty()) {
      setup_.client_id = config_.upstream.client_id;
      setup_.client_secret = config_.upstream.client_secret;
      if (setup_.client_secret.empty()) {
        setup_.auth_method = "none";
      } else if (!have_metadata_) {
        setup_.auth_method = "client_secret_post";  // GitHub's way; configured endpoints
      } else if (auth_methods_.empty() || Contains(auth_methods_, "client_secret_basic")) {
        setup_.auth_method = "client_secret_basic";  // RFC 8414's default
      } else {
        setup_.auth_method = "client_secret_post";
      }
      Finish(absl::OkStatus());
      return;
    }
    UseSavedRegistration([this] { TakeRegistrationLease(); });
  }

  // The registration this store remembers for the upstream's token endpoint, or `otherwise`.
  void UseSavedRegistration(std::function<void()> otherwise) {
    store_.GetMeta(
        kRegistrationKey, liveness_.Guard([this, otherwise = std::move(otherwise)](
                                              absl::StatusOr<std::optional<std::string>> saved) {
          if (!saved.ok()) {
            Finish(absl::UnavailableError(
                absl::StrCat("cannot read the upstream registration: ", saved.status().message())));
            return;
          }
          if (saved->has_value()) {
            absl::StatusOr<rapidjson::Document> document = json::Parse(**saved);
            if (document.ok() &&
                StringMember(*document, "token_endpoint") == setup_.token_endpoint &&
                !StringMember(*document, "client_id").empty()) {
              setup_.client_id = StringMember(*document, "client_id");
              setup_.client_secret = StringMember(*document, "client_secret");
              setup_.auth_method = StringMember(*document, "auth_method");
              Finish(absl::OkStatus());
              return;
            }
          }
          otherwise();
        }));
  }

  // One registration for all who share the store: without the lease, workers and replicas
  // starting at once would each register a client, and a flow begun under one client_id would
  // end where another is in use.
  void TakeRegistrationLease() {
    store_.AcquireLease(
        kRegistrationLease, kRegistrationLeaseTtl,
        liveness_.Guard([this](absl::StatusOr<std::string> holder) {
          if (!holder.ok()) {
            Finish(absl::UnavailableError(
                absl::StrCat("cannot register at the upstream: ", holder.status().message())));
            return;
          }
          if (holder->empty()) {
            if (++registration_waits_ > kRegistrationTries) {
              Finish(absl::UnavailableError(
                  "another gateway worker or replica is still registering at the upstream"));
              return;
            }
            retry_timer_ = client_.dispatcher().CreateTimer(liveness_.Guard(
                [this] { UseSavedRegistration([this] { TakeRegistrationLease(); }); }));
            retry_timer_->Enable(kRegistrationRetry);
            return;
          }
          lease_holder_ = *holder;
          // The previous holder may have finished between the look and the lease.
          UseSavedRegistration([this] { Register(); });
        }));
  }

  void Register() {
    if (registration_endpoint_.empty()) {
      Finish(absl::FailedPreconditionError(
          "the upstream offers no dynamic registration: register the gateway there and set "
          "upstream.client_id and upstream.client_secret (or --upstream-client-id and "
          "--upstream-client-secret)"));
      return;
    }
    absl::StatusOr<Url> url = ParseUrl(registration_endpoint_);
    if (!url.ok()) {
      Finish(absl::FailedPreconditionError(url.status().message()));
      return;
    }
    const std::string method =
        auth_methods_.empty() || Contains(auth_methods_, "client_secret_basic")
            ? "client_secret_basic"
            : (Contains(auth_methods_, "client_secret_post") ? "client_secret_post" : "none");
    json::Writer body;
    body->StartObject();
    body.Key("client_name");
    body.String("mcp-oauth-gateway");
    body.Key("redirect_uris");
    body->StartArray();
    body.String(redirect_uri_);
    body->EndArray();
    body.Key("grant_types");
    body->StartArray();
    body.String("authorization_code");
    body.String("refresh_token");
    body->EndArray();
    body.Key("response_types");
    body->StartArray();
    body.String("code");
    body->EndArray();
    body.Key("token_endpoint_auth_method");
    body.String(method);
    // SEP-837 (OpenID Connect Registration's application_type): a gateway reached on a
    // loopback address is a program on the user's machine, otherwise a web server.
    absl::StatusOr<Url> callback = ParseUrl(redirect_uri_);
    body.Key("application_type");
    body.String(callback.ok() && IsLoopbackHost(callback->host) ? "native" : "web");
    if (!setup_.scopes.empty()) {
      body.Key("scope");
      body.String(setup_.scopes);
    }
    body->EndObject();
    http::RequestHead head = Head("POST", *url);
    head.headers.Add("Content-Type", "application/json");
    Fetch(*url, std::move(head), body.Finish(),
          [this, method](absl::StatusOr<http::FetchResponse> response) {
            absl::StatusOr<rapidjson::Document> document = JsonDocument(response);
            const std::string client_id =
                document.ok() ? StringMember(*document, "client_id") : std::string();
            if (client_id.empty()) {
              Finish(absl::UnavailableError(
                  absl::StrCat("dynamic registration at the upstream failed",
                               response.ok() ? absl::StrCat(" (HTTP ", response->head.status, ")")
                                             : absl::StrCat(": ", response.status().message()))));
              return;
            }
            setup_.client_id = client_id;
            setup_.client_secret = StringMember(*document, "client_secret");
            const std::string granted = StringMember(*document, "token_endpoint_auth_method");
            setup_.auth_method =
                !granted.empty() ? granted : (setup_.client_secret.empty() ? "none" : method);
            json::Writer saved;
            saved->StartObject();
            saved.Key("token_endpoint");
            saved.String(setup_.token_endpoint);
            saved.Key("client_id");
            saved.String(setup_.client_id);
            saved.Key("client_secret");
            saved.String(setup_.client_secret);
            saved.Key("auth_method");
            saved.String(setup_.auth_method);
            saved->EndObject();
            log::Info(absl::StrCat("registered the gateway at the upstream as client ",
                                   setup_.client_id));
            store_.PutMeta(
                kRegistrationKey, saved.Finish(), liveness_.Guard([this](absl::Status status) {
                  if (!status.ok()) {
                    log::Warning(absl::StrCat("could not remember the upstream registration: ",
                                              status.message()));
                  }
                  Finish(absl::OkStatus());
                }));
          });
  }

  void Get(const std::string& address,
           std::function<void(absl::StatusOr<http::FetchResponse>)> done) {
    absl::StatusOr<Url> url = ParseUrl(address);
    if (!url.ok()) {
      done(url.status());
      return;
    }
    Fetch(*url, Head("GET", *url), "", std::move(done));
  }

  // Every request of the discovery, under the SSRF rule.
  void Fetch(const Url& url, http::RequestHead head, std::string body,
             std::function<void(absl::StatusOr<http::FetchResponse>)> done) {
    pending_ =
        client_.Fetch(url, std::move(head), std::move(body), std::move(done), kMaxDocumentBytes,
                      kFetchTimeout, UpstreamAddressPolicy(config_.upstream, url));
  }

  void NoteFailure(const std::string& url, const absl::Status& status) {
    only_not_found_ = only_not_found_ && status.code() == absl::StatusCode::kNotFound;
    last_failure_ = absl::StrCat(url, ": ", status.message());
    log::Debug(absl::StrCat("upstream discovery: ", last_failure_));
  }

  static absl::StatusOr<rapidjson::Document> JsonDocument(
      const absl::StatusOr<http::FetchResponse>& response) {
    if (!response.ok()) {
      return response.status();
    }
    // 200 for metadata; 201 for a registration (RFC 7591 section 3.2.1).
    const int status = response->head.status;
    if (status == 404 || status == 410) {
      return absl::NotFoundError(absl::StrCat("HTTP ", status));
    }
    if (status != 200 && status != 201) {
      return absl::UnavailableError(absl::StrCat("HTTP ", status));
    }
    absl::StatusOr<rapidjson::Document> document = json::Parse(response->body);
    if (document.ok() && !document->IsObject()) {
      return absl::InvalidArgumentError("not a JSON object");
    }
    return document;
  }

  void ReleaseRegistrationLease() {
    if (!lease_holder_.empty()) {
      store_.ReleaseLease(kRegistrationLease, lease_holder_);
      lease_holder_.clear();
    }
  }

  void Finish(absl::Status status) {
    ReleaseRegistrationLease();
    UpstreamCallback<std::shared_ptr<const UpstreamSetup>> done = std::move(done_);
    done_ = nullptr;
    if (!done) {
      return;
    }
    if (!status.ok()) {
      log::Error(absl::StrCat("upstream discovery failed: ", status.message()));
      done(status);
      return;
    }
    AddScopes(absl::StrSplit(setup_.scopes, ' ', absl::SkipEmpty()), setup_.known_scopes);
    auto setup = std::make_shared<const UpstreamSetup>(setup_);
    remember_(setup);
    done(std::move(setup));  // may destroy this object
  }

  const Config& config_;
  const std::string redirect_uri_;
  http::HttpClient& client_;
  store::Store& store_;
  std::function<void(std::shared_ptr<const UpstreamSetup>)> remember_;
  UpstreamCallback<std::shared_ptr<const UpstreamSetup>> done_;
  UpstreamSetup setup_;
  Url resource_;
  bool asked_for_authorization_ = false;       // the MCP server answered the probe with 401
  std::vector<MetadataCandidate> candidates_;  // protected-resource metadata still to try
  std::string issuer_;
  bool legacy_ = false;  // issuer_ is a 2025-03-26 server's origin, not a named issuer
  std::vector<std::string> server_candidates_;
  bool only_not_found_ = true;  // every metadata URL of issuer_ tried so far answered 404
  std::string last_failure_;
  bool have_metadata_ = false;  // endpoints from RFC 8414 metadata, not configured or defaults
  std::string registration_endpoint_;
  std::vector<std::string> auth_methods_;  // token_endpoint_auth_methods_supported
  std::unique_ptr<http::UpstreamRequest> pending_;
  std::string lease_holder_;  // while this discovery holds the registration lease
  int registration_waits_ = 0;
  std::unique_ptr<Timer> retry_timer_;
  Liveness liveness_;
};

}  // namespace

UpstreamOAuth::UpstreamOAuth(const Config& config)
    : config_(config),
      redirect_uri_(absl::StrCat(config.listener.public_url, "/upstream/callback")) {}

std::unique_ptr<Operation> UpstreamOAuth::Prepare(
    http::HttpClient& client, store::Store& store,
    UpstreamCallback<std::shared_ptr<const UpstreamSetup>> done) {
  std::shared_ptr<const UpstreamSetup> known;
  {
    absl::MutexLock lock(&mutex_);
    known = setup_;
  }
  if (known != nullptr) {
    done(std::move(known));
    return DoneOperation();
  }
  auto discovery = std::make_unique<SetupDiscovery>(
      config_, redirect_uri_, client, store,
      [this](std::shared_ptr<const UpstreamSetup> setup) {
        absl::MutexLock lock(&mutex_);
        setup_ = std::move(setup);
      },
      std::move(done));
  discovery->Start();
  return discovery;
}

namespace {

// A token request (RFC 6749 sections 4.1.3 and 6) with the upstream resource (RFC 8707) when
// there is one, its answer parsed into tokens.
std::unique_ptr<Operation> RequestTokens(http::HttpClient& client, const UpstreamConfig& config,
                                         Metrics* metrics, const UpstreamSetup& setup,
                                         std::vector<std::pair<std::string, std::string>> form,
                                         UpstreamCallback<UpstreamTokens> done) {
  if (!setup.resource.empty()) {
    form.emplace_back("resource", setup.resource);
  }
  return PostTokenRequest(client, config, metrics, setup, setup.token_endpoint, std::move(form),
                          [done = std::move(done)](absl::StatusOr<http::FetchResponse> response) {
                            if (!response.ok()) {
                              done(response.status());
                              return;
                            }
                            done(ParseTokenResponse(*response));
                          });
}

}  // namespace

std::unique_ptr<Operation> UpstreamOAuth::ExchangeCode(http::HttpClient& client,
                                                       const UpstreamSetup& setup,
                                                       const std::string& code,
                                                       const std::string& code_verifier,
                                                       const std::string& redirect_uri,
                                                       UpstreamCallback<UpstreamTokens> done) {
  return RequestTokens(client, config_.upstream, metrics_, setup,
                       {{"grant_type", "authorization_code"},
                        {"code", code},
                        {"redirect_uri", redirect_uri},
                        {"code_verifier", code_verifier}},
                       std::move(done));
}

std::unique_ptr<Operation> UpstreamOAuth::Refresh(http::HttpClient& client,
                                                  const UpstreamSetup& setup,
                                                  const std::string& refresh_token,
                                                  UpstreamCallback<UpstreamTokens> done) {
  return RequestTokens(client, config_.upstream, metrics_, setup,
                       {{"grant_type", "refresh_token"}, {"refresh_token", refresh_token}},
                       std::move(done));
}

std::unique_ptr<Operation> UpstreamOAuth::Revoke(http::HttpClient& client,
                                                 const UpstreamSetup& setup,
                                                 const std::string& token,
                                                 const std::string& type_hint,
                                                 UpstreamCallback<bool> done) {
  if (setup.revocation_endpoint.empty()) {
    done(false);
    return DoneOperation();
  }
  return PostTokenRequest(client, config_.upstream, metrics_, setup, setup.revocation_endpoint,
                          {{"token", token}, {"token_type_hint", type_hint}},
                          [done = std::move(done)](absl::StatusOr<http::FetchResponse> response) {
                            if (!response.ok()) {
                              done(response.status());
                              return;
                            }
                            // RFC 7009 section 2.2: 200 whether or not the token was valid.
                            done(response->head.status == 200);
                          });
}

void UpstreamOAuth::NoteChallengeScope(absl::string_view scope) {
  if (!IsScopeString(scope)) {
    return;
  }
  absl::MutexLock lock(&mutex_);
  for (absl::string_view token : absl::StrSplit(scope, ' ', absl::SkipEmpty())) {
    // Bounded: an upstream cannot grow this without end.
    if (challenge_scopes_.size() < kMaxChallengeScopes && !Contains(challenge_scopes_, token)) {
      challenge_scopes_.emplace_back(token);
    }
  }
}

std::string UpstreamOAuth::ScopeFor(const UpstreamSetup& setup, absl::string_view requested) const {
  std::vector<std::string> scopes = absl::StrSplit(setup.scopes, ' ', absl::SkipEmpty());
  absl::MutexLock lock(&mutex_);
  for (absl::string_view token : absl::StrSplit(requested, ' ', absl::SkipEmpty())) {
    if (!Contains(scopes, token) &&
        (Contains(setup.known_scopes, token) || Contains(challenge_scopes_, token))) {
      scopes.emplace_back(token);
    }
  }
  return absl::StrJoin(scopes, " ");
}

}  // namespace gateway::oauth
