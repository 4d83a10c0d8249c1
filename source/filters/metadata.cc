#include "source/filters/metadata.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "source/common/json.h"
#include "source/common/oauth/cors.h"

namespace gateway::filters {
namespace {

struct MetadataDocuments {
  std::string protected_resource_path;  // /.well-known/oauth-protected-resource<mcp_path>
  std::string protected_resource;       // the RFC 9728 document
  std::string authorization_server;     // the RFC 8414 document
};

void StringArray(json::Writer& writer, const char* key, std::initializer_list<const char*> items) {
  writer.Key(key);
  writer->StartArray();
  for (const char* item : items) {
    writer.String(item);
  }
  writer->EndArray();
}

void Scopes(json::Writer& writer, const std::vector<std::string>& scopes) {
  if (scopes.empty()) {
    return;  // any scope is accepted: none is advertised
  }
  writer.Key("scopes_supported");
  writer->StartArray();
  for (const std::string& scope : scopes) {
    writer.String(scope);
  }
  writer->EndArray();
}

MetadataDocuments Build(const Config& config) {
  MetadataDocuments out;
  const std::string& issuer = config.Issuer();
  out.protected_resource_path =
      absl::StrCat("/.well-known/oauth-protected-resource", config.oauth.mcp_path);

  json::Writer resource;
  resource->StartObject();
  resource.Key("resource");
  resource.String(config.ResourceUrl());
  resource.Key("authorization_servers");
  resource->StartArray();
  resource.String(issuer);
  resource->EndArray();
  Scopes(resource, config.oauth.scopes);
  StringArray(resource, "bearer_methods_supported", {"header"});
  resource.Key("resource_name");
  resource.String("MCP server behind mcp-oauth-gateway");
  resource->EndObject();
  out.protected_resource = resource.Finish();

  json::Writer server;
  server->StartObject();
  server.Key("issuer");
  server.String(issuer);
  for (const auto& [key, path] :
       {std::pair<const char*, const char*>{"authorization_endpoint", "/authorize"},
        {"token_endpoint", "/token"},
        {"registration_endpoint", "/register"},
        {"revocation_endpoint", "/revoke"}}) {
    server.Key(key);
    server.String(absl::StrCat(issuer, path));
  }
  StringArray(server, "response_types_supported", {"code"});
  StringArray(server, "response_modes_supported", {"query"});
  StringArray(server, "grant_types_supported", {"authorization_code", "refresh_token"});
  StringArray(server, "code_challenge_methods_supported", {"S256"});
  StringArray(server, "token_endpoint_auth_methods_supported",
              {"none", "client_secret_post", "client_secret_basic"});
  StringArray(server, "revocation_endpoint_auth_methods_supported",
              {"none", "client_secret_post", "client_secret_basic"});
  Scopes(server, config.oauth.scopes);
  server.Key("authorization_response_iss_parameter_supported");  // RFC 9207
  server->Bool(true);
  if (config.oauth.client_metadata_documents) {
    server.Key("client_id_metadata_document_supported");
    server->Bool(true);
  }
  server->EndObject();
  out.authorization_server = server.Finish();
  return out;
}

class MetadataFilter : public Filter {
 public:
  MetadataFilter(FilterCallbacks& callbacks, std::shared_ptr<const MetadataDocuments> documents)
      : callbacks_(callbacks), documents_(std::move(documents)) {}

  FilterStatus OnRequestHeaders() override {
    const http::RequestHead& request = callbacks_.context().request;
    const std::string* document = Find(request.path);
    if (document == nullptr) {
      return FilterStatus::kContinue;
    }
    answered_ = true;
    if (request.method == "OPTIONS") {
      callbacks_.SendLocalReply(oauth::CorsPreflight("GET"));
    } else if (request.method != "GET" && request.method != "HEAD") {
      callbacks_.SendLocalReply(oauth::MethodNotAllowed("GET"));
    } else {
      http::LocalReply reply;
      reply.content_type = "application/json";
      reply.body = *document;
      reply.headers.Add("Cache-Control", "public, max-age=3600");
      callbacks_.SendLocalReply(std::move(reply));
    }
    return FilterStatus::kStopIteration;
  }

  void OnResponseHeaders(http::ResponseHead& head) override {
    if (answered_) {
      oauth::AddCorsHeaders(head.headers);
    }
  }

 private:
  const std::string* Find(absl::string_view path) const {
    if (path == "/.well-known/oauth-protected-resource" ||
        path == documents_->protected_resource_path) {
      return &documents_->protected_resource;
    }
    if (path == "/.well-known/oauth-authorization-server" ||
        path == "/.well-known/openid-configuration") {
      return &documents_->authorization_server;
    }
    return nullptr;
  }

  FilterCallbacks& callbacks_;
  std::shared_ptr<const MetadataDocuments> documents_;
  bool answered_ = false;
};

}  // namespace

absl::StatusOr<FilterFactoryFn> MetadataFactory::CreateFilterFactory(
    const config::Node& config, FactoryContext& context) const {
  config::MapReader reader(config);
  if (absl::Status status = reader.Finish(); !status.ok()) {
    return status;
  }
  std::shared_ptr<const MetadataDocuments> documents =
      std::make_shared<const MetadataDocuments>(Build(context.config));
  return [documents](FilterCallbacks& callbacks) -> std::unique_ptr<Filter> {
    return std::make_unique<MetadataFilter>(callbacks, documents);
  };
}

}  // namespace gateway::filters
