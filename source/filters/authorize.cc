#include "source/filters/authorize.h"

#include <algorithm>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "source/common/crypto.h"
#include "source/common/liveness.h"
#include "source/common/oauth/client_metadata.h"
#include "source/common/oauth/form.h"
#include "source/common/oauth/pages.h"
#include "source/common/oauth/redirect_uri.h"
#include "source/filters/oauth_endpoint.h"

namespace gateway::filters {
namespace {

constexpr size_t kMaxStateBytes = 2048;

class AuthorizeFilter : public Filter {
 public:
  AuthorizeFilter(FilterCallbacks& callbacks, const FactoryContext& context)
      : callbacks_(callbacks), context_(context) {}

  FilterStatus OnRequestHeaders() override {
    const http::RequestHead& request = callbacks_.context().request;
    if (request.path != "/authorize") {
      return FilterStatus::kContinue;
    }
    if (request.method == "POST") {
      return FilterStatus::kStopAndBufferBody;
    }
    if (request.method != "GET" && request.method != "HEAD") {
      callbacks_.SendLocalReply(
          oauth::RenderError(405, "Method not allowed", "Use GET or POST for /authorize."));
      return FilterStatus::kStopIteration;
    }
    Start(request.query);
    return FilterStatus::kStopIteration;
  }

  FilterStatus OnRequestBody() override {
    Start(callbacks_.context().body);
    return FilterStatus::kStopIteration;
  }

  void OnDestroy(http::StreamEnd) override { metadata_.reset(); }

 private:
  void Start(absl::string_view parameters) {
    absl::StatusOr<oauth::Form> form = oauth::Form::Parse(parameters);
    if (!form.ok()) {
      callbacks_.SendLocalReply(
          oauth::RenderError(400, "Invalid authorization request", form.status().message()));
      return;
    }
    params_ = std::move(*form);
    const std::string& client_id = params_.Get("client_id");
    if (client_id.empty()) {
      callbacks_.SendLocalReply(oauth::RenderError(400, "Invalid authorization request",
                                                   "The request names no client (client_id)."));
      return;
    }
    if (context_.config.oauth.client_metadata_documents && oauth::IsClientMetadataUrl(client_id)) {
      ResolveMetadataDocument(client_id);
      return;
    }
    callbacks_.store().GetClient(
        client_id, liveness_.Guard([this](absl::StatusOr<std::optional<store::Client>> client) {
          if (!client.ok()) {
            callbacks_.SendLocalReply(http::ReplyFromStatus(client.status()));
          } else if (!client->has_value()) {
            callbacks_.SendLocalReply(oauth::RenderError(
                400, "Unknown application",
                "This application is not registered with the gateway. Remove the server in "
                "your application and add it again to register anew."));
          } else {
            Check(**client);
          }
        }));
  }

  // A client id that is a URL: its metadata document, fetched (or cached), becomes the client
  // record the token endpoint will find later.
  void ResolveMetadataDocument(const std::string& url) {
    metadata_ = context_.client_metadata.Resolve(
        callbacks_.http_client(), url,
        liveness_.Guard([this](absl::StatusOr<store::Client> client) {
          if (!client.ok()) {
            callbacks_.SendLocalReply(oauth::RenderError(
                400, "Unknown application",
                absl::StrCat("The application's metadata document is not usable: ",
                             client.status().message())));
            return;
          }
          client->created_at = client->last_used_at = context_.clock.Now();
          store::Client record = *client;
          callbacks_.store().PutClient(
              std::move(record), liveness_.Guard([this, client = *client](absl::Status status) {
                if (!status.ok()) {
                  callbacks_.SendLocalReply(http::ReplyFromStatus(status));
                  return;
                }
                Check(client);
              }));
        }));
  }

  void Check(const store::Client& client) {
    // The redirect URI is checked before anything can be sent to it (RFC 6749 section 4.1.2.1).
    std::string redirect_uri = params_.Get("redirect_uri");
    if (redirect_uri.empty()) {
      if (client.redirect_uris.size() != 1) {
        callbacks_.SendLocalReply(oauth::RenderError(400, "Invalid authorization request",
                                                     "The request names no redirect_uri."));
        return;
      }
      redirect_uri = client.redirect_uris.front();
    } else if (oauth::FindRedirectUri(client.redirect_uris, redirect_uri) == nullptr) {
      callbacks_.SendLocalReply(
          oauth::RenderError(400, "Invalid authorization request",
                             "The redirect_uri is not one this application registered."));
      return;
    }
    const std::string& state = params_.Get("state");
    auto fail = [&](absl::string_view error, absl::string_view description) {
      callbacks_.SendLocalReply(oauth::RedirectToClient(
          redirect_uri,
          {{"error", std::string(error)}, {"error_description", std::string(description)}},
          state.size() <= kMaxStateBytes ? state : "", context_.config.Issuer()));
    };
    if (state.size() > kMaxStateBytes) {
      fail("invalid_request", "state is longer than 2048 bytes");
      return;
    }
    if (params_.Get("response_type") != "code") {
      fail("unsupported_response_type", "only response_type=code is supported");
      return;
    }
    const std::string& challenge = params_.Get("code_challenge");
    if (challenge.empty()) {
      fail("invalid_request", "PKCE is required: send code_challenge with S256");
      return;
    }
    if (params_.Get("code_challenge_method") != "S256") {
      fail("invalid_request", "only code_challenge_method=S256 is supported");
      return;
    }
    if (!crypto::IsPkceString(challenge)) {
      fail("invalid_request", "code_challenge must be 43 to 128 unreserved characters");
      return;
    }
    const std::string resource = ResolveResource(params_.Get("resource"));
    if (resource.empty()) {
      fail("invalid_target", "this server protects only " + context_.config.ResourceUrl());
      return;
    }
    absl::StatusOr<std::string> scope = ResolveScope(params_.Get("scope"));
    if (!scope.ok()) {
      fail("invalid_scope", scope.status().message());
      return;
    }

    store::Flow flow;
    flow.flow_id = crypto::RandomToken();
    flow.client_id = client.client_id;
    flow.client_name = client.client_name;
    flow.redirect_uri = redirect_uri;
    flow.state = state;
    flow.code_challenge = challenge;
    flow.scope = *scope;
    flow.resource = resource;
    flow.csrf_token = crypto::RandomToken();
    flow.expires_at = context_.clock.Now() + context_.config.tokens.flow_ttl;
    const std::string location = absl::StrCat("/login?flow=", flow.flow_id);
    callbacks_.store().TouchClient(client.client_id);
    callbacks_.store().PutFlow(
        std::move(flow), liveness_.Guard([this, location](absl::Status status) {
          callbacks_.SendLocalReply(status.ok() ? oauth::Redirect(location)
                                                : http::ReplyFromStatus(status));
        }));
  }

  // RFC 8707: absent means the gateway's MCP resource; present must be exactly it (a trailing
  // slash aside). Returns "" for a foreign resource.
  std::string ResolveResource(absl::string_view requested) const {
    const std::string& own = context_.config.ResourceUrl();
    if (requested.empty() || absl::StripSuffix(requested, "/") == absl::StripSuffix(own, "/")) {
      return own;
    }
    return "";
  }

  // With scopes configured, every requested one must be among them (none requested: all of
  // them); without, any scope is accepted as asked.
  absl::StatusOr<std::string> ResolveScope(const std::string& requested) const {
    const std::vector<std::string>& supported = context_.config.oauth.scopes;
    if (supported.empty()) {
      return requested;
    }
    if (requested.empty()) {
      return absl::StrJoin(supported, " ");
    }
    for (absl::string_view scope : absl::StrSplit(requested, ' ', absl::SkipEmpty())) {
      if (std::find(supported.begin(), supported.end(), scope) == supported.end()) {
        return absl::InvalidArgumentError(absl::StrCat("unknown scope \"", scope, "\""));
      }
    }
    return requested;
  }

  FilterCallbacks& callbacks_;
  const FactoryContext context_;
  oauth::Form params_;
  std::unique_ptr<oauth::Operation> metadata_;
  Liveness liveness_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> AuthorizeFactory::CreateFilterFactory(
    const config::Node& config, FactoryContext& context) const {
  return ContextOnlyFactory<AuthorizeFilter>(config, context);
}

}  // namespace gateway::filters
