// The TLS listener and SIGHUP reload, end to end: the real binary with listener.tls, certificates
// made for the run, a TLS client that verifies them, and the gateway's configuration file
// rewritten and reloaded under it.

#include <signal.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/strings/str_replace.h"
#include "source/common/tls.h"
#include "test/e2e/gateway_fixture.h"
#include "test/support/files.h"
#include "test/support/test_certificate.h"

namespace gateway::e2e {
namespace {

using testing::RawClient;
using testing::ReadFile;
using testing::TestCertificate;

std::string FingerprintOf(const TestCertificate& certificate) {
  absl::StatusOr<tls::SslCtxPtr> context =
      tls::CreateServerContext(certificate.certificate_file, certificate.key_file);
  EXPECT_TRUE(context.ok()) << context.status();
  return context.ok() ? tls::CertificateFingerprint(context->get()) : "";
}

class TlsListenerTest : public GatewayFixture {
 protected:
  // Starts the demo upstream and the gateway with TLS from cert.pem and key.pem in the test's
  // directory, copies of `first_` (a second certificate, `second_`, is ready for a reload).
  void StartTlsGateway(absl::string_view extra_yaml = "") {
    absl::StatusOr<TestCertificate> first = testing::MakeTestCertificate();
    absl::StatusOr<TestCertificate> second = testing::MakeTestCertificate();
    ASSERT_TRUE(first.ok() && second.ok());
    first_ = std::move(*first);
    second_ = std::move(*second);
    certificate_file_ = dir_.Write("cert.pem", ReadFile(first_.certificate_file));
    key_file_ = dir_.Write("key.pem", ReadFile(first_.key_file));
    // Each certificate is its own (self-signed) root, both for CN=localhost: a client trusts
    // one at a time (OpenSSL would pick the first of two roots with one name).
    tls_ca_file_ = first_.certificate_file;
    listener_yaml_ = absl::StrCat(", tls: {certificate_file: ", certificate_file_,
                                  ", key_file: ", key_file_, "}");
    StartDemoUpstream();
    StartGateway(extra_yaml);
  }

  // Rewrites gateway.yaml as `yaml`, sends SIGHUP, and waits until it has been applied.
  void Reload(const std::string& yaml) {
    dir_.Write("gateway.yaml", yaml);
    gateway_->Signal(SIGHUP);
    ASSERT_TRUE(gateway_->WaitForOutput("SIGHUP: reloaded")) << gateway_->Output();
  }

  // The fingerprint a new TLS connection sees.
  std::string ServedFingerprint() {
    absl::StatusOr<RawClient> client = RawClient::ConnectTls(Port(), tls_ca_file_);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? client->PeerFingerprint() : "";
  }

  TestCertificate first_;
  TestCertificate second_;
  std::string certificate_file_;
  std::string key_file_;
};

TEST_F(TlsListenerTest, ServesHealthAndAWholeAuthorizationAndMcpCallOverHttps) {
  StartTlsGateway();
  EXPECT_THAT(gateway_->Output(), HasSubstr("listening on https://127.0.0.1:"));
  EXPECT_TRUE(gateway_->WaitForOutput(FingerprintOf(first_))) << gateway_->Output();

  absl::StatusOr<RawClient> client = RawClient::ConnectTls(Port(), tls_ca_file_);
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->AlpnProtocol(), "http/1.1");
  EXPECT_EQ(client->PeerFingerprint(), FingerprintOf(first_));
  EXPECT_EQ(Get("/healthz").status, 200);

  // The default public URL is https: every published URL says so.
  RawResponse metadata = Get("/.well-known/oauth-authorization-server");
  ASSERT_EQ(metadata.status, 200) << metadata.body;
  EXPECT_THAT(metadata.body,
              HasSubstr(absl::StrCat(R"("issuer":"https://localhost:)", Port(), R"(")")));

  // Every request of the flow (register, authorize, both logins' gateway half, the upstream's
  // redirect back to https://localhost:PORT/upstream/callback, token) and the MCP calls go over
  // TLS.
  Tokens tokens = Login();
  ASSERT_FALSE(tokens.access.empty());
  const std::string session = Initialize(tokens.access);
  RawResponse tools =
      Mcp(tokens.access, R"({"jsonrpc":"2.0","id":2,"method":"tools/list"})", session);
  EXPECT_EQ(tools.status, 200) << tools.body;
  absl::StatusOr<rapidjson::Document> listed = RpcResult(tools);
  ASSERT_TRUE(listed.ok()) << tools.body;
  EXPECT_TRUE((*listed)["result"]["tools"].IsArray()) << tools.body;
}

TEST_F(TlsListenerTest, PlainHttpOrGarbageToTheTlsPortIsAnsweredCheaplyAndLoggedAtDebug) {
  StartTlsGateway("log: {level: debug}\n");
  absl::StatusOr<RawClient> plain = RawClient::Connect(Port());
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE(plain->Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  absl::StatusOr<RawResponse> answer = plain->ReadResponse(absl::Seconds(2));
  ASSERT_TRUE(answer.ok()) << answer.status();
  EXPECT_EQ(answer->status, 400);
  EXPECT_THAT(answer->body, HasSubstr("this port speaks TLS: use https://"));
  EXPECT_TRUE(plain->WaitForClose(absl::Seconds(2)));

  absl::StatusOr<RawClient> garbage = RawClient::Connect(Port());
  ASSERT_TRUE(garbage.ok());
  ASSERT_TRUE(garbage->Send(std::string(64, '\x16') + "not a handshake"));
  EXPECT_TRUE(garbage->WaitForClose(absl::Seconds(2)));

  // A client that does not trust the certificate fails its handshake; the gateway is unmoved.
  EXPECT_FALSE(RawClient::ConnectTls(Port(), second_.certificate_file).ok());

  EXPECT_TRUE(gateway_->WaitForOutput("TLS handshake failed with 127.0.0.1:"));
  EXPECT_EQ(Get("/healthz").status, 200);
  EXPECT_THAT(gateway_->Output(), Not(HasSubstr(" error ")));
}

TEST_F(TlsListenerTest, SighupSwapsTheCertificateAndKeepsOpenConnections) {
  StartTlsGateway();
  // Opened before the reload: an MCP session's event stream, a kept-alive connection, and a
  // request whose body is half sent.
  Tokens tokens = Login();
  const std::string session = Initialize(tokens.access);
  absl::StatusOr<RawClient> stream = RawClient::ConnectTls(Port(), tls_ca_file_);
  ASSERT_TRUE(stream.ok());
  ASSERT_TRUE(stream->Send(
      absl::StrCat("GET /mcp HTTP/1.1\r\nHost: localhost\r\nAccept: text/event-stream\r\n"
                   "Mcp-Protocol-Version: 2025-06-18\r\nMcp-Session-Id: ",
                   session, "\r\nAuthorization: Bearer ", tokens.access, "\r\n\r\n")));
  absl::StatusOr<RawResponse> stream_head = stream->ReadHead();
  ASSERT_TRUE(stream_head.ok()) << stream_head.status();
  ASSERT_EQ(stream_head->status, 200);
  absl::StatusOr<RawClient> kept = RawClient::ConnectTls(Port(), tls_ca_file_);
  ASSERT_TRUE(kept.ok());
  ASSERT_TRUE(kept->Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  ASSERT_EQ(kept->ReadResponse()->status, 200);
  absl::StatusOr<RawClient> halfway = RawClient::ConnectTls(Port(), tls_ca_file_);
  ASSERT_TRUE(halfway.ok());
  const std::string form = "grant_type=authorization_code&code=nothing-here";
  ASSERT_TRUE(halfway->Send(absl::StrCat(
      "POST /token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-www-form-urlencoded"
      "\r\nContent-Length: ",
      form.size(), "\r\n\r\n", form.substr(0, 10))));

  dir_.Write("cert.pem", ReadFile(second_.certificate_file));
  dir_.Write("key.pem", ReadFile(second_.key_file));
  Reload(gateway_yaml_);
  EXPECT_THAT(gateway_->Output(), HasSubstr(absl::StrCat("certificate ", FingerprintOf(second_))));
  tls_ca_file_ = second_.certificate_file;

  EXPECT_EQ(ServedFingerprint(), FingerprintOf(second_));
  EXPECT_EQ(Get("/healthz").status, 200);
  // The old connections still work, on the certificate they began with.
  EXPECT_EQ(kept->PeerFingerprint(), FingerprintOf(first_));
  ASSERT_TRUE(kept->Send("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  absl::StatusOr<RawResponse> again = kept->ReadResponse();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->status, 200);
  // The event stream still carries what the session's server sends (the notify tool sends one
  // notification there), over the old connection.
  RawResponse notify = Mcp(tokens.access,
                           R"({"jsonrpc":"2.0","id":3,"method":"tools/call","params":{)"
                           R"("name":"notify","arguments":{"count":1,"interval_ms":0}}})",
                           session);
  EXPECT_EQ(notify.status, 200) << notify.body;
  std::string streamed;
  for (int i = 0; i < 10 && !absl::StrContains(streamed, "notifications/message"); ++i) {
    streamed += stream->ReadSome(absl::Seconds(2));
  }
  EXPECT_THAT(streamed, HasSubstr("notifications/message"));
  ASSERT_TRUE(halfway->Send(form.substr(10)));
  absl::StatusOr<RawResponse> token = halfway->ReadResponse();
  ASSERT_TRUE(token.ok()) << token.status();
  EXPECT_EQ(token->status, 401) << token->body;  // the request arrived whole: an OAuth answer
  EXPECT_THAT(token->body, HasSubstr("invalid_client"));
}

TEST_F(TlsListenerTest, ABadNewConfigurationIsRefusedAndTheRunningOneStays) {
  StartTlsGateway();
  const std::string fingerprint = FingerprintOf(first_);
  struct Case {
    std::string what;
    std::string yaml;
    std::string logged;
  };
  const std::string missing = absl::StrCat(dir_.path(), "/missing.pem");
  const std::vector<Case> cases = {
      {"a YAML error", gateway_yaml_ + "users: [\n", "gateway.yaml:"},
      {"an invalid value", gateway_yaml_ + "limits: {max_connections: -1}\n",
       "limits.max_connections: expected an integer"},
      {"a missing certificate", absl::StrReplaceAll(gateway_yaml_, {{certificate_file_, missing}}),
       absl::StrCat("listener.tls: cannot load certificate ", missing)},
      {"a key that is not the certificate's",
       absl::StrReplaceAll(gateway_yaml_, {{key_file_, second_.key_file}}),
       absl::StrCat("listener.tls: cannot load key ", second_.key_file)},
  };
  int refused = 0;
  for (const Case& bad : cases) {
    SCOPED_TRACE(bad.what);
    dir_.Write("gateway.yaml", bad.yaml);
    gateway_->Signal(SIGHUP);
    ++refused;
    ASSERT_TRUE(gateway_->WaitForOutputTimes("SIGHUP: refused", refused)) << gateway_->Output();
    const std::string output = gateway_->Output();
    const std::string line = output.substr(output.rfind("SIGHUP: refused"));
    EXPECT_THAT(line.substr(0, line.find('\n')),
                ::testing::AllOf(HasSubstr(bad.logged), HasSubstr("send SIGHUP again")));
    EXPECT_EQ(ServedFingerprint(), fingerprint);
    EXPECT_EQ(Get("/healthz").status, 200);
  }
  EXPECT_THAT(gateway_->Output(), Not(HasSubstr("SIGHUP: reloaded")));
  // The users of the running configuration still sign in.
  EXPECT_FALSE(Login().access.empty());
}

TEST_F(TlsListenerTest, SighupAddsAUserChangesALimitAndNamesWhatNeedsARestart) {
  StartTlsGateway();
  RawResponse before = PostForm(
      "/token", {{"grant_type", "refresh_token"}, {"refresh_token", std::string(3000, 'x')}});
  EXPECT_EQ(before.status, 401) << before.body;  // read whole: no client, invalid_client

  std::string yaml = absl::StrReplaceAll(
      gateway_yaml_, {{"{name: bob, password: builder}",
                       "{name: bob, password: builder}, {name: carol, password: cheshire}"}});
  yaml +=
      "limits: {max_request_body_bytes: 1KiB}\noauth: {remember_consent: false}\n"
      "log: {level: debug}\n";
  EXPECT_THAT(gateway_->Output(), Not(HasSubstr(" debug ")));
  Reload(yaml);
  EXPECT_THAT(gateway_->Output(), HasSubstr("SIGHUP: reloaded"));
  EXPECT_THAT(gateway_->Output(), HasSubstr("3 users"));
  EXPECT_TRUE(gateway_->WaitForOutput("SIGHUP: oauth changed in " + dir_.path() +
                                      "/gateway.yaml: not applied"))
      << gateway_->Output();

  RawResponse after = PostForm(
      "/token", {{"grant_type", "refresh_token"}, {"refresh_token", std::string(3000, 'x')}});
  EXPECT_EQ(after.status, 413) << after.body;
  username_ = "carol";
  password_ = "cheshire";
  EXPECT_FALSE(Login().access.empty());
  // log.level went to debug: a failed handshake is now logged.
  absl::StatusOr<RawClient> plain = RawClient::Connect(Port());
  ASSERT_TRUE(plain.ok());
  ASSERT_TRUE(plain->Send("GET / HTTP/1.1\r\n\r\n"));
  EXPECT_TRUE(plain->WaitForClose(absl::Seconds(2)));
  EXPECT_TRUE(gateway_->WaitForOutput("debug TLS handshake failed")) << gateway_->Output();
}

// At start-up (and with --check-config) a certificate that cannot be used stops the gateway
// with one line that names it.
TEST_F(GatewayFixture, AnUnusableCertificateStopsStartUpWithOneLine) {
  absl::StatusOr<TestCertificate> first = testing::MakeTestCertificate();
  absl::StatusOr<TestCertificate> second = testing::MakeTestCertificate();
  ASSERT_TRUE(first.ok() && second.ok());
  const std::string config = dir_.Write(
      "mismatched.yaml", absl::StrCat("listener: {port: 0, tls: {certificate_file: ",
                                      first->certificate_file, ", key_file: ", second->key_file,
                                      "}}\nupstream: {rs: http://127.0.0.1:9/mcp}\n"));
  for (bool check_only : {true, false}) {
    std::vector<std::string> args = {absl::StrCat("--config=", config)};
    if (check_only) {
      args.push_back("--check-config");
    }
    ChildProcess gateway(GATEWAY_BINARY, args, dir_.path());
    EXPECT_EQ(gateway.Wait(absl::Seconds(10)), 2);
    gateway.WaitForOutput("\n");
    const std::string output = gateway.Output();
    EXPECT_THAT(output,
                HasSubstr(absl::StrCat("listener.tls: cannot load key ", second->key_file, ": ")));
    EXPECT_EQ(std::count(output.begin(), output.end(), '\n'), 1) << output;
  }
}

// TLS terminated by a proxy in front: the listener is plain, the public URL https, and every
// URL the gateway publishes is the public one.
TEST_F(GatewayFixture, BehindATlsTerminatingProxyEveryPublishedUrlIsHttps) {
  StartDemoUpstream();
  listener_yaml_ = ", public_url: https://mcp.example.com";
  StartGateway();
  EXPECT_THAT(gateway_->Output(), HasSubstr("listening on http://127.0.0.1:"));
  RawResponse metadata = Get("/.well-known/oauth-authorization-server");
  ASSERT_EQ(metadata.status, 200) << metadata.body;
  EXPECT_THAT(metadata.body, HasSubstr(R"("issuer":"https://mcp.example.com")"));
  EXPECT_THAT(metadata.body,
              HasSubstr(R"("authorization_endpoint":"https://mcp.example.com/authorize")"));
  RawResponse resource = Get("/.well-known/oauth-protected-resource/mcp");
  ASSERT_EQ(resource.status, 200) << resource.body;
  EXPECT_THAT(resource.body, HasSubstr(R"("resource":"https://mcp.example.com/mcp")"));
  RawResponse challenge = Mcp("", R"({"jsonrpc":"2.0","id":1,"method":"tools/list"})");
  EXPECT_EQ(challenge.status, 401);
  EXPECT_THAT(challenge.Header("www-authenticate"),
              HasSubstr(R"(resource_metadata="https://mcp.example.com/.well-known/)"));
}

}  // namespace
}  // namespace gateway::e2e
