#include "source/common/oauth/upstream_client.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "source/common/crypto.h"
#include "source/common/json.h"
#include "source/common/log.h"
#include "source/common/oauth/form.h"

namespace gateway::oauth {
namespace {

constexpr size_t kMaxDocumentBytes = 256 * 1024;
constexpr char kRegistrationKey[] = "upstream_registration";

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

std::unique_ptr<Operation> PostTokenRequest(
    http::HttpClient& client, const UpstreamSetup& setup, const std::string& endpoint,
    std::vector<std::pair<std::string, std::string>> form,
    std::function<void(absl::StatusOr<http::FetchResponse>)> done) {
  absl::StatusOr<Url> url = ParseUrl(endpoint);
  if (!url.ok()) {
    done(url.status());
    return nullptr;
  }
  http::RequestHead head = Head("POST", *url);
  head.headers.Add("Content-Type", "application/x-www-form-urlencoded");
  Authenticate(setup, head, form);
  return RequestOperation(
      client.Fetch(*url, std::move(head), EncodeForm(form), std::move(done), kMaxDocumentBytes));
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
  const std::string* content_type = response.head.headers.Get("content-type");
  const bool json =
      content_type != nullptr && absl::StrContains(absl::AsciiStrToLower(*content_type), "json");
  std::string error;
  std::string description;
  UpstreamTokens tokens;
  std::string expires_in;
  if (json) {
    absl::StatusOr<rapidjson::Document> document = json::Parse(response.body);
    if (!document.ok() || !document->IsObject()) {
      return absl::UnavailableError(absl::StrCat("the upstream token endpoint answered ",
                                                 response.head.status, " with invalid JSON"));
    }
    error = StringMember(*document, "error");
    description = StringMember(*document, "error_description");
    tokens.access_token = StringMember(*document, "access_token");
    tokens.refresh_token = StringMember(*document, "refresh_token");
    tokens.scope = StringMember(*document, "scope");
    auto member = document->FindMember("expires_in");
    if (member != document->MemberEnd()) {
      if (member->value.IsNumber()) {
        expires_in = absl::StrCat(static_cast<int64_t>(member->value.GetDouble()));
      } else if (member->value.IsString()) {
        expires_in = member->value.GetString();
      }
    }
  } else {
    absl::StatusOr<Form> form = Form::Parse(response.body);
    if (!form.ok()) {
      return absl::UnavailableError(absl::StrCat("the upstream token endpoint answered ",
                                                 response.head.status, " with an unreadable body"));
    }
    error = form->Get("error");
    description = form->Get("error_description");
    tokens.access_token = form->Get("access_token");
    tokens.refresh_token = form->Get("refresh_token");
    tokens.scope = form->Get("scope");
    expires_in = form->Get("expires_in");
  }
  if (!error.empty()) {
    // GitHub says "bad_verification_code" where RFC 6749 says invalid_grant; both mean the code
    // or refresh token is no good.
    const std::string code =
        error == "bad_verification_code" || error == "bad_refresh_token" ? "invalid_grant" : error;
    return absl::PermissionDeniedError(absl::StrCat(code, ": ", description));
  }
  if (response.head.status / 100 != 2 || tokens.access_token.empty()) {
    return absl::UnavailableError(absl::StrCat("the upstream token endpoint answered ",
                                               response.head.status, " without a token"));
  }
  if (!expires_in.empty()) {
    int64_t seconds = 0;
    if (absl::SimpleAtoi(expires_in, &seconds) && seconds > 0) {
      tokens.expires_in = absl::Seconds(seconds);
    }
  }
  return tokens;
}

namespace {

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

  void Start() {
    setup_.authorize_endpoint = config_.upstream.authorize_endpoint;
    setup_.token_endpoint = config_.upstream.token_endpoint;
    setup_.revocation_endpoint = config_.upstream.revocation_endpoint;
    setup_.scopes = config_.upstream.scopes;
    absl::StatusOr<Url> resource = ParseUrl(config_.upstream.rs);
    if (!resource.ok()) {
      Finish(resource.status());
      return;
    }
    resource_ = *resource;
    candidates_ = {ProtectedResourceMetadataUrl(resource_)};
    if (resource_.path != "/") {
      candidates_.push_back(
          absl::StrCat(resource_.Origin(), "/.well-known/oauth-protected-resource"));
    }
    FetchResourceMetadata();
  }

 private:
  // Step 1: RFC 9728 protected-resource metadata (optional when the endpoints are configured).
  void FetchResourceMetadata() {
    if (candidates_.empty()) {
      if (!setup_.authorize_endpoint.empty()) {
        ChooseClient(/*metadata=*/nullptr);
      } else if (!config_.upstream.as.empty()) {
        DiscoverAuthorizationServer(config_.upstream.as);
      } else {
        Finish(absl::UnavailableError(absl::StrCat(
            "cannot discover the upstream's authorization server: ", config_.upstream.rs,
            " publishes no protected-resource metadata; set upstream.as or the upstream "
            "endpoints")));
      }
      return;
    }
    const std::string url = candidates_.front();
    candidates_.erase(candidates_.begin());
    Get(url, [this](absl::StatusOr<http::FetchResponse> response) {
      absl::StatusOr<rapidjson::Document> document = JsonDocument(response);
      if (!document.ok()) {
        FetchResourceMetadata();
        return;
      }
      setup_.resource = StringMember(*document, "resource");
      if (setup_.scopes.empty()) {
        setup_.scopes = absl::StrJoin(StringListMember(*document, "scopes_supported"), " ");
      }
      std::vector<std::string> servers = StringListMember(*document, "authorization_servers");
      if (!setup_.authorize_endpoint.empty()) {
        ChooseClient(nullptr);
      } else if (!config_.upstream.as.empty()) {
        DiscoverAuthorizationServer(config_.upstream.as);
      } else if (!servers.empty()) {
        DiscoverAuthorizationServer(servers.front());
      } else {
        Finish(absl::UnavailableError(
            "the upstream's protected-resource metadata names no authorization server"));
      }
    });
  }

  // Step 2: RFC 8414 metadata, then OpenID discovery.
  void DiscoverAuthorizationServer(const std::string& issuer) {
    absl::StatusOr<Url> url = ParseUrl(issuer);
    if (!url.ok()) {
      Finish(absl::UnavailableError(absl::StrCat("bad upstream issuer: ", url.status().message())));
      return;
    }
    issuer_ = issuer;
    candidates_ = {AuthorizationServerMetadataUrl(*url), OpenIdConfigurationUrl(*url),
                   OpenIdConfigurationAppendedUrl(*url)};
    FetchServerMetadata();
  }

  void FetchServerMetadata() {
    if (candidates_.empty()) {
      Finish(absl::UnavailableError(
          absl::StrCat("no authorization server metadata found for ", issuer_)));
      return;
    }
    const std::string url = candidates_.front();
    candidates_.erase(candidates_.begin());
    Get(url, [this](absl::StatusOr<http::FetchResponse> response) {
      absl::StatusOr<rapidjson::Document> document = JsonDocument(response);
      if (!document.ok()) {
        FetchServerMetadata();
        return;
      }
      // RFC 8414 section 3.3: the metadata must be about the issuer that was asked for.
      const std::string issuer = StringMember(*document, "issuer");
      if (absl::StripSuffix(issuer, "/") != absl::StripSuffix(issuer_, "/")) {
        Finish(absl::UnavailableError(absl::StrCat("the metadata found for ", issuer_,
                                                   " names another issuer, \"", issuer, "\"")));
        return;
      }
      setup_.authorize_endpoint = StringMember(*document, "authorization_endpoint");
      setup_.token_endpoint = StringMember(*document, "token_endpoint");
      if (setup_.revocation_endpoint.empty()) {
        setup_.revocation_endpoint = StringMember(*document, "revocation_endpoint");
      }
      if (setup_.authorize_endpoint.empty() || setup_.token_endpoint.empty()) {
        Finish(absl::UnavailableError(
            absl::StrCat(issuer_, " publishes no authorization or token endpoint")));
        return;
      }
      auto metadata = std::make_shared<rapidjson::Document>();
      metadata->CopyFrom(*document, metadata->GetAllocator());
      ChooseClient(std::move(metadata));
    });
  }

  // Step 3: the gateway's client at the upstream: configured, remembered, or registered.
  void ChooseClient(std::shared_ptr<rapidjson::Document> metadata) {
    metadata_ = std::move(metadata);
    std::vector<std::string> methods;
    if (metadata_ != nullptr) {
      methods = StringListMember(*metadata_, "token_endpoint_auth_methods_supported");
    }
    if (!config_.upstream.client_id.empty()) {
      setup_.client_id = config_.upstream.client_id;
      setup_.client_secret = config_.upstream.client_secret;
      if (setup_.client_secret.empty()) {
        setup_.auth_method = "none";
      } else if (metadata_ == nullptr) {
        setup_.auth_method = "client_secret_post";  // GitHub's way; configured endpoints
      } else if (methods.empty() || Contains(methods, "client_secret_basic")) {
        setup_.auth_method = "client_secret_basic";  // RFC 8414's default
      } else {
        setup_.auth_method = "client_secret_post";
      }
      Finish(absl::OkStatus());
      return;
    }
    store_.GetMeta(kRegistrationKey, [this](absl::StatusOr<std::optional<std::string>> saved) {
      if (saved.ok() && saved->has_value()) {
        absl::StatusOr<rapidjson::Document> document = json::Parse(**saved);
        if (document.ok() && StringMember(*document, "token_endpoint") == setup_.token_endpoint &&
            !StringMember(*document, "client_id").empty()) {
          setup_.client_id = StringMember(*document, "client_id");
          setup_.client_secret = StringMember(*document, "client_secret");
          setup_.auth_method = StringMember(*document, "auth_method");
          Finish(absl::OkStatus());
          return;
        }
      }
      Register();
    });
  }

  void Register() {
    const std::string endpoint =
        metadata_ != nullptr ? StringMember(*metadata_, "registration_endpoint") : "";
    if (endpoint.empty()) {
      Finish(absl::FailedPreconditionError(
          "the upstream offers no dynamic registration: register the gateway there and set "
          "upstream.client_id and upstream.client_secret (or --upstream-client-id and "
          "--upstream-client-secret)"));
      return;
    }
    absl::StatusOr<Url> url = ParseUrl(endpoint);
    if (!url.ok()) {
      Finish(absl::UnavailableError(url.status().message()));
      return;
    }
    std::vector<std::string> methods =
        StringListMember(*metadata_, "token_endpoint_auth_methods_supported");
    const std::string method =
        methods.empty() || Contains(methods, "client_secret_basic")
            ? "client_secret_basic"
            : (Contains(methods, "client_secret_post") ? "client_secret_post" : "none");
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
    if (!setup_.scopes.empty()) {
      body.Key("scope");
      body.String(setup_.scopes);
    }
    body->EndObject();
    http::RequestHead head = Head("POST", *url);
    head.headers.Add("Content-Type", "application/json");
    pending_ = client_.Fetch(
        *url, std::move(head), body.Finish(),
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
          log::Info(
              absl::StrCat("registered the gateway at the upstream as client ", setup_.client_id));
          store_.PutMeta(kRegistrationKey, saved.Finish(), [this](absl::Status status) {
            if (!status.ok()) {
              log::Warning(
                  absl::StrCat("could not remember the upstream registration: ", status.message()));
            }
            Finish(absl::OkStatus());
          });
        },
        kMaxDocumentBytes);
  }

  void Get(const std::string& address,
           std::function<void(absl::StatusOr<http::FetchResponse>)> done) {
    absl::StatusOr<Url> url = ParseUrl(address);
    if (!url.ok()) {
      done(url.status());
      return;
    }
    pending_ = client_.Fetch(*url, Head("GET", *url), "", std::move(done), kMaxDocumentBytes);
  }

  static absl::StatusOr<rapidjson::Document> JsonDocument(
      const absl::StatusOr<http::FetchResponse>& response) {
    if (!response.ok()) {
      return response.status();
    }
    // 200 for metadata; 201 for a registration (RFC 7591 section 3.2.1).
    if (response->head.status != 200 && response->head.status != 201) {
      return absl::NotFoundError(absl::StrCat("HTTP ", response->head.status));
    }
    absl::StatusOr<rapidjson::Document> document = json::Parse(response->body);
    if (document.ok() && !document->IsObject()) {
      return absl::InvalidArgumentError("not a JSON object");
    }
    return document;
  }

  void Finish(absl::Status status) {
    UpstreamCallback<std::shared_ptr<const UpstreamSetup>> done = std::move(done_);
    done_ = nullptr;
    if (!done) {
      return;
    }
    if (!status.ok()) {
      done(status);
      return;
    }
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
  std::string issuer_;
  std::vector<std::string> candidates_;
  std::shared_ptr<rapidjson::Document> metadata_;
  std::unique_ptr<http::UpstreamRequest> pending_;
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
std::unique_ptr<Operation> RequestTokens(http::HttpClient& client, const UpstreamSetup& setup,
                                         std::vector<std::pair<std::string, std::string>> form,
                                         UpstreamCallback<UpstreamTokens> done) {
  if (!setup.resource.empty()) {
    form.emplace_back("resource", setup.resource);
  }
  return PostTokenRequest(client, setup, setup.token_endpoint, std::move(form),
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
  return RequestTokens(client, setup,
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
  return RequestTokens(client, setup,
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
  return PostTokenRequest(client, setup, setup.revocation_endpoint,
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

}  // namespace gateway::oauth
