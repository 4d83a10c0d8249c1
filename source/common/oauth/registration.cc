#include "source/common/oauth/registration.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "source/common/json.h"
#include "source/common/oauth/redirect_uri.h"

namespace gateway::oauth {
namespace {

constexpr size_t kMaxRedirectUris = 20;
constexpr size_t kMaxStringBytes = 2048;

// The metadata fields the gateway keeps and echoes (RFC 7591 section 2, plus OpenID's
// application_type, which native clients send). Others are ignored, as section 2 allows.
constexpr const char* kStringFields[] = {"client_name", "client_uri",       "logo_uri",
                                         "scope",       "tos_uri",          "policy_uri",
                                         "software_id", "software_version", "application_type"};

absl::Status Invalid(std::string* code, absl::string_view which, std::string message) {
  *code = std::string(which);
  return absl::InvalidArgumentError(std::move(message));
}

// Copies `name` (an array of strings) into `out`; `fallback` when absent.
absl::Status StringList(const rapidjson::Value& object, const char* name,
                        std::vector<std::string> fallback, std::vector<std::string>& out,
                        std::string* code) {
  auto member = object.FindMember(name);
  if (member == object.MemberEnd()) {
    out = std::move(fallback);
    return absl::OkStatus();
  }
  if (!member->value.IsArray()) {
    return Invalid(code, "invalid_client_metadata", absl::StrCat(name, " must be an array"));
  }
  for (const auto& item : member->value.GetArray()) {
    if (!item.IsString() || item.GetStringLength() > kMaxStringBytes) {
      return Invalid(code, "invalid_client_metadata",
                     absl::StrCat(name, " must hold strings of at most 2048 bytes"));
    }
    out.emplace_back(item.GetString(), item.GetStringLength());
  }
  return absl::OkStatus();
}

void WriteList(json::Writer& writer, const char* key, const std::vector<std::string>& items) {
  writer.Key(key);
  writer->StartArray();
  for (const std::string& item : items) {
    writer.String(item);
  }
  writer->EndArray();
}

}  // namespace

absl::StatusOr<ParsedRegistration> ParseRegistration(absl::string_view body,
                                                     std::string* error_code) {
  absl::StatusOr<rapidjson::Document> document = json::Parse(body);
  if (!document.ok()) {
    return Invalid(error_code, "invalid_client_metadata",
                   absl::StrCat("the body is not JSON: ", document.status().message()));
  }
  if (!document->IsObject()) {
    return Invalid(error_code, "invalid_client_metadata", "the body must be a JSON object");
  }
  ParsedRegistration out;
  store::Client& client = out.client;

  if (absl::Status status =
          StringList(*document, "redirect_uris", {}, client.redirect_uris, error_code);
      !status.ok()) {
    *error_code = "invalid_redirect_uri";
    return status;
  }
  if (client.redirect_uris.empty()) {
    return Invalid(error_code, "invalid_redirect_uri", "redirect_uris is required");
  }
  if (client.redirect_uris.size() > kMaxRedirectUris) {
    return Invalid(error_code, "invalid_redirect_uri", "at most 20 redirect_uris");
  }
  for (const std::string& uri : client.redirect_uris) {
    if (absl::Status status = ValidateRedirectUri(uri); !status.ok()) {
      return Invalid(error_code, "invalid_redirect_uri", std::string(status.message()));
    }
  }

  client.auth_method = "client_secret_basic";  // RFC 7591 section 2: the default
  if (auto method = document->FindMember("token_endpoint_auth_method");
      method != document->MemberEnd()) {
    if (!method->value.IsString()) {
      return Invalid(error_code, "invalid_client_metadata",
                     "token_endpoint_auth_method must be a string");
    }
    client.auth_method = method->value.GetString();
  }
  if (client.auth_method != "none" && client.auth_method != "client_secret_post" &&
      client.auth_method != "client_secret_basic") {
    return Invalid(error_code, "invalid_client_metadata",
                   absl::StrCat("token_endpoint_auth_method \"", client.auth_method,
                                "\" is not supported (none, client_secret_post, "
                                "client_secret_basic)"));
  }
  out.confidential = client.auth_method != "none";

  std::vector<std::string> grant_types;
  std::vector<std::string> response_types;
  if (absl::Status status =
          StringList(*document, "grant_types", {"authorization_code"}, grant_types, error_code);
      !status.ok()) {
    return status;
  }
  if (absl::Status status =
          StringList(*document, "response_types", {"code"}, response_types, error_code);
      !status.ok()) {
    return status;
  }
  for (const std::string& grant : grant_types) {
    if (grant != "authorization_code" && grant != "refresh_token") {
      return Invalid(error_code, "invalid_client_metadata",
                     absl::StrCat("grant type \"", grant,
                                  "\" is not supported (authorization_code, refresh_token)"));
    }
  }
  for (const std::string& type : response_types) {
    if (type != "code") {
      return Invalid(error_code, "invalid_client_metadata",
                     absl::StrCat("response type \"", type, "\" is not supported (code)"));
    }
  }

  // What is echoed: the fields above, with defaults filled in, and the known optional ones.
  json::Writer echo;
  echo->StartObject();
  WriteList(echo, "redirect_uris", client.redirect_uris);
  echo.Key("token_endpoint_auth_method");
  echo.String(client.auth_method);
  WriteList(echo, "grant_types", grant_types);
  WriteList(echo, "response_types", response_types);
  for (const char* field : kStringFields) {
    auto member = document->FindMember(field);
    if (member == document->MemberEnd() || member->value.IsNull()) {
      continue;
    }
    if (!member->value.IsString() || member->value.GetStringLength() > kMaxStringBytes) {
      return Invalid(error_code, "invalid_client_metadata",
                     absl::StrCat(field, " must be a string of at most 2048 bytes"));
    }
    const std::string value(member->value.GetString(), member->value.GetStringLength());
    if (std::string(field) == "client_name") {
      client.client_name = value;
    }
    echo.Key(field);
    echo.String(value);
  }
  std::vector<std::string> contacts;
  if (absl::Status status = StringList(*document, "contacts", {}, contacts, error_code);
      !status.ok()) {
    return status;
  }
  if (!contacts.empty()) {
    WriteList(echo, "contacts", contacts);
  }
  echo->EndObject();
  client.metadata_json = echo.Finish();
  if (client.client_name.empty()) {
    client.client_name = RedirectUriHost(client.redirect_uris.front());
  }
  return out;
}

std::string RegistrationResponse(const store::Client& client, const std::string& client_secret) {
  rapidjson::Document metadata;
  metadata.Parse(client.metadata_json.data(), client.metadata_json.size());
  json::Writer writer;
  writer->StartObject();
  writer.Key("client_id");
  writer.String(client.client_id);
  writer.Key("client_id_issued_at");
  writer->Int64(absl::ToUnixSeconds(client.created_at));
  if (!client_secret.empty()) {
    writer.Key("client_secret");
    writer.String(client_secret);
    writer.Key("client_secret_expires_at");
    writer->Int64(0);  // never
  }
  if (!metadata.HasParseError() && metadata.IsObject()) {
    for (const auto& member : metadata.GetObject()) {
      writer.Key(absl::string_view(member.name.GetString(), member.name.GetStringLength()));
      member.value.Accept(*writer);
    }
  }
  writer->EndObject();
  return writer.Finish();
}

}  // namespace gateway::oauth
