#include "source/filters/upstream_forward.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "source/common/liveness.h"
#include "source/common/log.h"
#include "source/common/mcp_sessions.h"
#include "source/common/oauth/challenge.h"
#include "source/common/url.h"
#include "source/filters/bearer_split.h"

namespace gateway::filters {
namespace {

constexpr char kAllowedMethods[] = "GET, POST, DELETE";

// Headers that pass from the client to the upstream, and back (DESIGN.md, proxying). Everything
// else stays behind, hop-by-hop headers (Connection and what it names, Keep-Alive, TE, Upgrade,
// Proxy-*, Transfer-Encoding) among them.
constexpr absl::string_view kRequestHeaders[] = {
    "content-type", "accept",   "mcp-session-id", "mcp-protocol-version", "last-event-id",
    "mcp-method",   "mcp-name", "cache-control",  "content-length",       "user-agent"};
constexpr absl::string_view kResponseHeaders[] = {
    "content-type", "cache-control",  "mcp-session-id", "mcp-protocol-version",
    "location",     "content-length", "retry-after"};

// Fields pass_headers cannot name: the gateway sets Host, Authorization and X-Forwarded-* itself;
// the others are the client's credentials or hop-by-hop.
constexpr absl::string_view kNeverPassed[] = {"authorization",
                                              "host",
                                              "cookie",
                                              "transfer-encoding",
                                              "connection",
                                              "x-forwarded-for",
                                              "x-forwarded-proto",
                                              "x-forwarded-host"};

struct ForwardConfig {
  Url upstream;
  std::string upstream_authority;  // its Host header
  std::string mcp_path;
  std::string public_origin;  // scheme://host[:port] of the public URL
  std::string public_scheme;  // for X-Forwarded-Proto
  // The fields that pass: kRequestHeaders (kResponseHeaders) and pass_headers.
  http::FieldNameSet request_fields;
  http::FieldNameSet response_fields;
  std::vector<std::string> allowed_origins;
  absl::Duration response_timeout = absl::Seconds(60);
  absl::Duration revocation_check = absl::Seconds(30);
  std::shared_ptr<McpSessions> sessions;
};

// Whether a request path under the MCP endpoint, given as what follows the endpoint's own path,
// stays under it upstream. A sub-path goes to the same sub-path there, but never out of it: a dot
// segment (RFC 3986 section 5.2.4), or a dot, slash or backslash that percent-encoding hides or
// that some servers take for a slash, could be resolved by the upstream (or a proxy in front of
// it) to another of its paths, where the upstream token would then be spent.
bool StaysUnderTheEndpoint(absl::string_view suffix) {
  if (suffix.empty()) {
    return true;  // the endpoint itself: most requests (no lower-case copy to make)
  }
  const std::string lower = absl::AsciiStrToLower(suffix);
  for (absl::string_view hidden : {"%2e", "%2f", "%5c", "\\"}) {
    if (absl::StrContains(lower, hidden)) {
      return false;
    }
  }
  for (absl::string_view segment : absl::StrSplit(lower, '/')) {
    if (segment == "." || segment == "..") {
      return false;
    }
  }
  return true;
}

class UpstreamForwardFilter : public Filter, public http::UpstreamCallbacks {
 public:
  UpstreamForwardFilter(FilterCallbacks& callbacks, const FactoryContext& context,
                        std::shared_ptr<const ForwardConfig> config)
      : callbacks_(callbacks), context_(context), config_(std::move(config)) {}

  FilterStatus OnRequestHeaders() override {
    const http::RequestHead& request = callbacks_.context().request;
    const std::string* origin = request.headers.Get("origin");
    if (origin != nullptr && !OriginAllowed(*origin)) {
      // MCP transport, security: refuse foreign origins (DNS rebinding).
      callbacks_.SendLocalReply(
          http::ErrorReply(403, "access_denied", "requests from this origin are not allowed"));
      return FilterStatus::kStopIteration;
    }
    if (origin != nullptr) {
      cors_origin_ = *origin;
    }
    if (request.method == "OPTIONS") {
      http::LocalReply reply;
      reply.status = 204;
      reply.headers.Add("Access-Control-Allow-Methods", kAllowedMethods);
      reply.headers.Add("Access-Control-Allow-Headers",
                        "Authorization, Content-Type, Accept, Mcp-Session-Id, "
                        "Mcp-Protocol-Version, Last-Event-ID, Mcp-Method, Mcp-Name");
      reply.headers.Add("Access-Control-Max-Age", "86400");
      callbacks_.SendLocalReply(std::move(reply));
      return FilterStatus::kStopIteration;
    }
    if (request.method != "POST" && request.method != "GET" && request.method != "DELETE") {
      http::LocalReply reply =
          http::ErrorReply(405, "invalid_request", "the MCP endpoint takes GET, POST and DELETE");
      reply.headers.Add("Allow", kAllowedMethods);
      callbacks_.SendLocalReply(std::move(reply));
      return FilterStatus::kStopIteration;
    }
    RequestContext& context = callbacks_.context();
    if (context.upstream_token.empty()) {
      // Only bearer_split puts a token here: without it in front, nothing is forwarded.
      callbacks_.SendLocalReply(http::ErrorReply(
          500, "server_error", "upstream_forward needs bearer_split before it in the chain"));
      return FilterStatus::kStopIteration;
    }
    const std::string* session = request.headers.Get("mcp-session-id");
    if (session != nullptr) {
      std::optional<std::string> owner = config_->sessions->Owner(*session, context_.clock.Now());
      if (owner.has_value() && *owner != context.user) {
        callbacks_.SendLocalReply(
            http::ErrorReply(404, "not_found", "no such MCP session for this user"));
        return FilterStatus::kStopIteration;
      }
    }
    Start();
    return FilterStatus::kStopIteration;
  }

  void OnRequestData(absl::string_view data, bool end_stream) override {
    if (upstream_ != nullptr && request_has_body_) {
      upstream_->SendData(data, end_stream);
    }
  }

  void OnDownstreamWatermark(bool above) override {
    // A slow client: stop reading the upstream rather than buffer for it.
    if (upstream_ != nullptr) {
      upstream_->ReadDisable(above);
    }
  }

  void OnResponseHeaders(http::ResponseHead& head) override {
    if (!cors_origin_.empty()) {
      head.headers.Set("Access-Control-Allow-Origin", cors_origin_);
      head.headers.Set("Access-Control-Expose-Headers", "Mcp-Session-Id, WWW-Authenticate");
      head.headers.Set("Vary", "Origin");
    }
  }

  void OnDestroy(http::StreamEnd) override {
    // The client is gone or the response is complete: an upstream request still open is
    // cancelled, which closes its connection.
    timer_.reset();
    upstream_.reset();
    if (streaming_) {
      metrics().Add(Gauge::kStreams, -1);
    }
  }

  // http::UpstreamCallbacks
  void OnResponseHeaders(http::ResponseHead&& head, bool end_stream) override {
    headers_seen_ = true;
    RequestContext& context = callbacks_.context();
    const absl::Duration waited = absl::FromChrono(callbacks_.dispatcher().Now() - sent_at_);
    context.upstream_time += waited;
    metrics().Observe(Histogram::kUpstreamMcp, waited);
    if (head.status >= 500) {
      metrics().Add(Counter::kUpstreamServerError);
    }
    if (head.status == 401) {
      metrics().Add(Counter::kUpstreamUnauthorized);
      // The upstream token is no good (expired, revoked upstream): the client must refresh or
      // re-authorize through the gateway, so it gets the gateway's challenge.
      upstream_.reset();
      http::LocalReply reply =
          http::ErrorReply(401, "invalid_token", "the upstream no longer accepts this token");
      reply.headers.Add("WWW-Authenticate",
                        BearerChallenge(context_.config, "invalid_token",
                                        "the upstream no longer accepts this token"));
      callbacks_.SendLocalReply(std::move(reply));
      return;
    }
    if (head.status == 403) {
      oauth::BearerChallengeParams challenge = oauth::FindBearerChallenge(head.headers);
      if (challenge.error == "insufficient_scope") {
        InsufficientScope(challenge.scope);
        return;
      }
    }
    const std::string* session = head.headers.Get("mcp-session-id");
    if (session != nullptr && head.status / 100 == 2) {
      config_->sessions->Bind(*session, context.user, context_.clock.Now());
    }
    if (context.request.method == "DELETE" && head.status / 100 == 2) {
      if (const std::string* ended = context.request.headers.Get("mcp-session-id")) {
        config_->sessions->Forget(*ended);
      }
    }
    const std::string* type = head.headers.Get("content-type");
    if (!end_stream && type != nullptr && absl::StartsWith(*type, "text/event-stream")) {
      // A long-lived stream: keep checking that its grant still stands.
      timer_ = callbacks_.dispatcher().CreateTimer([this] { CheckStreamGrant(); });
      timer_->Enable(config_->revocation_check);
      streaming_ = true;
      metrics().Add(Gauge::kStreams, 1);
    }
    // The upstream's fields that pass move (not copied) into the client's response.
    http::ResponseHead response;
    response.status = head.status;
    head.headers.RetainIf(
        [this](absl::string_view name) { return config_->response_fields.Contains(name); });
    response.headers = std::move(head.headers);
    callbacks_.EncodeHeaders(std::move(response), end_stream);
  }

  void OnResponseData(absl::string_view data, bool end_stream) override {
    callbacks_.EncodeData(data, end_stream);
  }

  void OnError(const absl::Status& status) override {
    upstream_.reset();
    log::Warning(absl::StrCat("request ", callbacks_.context().request_id,
                              ": upstream failed: ", status.message()));
    if (headers_seen_) {
      metrics().Add(Counter::kUpstreamReset);
      callbacks_.ResetStream();  // mid-stream: all the client can be told is the cut
      return;
    }
    const bool timeout = status.code() == absl::StatusCode::kDeadlineExceeded;
    metrics().Add(timeout ? Counter::kUpstreamTimeout : Counter::kUpstreamUnavailable);
    callbacks_.SendLocalReply(
        http::ErrorReply(timeout ? 504 : 502, timeout ? "upstream_timeout" : "bad_gateway",
                         timeout ? "the upstream MCP server did not answer in time"
                                 : "the upstream MCP server cannot be reached"));
  }

  void OnRequestWatermark(bool above) override {
    // A slow upstream: stop reading the client's body.
    callbacks_.ReadDisable(above);
  }

 private:
  Metrics& metrics() { return context_.server_state.metrics; }

  bool OriginAllowed(const std::string& origin) const {
    if (origin == config_->public_origin) {
      return true;
    }
    for (const std::string& allowed : config_->allowed_origins) {
      if (allowed == "*" || allowed == origin) {
        return true;
      }
    }
    return false;
  }

  void Start() {
    const RequestContext& context = callbacks_.context();
    const http::RequestHead& request = context.request;
    http::RequestHead head;
    head.method = request.method;
    // The MCP endpoint maps to the upstream URL; a sub-path of it, to the same sub-path there.
    absl::string_view suffix = absl::string_view(request.path)
                                   .substr(std::min(request.path.size(), config_->mcp_path.size()));
    if (!suffix.empty() && suffix.front() != '/') {
      // "/mcpx" only shares a prefix with the endpoint.
      callbacks_.SendLocalReply(http::ErrorReply(
          404, "not_found", absl::StrCat("no route for ", request.method, " ", request.path)));
      return;
    }
    if (!StaysUnderTheEndpoint(suffix)) {
      callbacks_.SendLocalReply(http::ErrorReply(
          400, "invalid_request", "the path has dot segments or encoded separators"));
      return;
    }
    std::string path = config_->upstream.path;
    if (!suffix.empty() && !path.empty() && path.back() == '/' && suffix.front() == '/') {
      suffix.remove_prefix(1);
    }
    path.append(suffix.data(), suffix.size());
    std::string query = config_->upstream.query;
    if (!request.query.empty()) {
      query = query.empty() ? request.query : absl::StrCat(query, "&", request.query);
    }
    head.target = query.empty() ? path : absl::StrCat(path, "?", query);
    head.headers.reserve(request.headers.size() + 5);
    head.headers.AppendIf(request.headers, [this](absl::string_view name) {
      return config_->request_fields.Contains(name);
    });
    // None of these is in kRequestHeaders, nor can be in pass_headers (its factory refuses
    // them): each is added once, and no client's value of them reaches the upstream. Their names
    // are constants, the authority was checked with the config, the scheme is http or https and
    // the address is numeric: vouched for (HeaderMap::AddVouched()). The token and the client's
    // Host (which a filter may have changed) are checked as they are added
    // (AddCheckingValue()); one that fails goes to the encoder unvouched, which refuses it.
    head.headers.AddVouched("Host", config_->upstream_authority);
    head.headers.AddCheckingValue("Authorization", absl::StrCat("Bearer ", context.upstream_token));
    head.headers.AddVouched("X-Forwarded-For", context.peer.Ip());
    head.headers.AddVouched("X-Forwarded-Proto", config_->public_scheme);
    if (const std::string* host = request.headers.Get("host")) {
      head.headers.AddCheckingValue("X-Forwarded-Host", *host);
    }
    const std::string* length = request.headers.Get("content-length");
    request_has_body_ =
        request.headers.Has("transfer-encoding") || (length != nullptr && *length != "0");

    sent_at_ = callbacks_.dispatcher().Now();
    // The response timeout is the upstream connection's to keep (its own timer): a head not
    // there in time comes back as OnError(DeadlineExceeded), a 504.
    upstream_ = callbacks_.http_client().Send(config_->upstream, std::move(head),
                                              /*end_stream=*/!request_has_body_, *this,
                                              http::AddressPolicy::kAny, config_->response_timeout);
    if (request_has_body_) {
      callbacks_.StreamRequestBody();
    }
  }

  // Every revocation_check on an open stream (the timer exists only then): is its grant still
  // there? (Without a token record, nothing vouches for it.)
  void CheckStreamGrant() {
    const std::shared_ptr<const store::TokenRecord>& record = callbacks_.context().token;
    callbacks_.store().GetToken(
        record != nullptr ? record->token_hash : std::string(),
        liveness_.Guard([this](absl::StatusOr<std::shared_ptr<const store::TokenRecord>> token) {
          if (token.ok() && *token == nullptr) {
            log::Info(absl::StrCat("request ", callbacks_.context().request_id,
                                   ": closing a stream whose token was revoked or expired"));
            callbacks_.ResetStream();
            return;
          }
          timer_->Enable(config_->revocation_check);
        }));
  }

  void InsufficientScope(const std::string& scope) {
    upstream_.reset();
    // The client will authorize again asking for `scope`: the upstream is then asked for it too.
    context_.upstream.NoteChallengeScope(scope);
    // Refreshing cannot add scope: the grant must be authorized again (DESIGN.md).
    const std::shared_ptr<const store::TokenRecord>& token = callbacks_.context().token;
    const std::string grant_id = token != nullptr ? token->grant_id : std::string();
    callbacks_.store().GetGrant(
        grant_id, [&store = callbacks_.store()](absl::StatusOr<std::optional<store::Grant>> grant) {
          if (grant.ok() && grant->has_value()) {
            store::Grant marked = **grant;
            marked.needs_reauthorization = true;
            store.UpdateGrant(std::move(marked), [](absl::Status) {});
          }
        });
    std::string challenge =
        absl::StrCat("Bearer error=\"insufficient_scope\"",
                     scope.empty() ? "" : absl::StrCat(", scope=\"", scope, "\""),
                     ", resource_metadata=\"", context_.config.listener.public_url,
                     "/.well-known/oauth-protected-resource", context_.config.oauth.mcp_path, "\"");
    http::LocalReply reply =
        http::ErrorReply(403, "insufficient_scope", "the upstream needs more scope");
    reply.headers.Add("WWW-Authenticate", challenge);
    callbacks_.SendLocalReply(std::move(reply));
  }

  FilterCallbacks& callbacks_;
  const FactoryContext context_;
  std::shared_ptr<const ForwardConfig> config_;
  std::unique_ptr<http::UpstreamRequest> upstream_;
  // An open stream's revocation checks. Not guarded: the timer is this filter's own, and goes
  // with it.
  std::unique_ptr<Timer> timer_;
  std::string cors_origin_;
  bool request_has_body_ = false;
  bool streaming_ = false;
  bool headers_seen_ = false;
  MonotonicTime sent_at_;
  Liveness liveness_;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> UpstreamForwardFactory::CreateFilterFactory(
    const config::Node& config, FactoryContext& context) const {
  config::MapReader reader(config);
  auto parsed = std::make_shared<ForwardConfig>();
  parsed->response_timeout = reader.Duration("response_timeout", parsed->response_timeout);
  parsed->revocation_check = reader.Duration("revocation_check", parsed->revocation_check);
  parsed->allowed_origins = reader.StringList("allowed_origins");
  for (absl::string_view name : kRequestHeaders) {
    parsed->request_fields.Insert(name);
  }
  for (absl::string_view name : kResponseHeaders) {
    parsed->response_fields.Insert(name);
  }
  for (const std::string& name : reader.StringList("pass_headers")) {
    const std::string lower = absl::AsciiStrToLower(name);
    if (!http::IsValidHeaderName(name) ||
        std::find(std::begin(kNeverPassed), std::end(kNeverPassed), lower) !=
            std::end(kNeverPassed)) {
      reader.AddError(reader.Child("pass_headers")
                          .Error(absl::StrCat("\"", name, "\" cannot be passed through")));
    }
    parsed->request_fields.Insert(lower);
    parsed->response_fields.Insert(lower);
  }
  for (const char* key : {"response_timeout", "revocation_check"}) {
    if (reader.Has(key) && reader.Duration(key, absl::Seconds(1)) < absl::Milliseconds(100)) {
      reader.AddError(reader.Child(key).Error("must be at least 100ms"));
    }
  }
  if (absl::Status status = reader.Finish(); !status.ok()) {
    return status;
  }
  absl::StatusOr<Url> upstream = ParseUrl(context.config.upstream.rs);
  absl::StatusOr<Url> public_url = ParseUrl(context.config.listener.public_url);
  if (!upstream.ok() || !public_url.ok()) {
    return absl::InvalidArgumentError("upstream.rs and listener.public_url must be URLs");
  }
  parsed->upstream = *upstream;
  parsed->upstream_authority = upstream->Authority();
  if (!http::IsValidHeaderValue(parsed->upstream_authority)) {
    return absl::InvalidArgumentError(
        "upstream.rs has a host that cannot be sent as a Host header");
  }
  parsed->mcp_path = context.config.oauth.mcp_path;
  parsed->public_origin = public_url->Origin();
  parsed->public_scheme = public_url->scheme;
  parsed->sessions = std::make_shared<McpSessions>();
  std::shared_ptr<const ForwardConfig> shared = std::move(parsed);
  return [context, shared](FilterCallbacks& callbacks) -> std::unique_ptr<Filter> {
    return std::make_unique<UpstreamForwardFilter>(callbacks, context, shared);
  };
}

}  // namespace gateway::filters
