#include "source/common/store/record_codec.h"

#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "source/common/crypto.h"
#include "source/common/json.h"
#include "source/common/token/key_ring.h"
#include "source/common/token/token_pair.h"

namespace gateway::store {
namespace {

// Times are Unix microseconds.
int64_t Micros(absl::Time time) { return absl::ToUnixMicros(time); }

// Writes one record; fields in the order they are added.
class Encoder {
 public:
  Encoder() { writer_->StartObject(); }
  Encoder& String(absl::string_view key, absl::string_view value) {
    writer_.Key(key);
    writer_.String(value);
    return *this;
  }
  Encoder& Time(absl::string_view key, absl::Time value) {
    writer_.Key(key);
    writer_->Int64(Micros(value));
    return *this;
  }
  Encoder& OptionalTime(absl::string_view key, const std::optional<absl::Time>& value) {
    if (value.has_value()) {
      Time(key, *value);
    }
    return *this;
  }
  Encoder& Bool(absl::string_view key, bool value) {
    writer_.Key(key);
    writer_->Bool(value);
    return *this;
  }
  Encoder& Strings(absl::string_view key, const std::vector<std::string>& values) {
    writer_.Key(key);
    writer_->StartArray();
    for (const std::string& value : values) {
      writer_.String(value);
    }
    writer_->EndArray();
    return *this;
  }
  // A refresh token's rotation state.
  Encoder& Rotation(const TokenRecord& token) {
    return String("successor_hash", token.successor_hash)
        .OptionalTime("rotated_at", token.rotated_at)
        .String("successor_response", crypto::Base64UrlEncode(token.successor_response));
  }
  std::string Finish() {
    writer_->EndObject();
    return writer_.Finish();
  }

 private:
  json::Writer writer_;
};

// Reads one record; the first missing or mistyped field is remembered and reported by Finish().
class Decoder {
 public:
  Decoder(absl::string_view kind, absl::string_view text) : kind_(kind) {
    absl::StatusOr<rapidjson::Document> parsed = json::Parse(text);
    if (!parsed.ok()) {
      Fail(parsed.status().message());
    } else if (!parsed->IsObject()) {
      Fail("not a JSON object");
    } else {
      document_ = std::move(*parsed);
    }
  }

  std::string String(const char* key) {
    const rapidjson::Value* value = Find(key);
    if (value == nullptr) {
      return {};
    }
    if (!value->IsString()) {
      Fail(absl::StrCat(key, " is not a string"));
      return {};
    }
    return std::string(value->GetString(), value->GetStringLength());
  }
  absl::Time Time(const char* key) {
    const rapidjson::Value* value = Find(key);
    if (value == nullptr) {
      return absl::InfinitePast();
    }
    if (!value->IsInt64()) {
      Fail(absl::StrCat(key, " is not a time"));
      return absl::InfinitePast();
    }
    return absl::FromUnixMicros(value->GetInt64());
  }
  std::optional<absl::Time> OptionalTime(const char* key) {
    if (!Has(key)) {
      return std::nullopt;
    }
    return Time(key);
  }
  bool Bool(const char* key) {
    const rapidjson::Value* value = Find(key);
    if (value == nullptr) {
      return false;
    }
    if (!value->IsBool()) {
      Fail(absl::StrCat(key, " is not a boolean"));
      return false;
    }
    return value->GetBool();
  }
  std::vector<std::string> Strings(const char* key) {
    std::vector<std::string> out;
    const rapidjson::Value* value = Find(key);
    if (value == nullptr) {
      return out;
    }
    if (!value->IsArray()) {
      Fail(absl::StrCat(key, " is not an array"));
      return out;
    }
    for (const rapidjson::Value& item : value->GetArray()) {
      if (!item.IsString()) {
        Fail(absl::StrCat(key, " holds something other than strings"));
        return {};
      }
      out.emplace_back(item.GetString(), item.GetStringLength());
    }
    return out;
  }
  void Rotation(TokenRecord& token) {
    token.successor_hash = String("successor_hash");
    token.rotated_at = OptionalTime("rotated_at");
    if (!crypto::Base64UrlDecode(String("successor_response"), &token.successor_response)) {
      Fail("successor_response is not base64url");
    }
  }
  bool Has(const char* key) const { return error_.empty() && document_.HasMember(key); }
  void Fail(absl::string_view message) {
    if (error_.empty()) {
      error_ = std::string(message);
    }
  }

  template <typename T>
  absl::StatusOr<T> Finish(T record) const {
    if (!error_.empty()) {
      return absl::DataLossError(absl::StrCat("a stored ", kind_, " is damaged: ", error_));
    }
    return record;
  }

 private:
  const rapidjson::Value* Find(const char* key) {
    if (!error_.empty()) {
      return nullptr;
    }
    auto member = document_.FindMember(key);
    if (member == document_.MemberEnd()) {
      Fail(absl::StrCat(key, " is missing"));
      return nullptr;
    }
    return &member->value;
  }

  const absl::string_view kind_;
  rapidjson::Document document_;
  std::string error_;
};

// What a sealed value is bound to, so that one cannot be moved to another record.
std::string GrantBinding(const std::string& grant_id, absl::string_view field) {
  return absl::StrCat("grant/", grant_id, "/", field);
}

std::string SealField(const token::KeyRing& keys, absl::string_view value,
                      const std::string& binding) {
  return crypto::Base64UrlEncode(token::Seal(keys, value, binding));
}

absl::StatusOr<std::string> UnsealField(const token::KeyRing& keys, absl::string_view sealed,
                                        const std::string& binding) {
  std::string bytes;
  if (!crypto::Base64UrlDecode(sealed, &bytes)) {
    return absl::DataLossError("a sealed value is not base64url");
  }
  absl::StatusOr<std::string> value = token::Unseal(keys, bytes, binding);
  if (!value.ok()) {
    return absl::UnauthenticatedError(
        "sealed with a key this gateway does not have (tokens.key_file changed?)");
  }
  return value;
}

}  // namespace

std::string RecordCodec::EncodeClient(const Client& client) const {
  return Encoder()
      .String("client_id", client.client_id)
      .String("secret_hash", client.secret_hash)
      .String("auth_method", client.auth_method)
      .Strings("redirect_uris", client.redirect_uris)
      .String("client_name", client.client_name)
      .String("metadata", client.metadata_json)
      .Time("created_at", client.created_at)
      .Time("last_used_at", client.last_used_at)
      .Finish();
}

absl::StatusOr<Client> RecordCodec::DecodeClient(absl::string_view text) const {
  Decoder in("client", text);
  Client client;
  client.client_id = in.String("client_id");
  client.secret_hash = in.String("secret_hash");
  client.auth_method = in.String("auth_method");
  client.redirect_uris = in.Strings("redirect_uris");
  client.client_name = in.String("client_name");
  client.metadata_json = in.String("metadata");
  client.created_at = in.Time("created_at");
  client.last_used_at = in.Time("last_used_at");
  return in.Finish(std::move(client));
}

std::string RecordCodec::EncodeFlow(const Flow& flow) const {
  return Encoder()
      .String("flow_id", flow.flow_id)
      .String("client_id", flow.client_id)
      .String("client_name", flow.client_name)
      .String("redirect_uri", flow.redirect_uri)
      .String("state", flow.state)
      .String("code_challenge", flow.code_challenge)
      .String("scope", flow.scope)
      .String("resource", flow.resource)
      .String("csrf_token", flow.csrf_token)
      .String("user", flow.user)
      .String("upstream_state", flow.upstream_state)
      .String("upstream_code_verifier", flow.upstream_code_verifier)
      .Time("expires_at", flow.expires_at)
      .Finish();
}

absl::StatusOr<Flow> RecordCodec::DecodeFlow(absl::string_view text) const {
  Decoder in("authorization in progress", text);
  Flow flow;
  flow.flow_id = in.String("flow_id");
  flow.client_id = in.String("client_id");
  flow.client_name = in.String("client_name");
  flow.redirect_uri = in.String("redirect_uri");
  flow.state = in.String("state");
  flow.code_challenge = in.String("code_challenge");
  flow.scope = in.String("scope");
  flow.resource = in.String("resource");
  flow.csrf_token = in.String("csrf_token");
  flow.user = in.String("user");
  flow.upstream_state = in.String("upstream_state");
  flow.upstream_code_verifier = in.String("upstream_code_verifier");
  flow.expires_at = in.Time("expires_at");
  return in.Finish(std::move(flow));
}

std::string RecordCodec::EncodeCode(const Code& code, bool taken) const {
  return Encoder()
      .String("code_hash", code.code_hash)
      .String("client_id", code.client_id)
      .String("redirect_uri", code.redirect_uri)
      .String("code_challenge", code.code_challenge)
      .String("scope", code.scope)
      .String("resource", code.resource)
      .String("user", code.user)
      .String("grant_id", code.grant_id)
      .Time("expires_at", code.expires_at)
      .Bool("taken", taken)
      .Finish();
}

absl::StatusOr<std::pair<Code, bool>> RecordCodec::DecodeCode(absl::string_view text) const {
  Decoder in("authorization code", text);
  Code code;
  code.code_hash = in.String("code_hash");
  code.client_id = in.String("client_id");
  code.redirect_uri = in.String("redirect_uri");
  code.code_challenge = in.String("code_challenge");
  code.scope = in.String("scope");
  code.resource = in.String("resource");
  code.user = in.String("user");
  code.grant_id = in.String("grant_id");
  code.expires_at = in.Time("expires_at");
  const bool taken = in.Bool("taken");
  return in.Finish(std::make_pair(std::move(code), taken));
}

std::string RecordCodec::EncodeGrant(const Grant& grant) const {
  Encoder out;
  out.String("grant_id", grant.grant_id)
      .String("user", grant.user)
      .String("client_id", grant.client_id)
      .String("scope", grant.scope)
      .String("resource", grant.resource)
      .String("upstream_access_token", SealField(keys_, grant.upstream_access_token,
                                                 GrantBinding(grant.grant_id, "access")));
  if (!grant.upstream_refresh_token.empty()) {
    out.String("upstream_refresh_token", SealField(keys_, grant.upstream_refresh_token,
                                                   GrantBinding(grant.grant_id, "refresh")));
  }
  return out.OptionalTime("upstream_expires_at", grant.upstream_expires_at)
      .String("upstream_scope", grant.upstream_scope)
      .Bool("needs_reauthorization", grant.needs_reauthorization)
      .Time("created_at", grant.created_at)
      .Time("expires_at", grant.expires_at)
      .Finish();
}

absl::StatusOr<Grant> RecordCodec::DecodeGrant(absl::string_view text) const {
  Decoder in("grant", text);
  Grant grant;
  grant.grant_id = in.String("grant_id");
  grant.user = in.String("user");
  grant.client_id = in.String("client_id");
  grant.scope = in.String("scope");
  grant.resource = in.String("resource");
  const std::string sealed_access = in.String("upstream_access_token");
  const std::string sealed_refresh =
      in.Has("upstream_refresh_token") ? in.String("upstream_refresh_token") : std::string();
  grant.upstream_expires_at = in.OptionalTime("upstream_expires_at");
  grant.upstream_scope = in.String("upstream_scope");
  grant.needs_reauthorization = in.Bool("needs_reauthorization");
  grant.created_at = in.Time("created_at");
  grant.expires_at = in.Time("expires_at");
  absl::StatusOr<Grant> decoded = in.Finish(std::move(grant));
  if (!decoded.ok()) {
    return decoded;
  }
  absl::StatusOr<std::string> access =
      UnsealField(keys_, sealed_access, GrantBinding(decoded->grant_id, "access"));
  if (!access.ok()) {
    return access.status();
  }
  decoded->upstream_access_token = std::move(*access);
  if (!sealed_refresh.empty()) {
    absl::StatusOr<std::string> refresh =
        UnsealField(keys_, sealed_refresh, GrantBinding(decoded->grant_id, "refresh"));
    if (!refresh.ok()) {
      return refresh.status();
    }
    decoded->upstream_refresh_token = std::move(*refresh);
  }
  return decoded;
}

std::string RecordCodec::EncodeToken(const TokenRecord& token) const {
  return Encoder()
      .String("token_hash", token.token_hash)
      .String("kind", token.kind == TokenKind::kRefresh ? "refresh" : "access")
      .String("grant_id", token.grant_id)
      .String("user", token.user)
      .String("client_id", token.client_id)
      .String("resource", token.resource)
      .String("scope", token.scope)
      .String("upstream_part_hash", token.upstream_part_hash)
      .Time("expires_at", token.expires_at)
      .Rotation(token)
      .Finish();
}

absl::StatusOr<TokenRecord> RecordCodec::DecodeToken(absl::string_view text) const {
  Decoder in("token", text);
  TokenRecord token;
  token.token_hash = in.String("token_hash");
  const std::string kind = in.String("kind");
  if (kind == "refresh") {
    token.kind = TokenKind::kRefresh;
  } else if (kind != "access") {
    in.Fail("kind is neither access nor refresh");
  }
  token.grant_id = in.String("grant_id");
  token.user = in.String("user");
  token.client_id = in.String("client_id");
  token.resource = in.String("resource");
  token.scope = in.String("scope");
  token.upstream_part_hash = in.String("upstream_part_hash");
  token.expires_at = in.Time("expires_at");
  in.Rotation(token);
  return in.Finish(std::move(token));
}

std::string RecordCodec::EncodeRotation(const TokenRecord& token) const {
  return Encoder().Rotation(token).Finish();
}

absl::Status RecordCodec::DecodeRotation(absl::string_view text, TokenRecord& into) const {
  Decoder in("token rotation", text);
  in.Rotation(into);
  return in.Finish(true).status();
}

std::string RecordCodec::EncodeConsent(const Consent& consent) const {
  return Encoder()
      .String("user", consent.user)
      .String("client_id", consent.client_id)
      .String("scope", consent.scope)
      .Time("approved_at", consent.approved_at)
      .Finish();
}

absl::StatusOr<Consent> RecordCodec::DecodeConsent(absl::string_view text) const {
  Decoder in("consent", text);
  Consent consent;
  consent.user = in.String("user");
  consent.client_id = in.String("client_id");
  consent.scope = in.String("scope");
  consent.approved_at = in.Time("approved_at");
  return in.Finish(std::move(consent));
}

std::string RecordCodec::EncodeMeta(const std::string& key, const std::string& value) const {
  return Encoder().String("sealed", SealField(keys_, value, absl::StrCat("meta/", key))).Finish();
}

absl::StatusOr<std::string> RecordCodec::DecodeMeta(const std::string& key,
                                                    absl::string_view text) const {
  Decoder in("gateway document", text);
  std::string sealed = in.String("sealed");
  absl::StatusOr<std::string> decoded = in.Finish(std::move(sealed));
  if (!decoded.ok()) {
    return decoded;
  }
  return UnsealField(keys_, *decoded, absl::StrCat("meta/", key));
}

}  // namespace gateway::store
