#include "test/support/browser.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "source/common/crypto.h"
#include "source/common/oauth/form.h"
#include "source/common/url.h"

namespace gateway::testing {
namespace {

// The value of attribute `name` in one HTML tag, unescaped for the few entities pages use.
std::string Attribute(absl::string_view tag, absl::string_view name) {
  const std::string needle = absl::StrCat(" ", name, "=\"");
  const size_t at = tag.find(needle);
  if (at == absl::string_view::npos) {
    return "";
  }
  const size_t start = at + needle.size();
  const size_t end = tag.find('"', start);
  std::string value(tag.substr(start, end - start));
  value = absl::StrReplaceAll(
      value, {{"&quot;", "\""}, {"&#39;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}});
  return value;
}

}  // namespace

absl::StatusOr<RawResponse> Send(const Endpoint& endpoint, const HttpRequest& request) {
  absl::StatusOr<RawClient> client = endpoint.ca_file.empty()
                                         ? RawClient::Connect(endpoint.port)
                                         : RawClient::ConnectTls(endpoint.port, endpoint.ca_file);
  if (!client.ok()) {
    return client.status();
  }
  std::string text = absl::StrCat(request.method, " ", request.target,
                                  " HTTP/1.1\r\nHost: 127.0.0.1:", endpoint.port, "\r\n");
  for (const auto& [name, value] : request.headers) {
    absl::StrAppend(&text, name, ": ", value, "\r\n");
  }
  if (!request.body.empty() || request.method == "POST") {
    absl::StrAppend(&text, "Content-Length: ", request.body.size(), "\r\n");
  }
  absl::StrAppend(&text, "\r\n", request.body);
  if (!client->Send(text)) {
    return absl::UnavailableError("send failed");
  }
  return client->ReadResponse(absl::Seconds(20), request.method == "HEAD");
}

absl::StatusOr<RawResponse> GetUrl(const std::string& url, const std::string& ca_file) {
  absl::StatusOr<Url> parsed = ParseUrl(url);
  if (!parsed.ok()) {
    return parsed.status();
  }
  return Send(Endpoint(parsed->port, parsed->tls() ? ca_file : ""),
              HttpRequest{"GET", parsed->Target(), {}, ""});
}

absl::StatusOr<RawResponse> PostForm(const Endpoint& endpoint, const std::string& target,
                                     const std::vector<std::pair<std::string, std::string>>& form,
                                     std::vector<std::pair<std::string, std::string>> headers) {
  headers.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  return Send(endpoint, HttpRequest{"POST", target, std::move(headers), oauth::EncodeForm(form)});
}

absl::StatusOr<HtmlForm> FirstForm(absl::string_view html) {
  const size_t form_at = html.find("<form");
  if (form_at == absl::string_view::npos) {
    return absl::NotFoundError("no <form> on the page");
  }
  const size_t form_end = html.find("</form>", form_at);
  const absl::string_view form = html.substr(form_at, form_end - form_at);
  HtmlForm out;
  out.action = Attribute(form.substr(0, form.find('>')), "action");
  size_t at = 0;
  while ((at = form.find("<input", at)) != absl::string_view::npos) {
    const absl::string_view tag = form.substr(at, form.find('>', at) - at);
    const std::string name = Attribute(tag, "name");
    if (!name.empty()) {
      out.inputs[name] = Attribute(tag, "value");
    }
    at += 6;
  }
  return out;
}

std::map<std::string, std::string> QueryOf(absl::string_view url) {
  std::map<std::string, std::string> out;
  const size_t question = url.find('?');
  if (question == absl::string_view::npos) {
    return out;
  }
  absl::StatusOr<oauth::Form> form = oauth::Form::Parse(url.substr(question + 1));
  for (absl::string_view pair : absl::StrSplit(url.substr(question + 1), '&')) {
    std::string name;
    oauth::FormDecode(pair.substr(0, pair.find('=')), &name);
    if (form.ok()) {
      out[name] = form->Get(name);
    }
  }
  return out;
}

Pkce MakePkce() {
  Pkce pkce;
  pkce.verifier = crypto::RandomToken();
  pkce.challenge = crypto::PkceS256Challenge(pkce.verifier);
  return pkce;
}

}  // namespace gateway::testing
