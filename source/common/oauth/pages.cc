#include "source/common/oauth/pages.h"

#include "absl/strings/str_cat.h"
#include "source/common/oauth/form.h"

namespace gateway::oauth {
namespace {

constexpr char kStyle[] =
    "body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;"
    "color:#1f2328}h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}"
    "input[type=text],input[type=password]{width:100%;padding:.5rem;box-sizing:border-box}"
    "button{margin-top:1rem;padding:.5rem 1.2rem}.error{color:#b42318}.muted{color:#59636e}"
    "dl dt{font-weight:600;margin-top:.6rem}";

// Headers of every page: no framing (clickjacking), no scripts, forms only to this origin, no
// caching of pages that carry CSRF tokens, no referrer leaking the flow id.
void AddPageHeaders(http::LocalReply& reply) {
  reply.content_type = "text/html; charset=utf-8";
  reply.headers.Add("Cache-Control", "no-store");
  reply.headers.Add("Pragma", "no-cache");
  reply.headers.Add("X-Frame-Options", "DENY");
  reply.headers.Add("X-Content-Type-Options", "nosniff");
  reply.headers.Add("Referrer-Policy", "no-referrer");
  reply.headers.Add("Content-Security-Policy",
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                    "frame-ancestors 'none'; base-uri 'none'");
}

std::string Page(absl::string_view title, absl::string_view body) {
  return absl::StrCat("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
                      "<meta name=\"viewport\" content=\"width=device-width\">", "<title>",
                      HtmlEscape(title), "</title><style>", kStyle, "</style></head><body>", body,
                      "</body></html>\n");
}

std::string Hidden(absl::string_view name, absl::string_view value) {
  return absl::StrCat("<input type=\"hidden\" name=\"", name, "\" value=\"", HtmlEscape(value),
                      "\">");
}

}  // namespace

std::string HtmlEscape(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

http::LocalReply RenderLogin(const LoginPage& page, int status) {
  http::LocalReply reply;
  reply.status = status;
  AddPageHeaders(reply);
  std::string body = absl::StrCat("<h1>Sign in to the MCP gateway</h1><p class=\"muted\">",
                                  HtmlEscape(page.client_name),
                                  " wants to use your MCP server through this gateway.</p>");
  if (!page.error.empty()) {
    absl::StrAppend(&body, "<p class=\"error\" role=\"alert\">", HtmlEscape(page.error), "</p>");
  }
  absl::StrAppend(&body, "<form method=\"post\" action=\"/login/callback\">",
                  Hidden("flow", page.flow_id), Hidden("csrf", page.csrf_token),
                  "<label for=\"username\">User name</label>",
                  "<input type=\"text\" id=\"username\" name=\"username\" value=\"",
                  HtmlEscape(page.username), "\" autocomplete=\"username\" required autofocus>",
                  "<label for=\"password\">Password</label>",
                  "<input type=\"password\" id=\"password\" name=\"password\" "
                  "autocomplete=\"current-password\" required>",
                  "<button type=\"submit\">Sign in</button></form>");
  reply.body = Page("Sign in", body);
  return reply;
}

http::LocalReply RenderConsent(const ConsentPage& page) {
  http::LocalReply reply;
  AddPageHeaders(reply);
  std::string body = absl::StrCat(
      "<h1>Allow ", HtmlEscape(page.client_name), "?</h1><p>Signed in as <strong>",
      HtmlEscape(page.user), "</strong>.</p><dl><dt>Application</dt><dd>",
      HtmlEscape(page.client_name), "</dd><dt>Results go to</dt><dd>",
      HtmlEscape(page.redirect_host), "</dd><dt>Next, you authorize the gateway at</dt><dd>",
      HtmlEscape(page.upstream_host), "</dd>");
  if (!page.upstream_scopes.empty()) {
    absl::StrAppend(&body, "<dt>Access asked of it</dt><dd>", HtmlEscape(page.upstream_scopes),
                    "</dd>");
  }
  absl::StrAppend(&body, "</dl><form method=\"post\" action=\"/consent\">",
                  Hidden("flow", page.flow_id), Hidden("csrf", page.csrf_token));
  if (page.offer_remember) {
    absl::StrAppend(&body,
                    "<label><input type=\"checkbox\" name=\"remember\" value=\"1\" checked> "
                    "Remember this decision for this application</label>");
  }
  absl::StrAppend(&body,
                  "<button type=\"submit\" name=\"decision\" value=\"approve\">Allow</button> "
                  "<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></form>");
  reply.body = Page("Allow access", body);
  return reply;
}

http::LocalReply RenderError(int status, absl::string_view title, absl::string_view message) {
  http::LocalReply reply;
  reply.status = status;
  AddPageHeaders(reply);
  reply.body =
      Page(title, absl::StrCat("<h1>", HtmlEscape(title), "</h1><p>", HtmlEscape(message), "</p>"));
  return reply;
}

http::LocalReply Redirect(const std::string& location) {
  http::LocalReply reply;
  reply.status = 302;
  reply.headers.Add("Location", location);
  reply.headers.Add("Cache-Control", "no-store");
  reply.headers.Add("Referrer-Policy", "no-referrer");
  return reply;
}

http::LocalReply RedirectToClient(const std::string& redirect_uri,
                                  std::vector<std::pair<std::string, std::string>> params,
                                  const std::string& state, const std::string& issuer) {
  if (!state.empty()) {
    params.emplace_back("state", state);
  }
  params.emplace_back("iss", issuer);
  return Redirect(AppendQuery(redirect_uri, params));
}

}  // namespace gateway::oauth
