// application/x-www-form-urlencoded as the gateway reads it from clients (the query of
// /authorize and /upstream/callback, the bodies of /token, /revoke and the login form) and from
// upstreams (GitHub's form-encoded token responses): oauth::Form::Parse and FormDecode. Round
// trips check that what the gateway encodes (redirects, token requests) decodes to what it meant.

#include <cstddef>
#include <cstdint>
#include <string>

#include "source/common/oauth/form.h"
#include "test/fuzz/check.h"

namespace {

using gateway::fuzz::Check;

// The parameters the gateway reads.
constexpr const char* kNames[] = {"grant_type", "code",          "redirect_uri", "client_id",
                                  "state",      "code_verifier", "scope",        "resource",
                                  "token",      "access_token",  "error",        "iss"};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  absl::StatusOr<gateway::oauth::Form> form = gateway::oauth::Form::Parse(input);
  if (form.ok()) {
    for (const char* name : kNames) {
      Check(form->Has(name) || form->Get(name).empty(), "an absent parameter reads as empty");
    }
  }

  std::string decoded;
  if (gateway::oauth::FormDecode(input, &decoded)) {
    Check(decoded.size() <= input.size(), "decoding never grows the text");
    std::string again;
    Check(
        gateway::oauth::FormDecode(gateway::oauth::FormEncode(decoded), &again) && again == decoded,
        "FormEncode then FormDecode round-trips a decoded value");
  }
  std::string raw;
  Check(gateway::oauth::FormDecode(gateway::oauth::FormEncode(input), &raw) && raw == input,
        "FormEncode then FormDecode round-trips any bytes");

  // A redirect the gateway builds carries any value through intact.
  const std::string query =
      gateway::oauth::EncodeForm({{"code", std::string(input)}, {"state", "s"}});
  absl::StatusOr<gateway::oauth::Form> parsed = gateway::oauth::Form::Parse(query);
  Check(parsed.ok() && parsed->Get("code") == input && parsed->Get("state") == "s",
        "EncodeForm then Form::Parse round-trips");
  const std::string url =
      gateway::oauth::AppendQuery("https://client.example/cb?x=1", {{"code", std::string(input)}});
  absl::StatusOr<gateway::oauth::Form> appended =
      gateway::oauth::Form::Parse(absl::string_view(url).substr(url.find('?') + 1));
  Check(appended.ok() && appended->Get("x") == "1" && appended->Get("code") == input,
        "AppendQuery keeps the URL's query and adds the parameters");
  return 0;
}
