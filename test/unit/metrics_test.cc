#include "source/common/metrics.h"

#include <unistd.h>

#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "source/common/access_log.h"
#include "source/common/config/config.h"
#include "source/common/json.h"
#include "source/filter_registry.h"
#include "source/filters/metrics.h"
#include "test/support/child_process.h"
#include "test/support/fake_filter_callbacks.h"
#include "test/support/files.h"
#include "test/support/observability.h"

namespace gateway {
namespace {

using ::testing::HasSubstr;
using testing::ParseLogfmtLine;
using testing::ParsePrometheusText;
using testing::PrometheusSamples;

PrometheusSamples Scrape(const Metrics& metrics) {
  absl::StatusOr<PrometheusSamples> samples = ParsePrometheusText(metrics.Render());
  EXPECT_TRUE(samples.ok()) << samples.status() << "\n" << metrics.Render();
  return samples.ok() ? *samples : PrometheusSamples();
}

TEST(MetricsTest, SumsTheCountsOfEveryThread) {
  Metrics metrics;
  const size_t route = metrics.RouteId("upstream_forward");
  EXPECT_EQ(metrics.RouteId("upstream_forward"), route);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&metrics, route] {
      for (int i = 0; i < 1000; ++i) {
        metrics.Add(Counter::kTokensIssued);
        metrics.CountRequest(route, 200);
        metrics.Add(Gauge::kStreams, 1);
      }
      metrics.CountRequest(route, 0);  // no response sent
      metrics.Add(Gauge::kStreams, -999);
    });
  }
  for (std::thread& thread : threads) {
    thread.join();
  }
  PrometheusSamples samples = Scrape(metrics);
  EXPECT_EQ(samples["gateway_tokens_issued_total"], 4000);
  EXPECT_EQ(samples["gateway_requests_total{route=\"upstream_forward\",code=\"200\"}"], 4000);
  EXPECT_EQ(samples["gateway_requests_total{route=\"upstream_forward\",code=\"none\"}"], 4);
  EXPECT_EQ(samples["gateway_active_streams"], 4);
  EXPECT_EQ(samples["gateway_tokens_refreshed_total"], 0);
}

TEST(MetricsTest, HistogramBucketsAreCumulativeAndEndAtTheCount) {
  Metrics metrics;
  for (absl::Duration value : {absl::Milliseconds(3), absl::Milliseconds(30), absl::Seconds(3),
                               absl::Seconds(30), absl::Milliseconds(5)}) {
    metrics.Observe(Histogram::kUpstreamMcp, value);
  }
  PrometheusSamples samples = Scrape(metrics);
  const std::string bucket = "gateway_upstream_response_seconds_bucket{upstream=\"mcp\",le=";
  EXPECT_EQ(samples[bucket + "\"0.005\"}"], 2);  // le is inclusive: 5 ms is in it
  EXPECT_EQ(samples[bucket + "\"0.025\"}"], 2);
  EXPECT_EQ(samples[bucket + "\"0.05\"}"], 3);
  EXPECT_EQ(samples[bucket + "\"5\"}"], 4);
  EXPECT_EQ(samples[bucket + "\"10\"}"], 4);
  EXPECT_EQ(samples[bucket + "\"+Inf\"}"], 5);
  EXPECT_EQ(samples["gateway_upstream_response_seconds_count{upstream=\"mcp\"}"], 5);
  EXPECT_NEAR(samples["gateway_upstream_response_seconds_sum{upstream=\"mcp\"}"], 33.038, 1e-9);
  EXPECT_EQ(samples["gateway_upstream_response_seconds_count{upstream=\"oauth\"}"], 0);
}

TEST(MetricsTest, LabelValuesAreEscaped) {
  Metrics metrics;
  metrics.CountRequest(metrics.RouteId("my \"odd\"\\filter\n"), 404);
  const std::string text = metrics.Render();
  EXPECT_THAT(text, HasSubstr(R"(route="my \"odd\"\\filter\n",code="404"} 1)"));
  EXPECT_EQ(Scrape(metrics)["gateway_requests_total{route=\"my \\\"odd\\\"\\\\filter\\n\","
                            "code=\"404\"}"],
            1);
}

TEST(MetricsTest, StoreSizesAppearWhenTheStoreCanTell) {
  Metrics metrics;
  EXPECT_THAT(metrics.Render(), Not(HasSubstr("gateway_store_records")));
  metrics.SetStoreSizes([](StoreSizes& sizes) {
    sizes = StoreSizes{3, 2, 4};
    return true;
  });
  PrometheusSamples samples = Scrape(metrics);
  EXPECT_EQ(samples["gateway_store_records{kind=\"clients\"}"], 3);
  EXPECT_EQ(samples["gateway_store_records{kind=\"grants\"}"], 2);
  EXPECT_EQ(samples["gateway_store_records{kind=\"tokens\"}"], 4);
  metrics.SetStoreSizes([](StoreSizes&) { return false; });
  EXPECT_THAT(metrics.Render(), Not(HasSubstr("gateway_store_records")));
}

// The strict reader the end-to-end tests rely on refuses what the format does not allow.
TEST(ObservabilityParserTest, RefusesBrokenExpositions) {
  const std::string head = "# HELP x_total X.\n# TYPE x_total counter\n";
  EXPECT_TRUE(ParsePrometheusText(head + "x_total 1\n").ok());
  EXPECT_FALSE(ParsePrometheusText("x_total 1\n").ok());                    // no TYPE
  EXPECT_FALSE(ParsePrometheusText(head + "x_total 1").ok());               // no final LF
  EXPECT_FALSE(ParsePrometheusText(head + "x_total 1\nx_total 2\n").ok());  // twice
  EXPECT_FALSE(ParsePrometheusText(head + "x_total{a=\"\\t\"} 1\n").ok());  // bad escape
  EXPECT_FALSE(ParsePrometheusText(head + "x_total{a=\"b\" 1\n").ok());     // unclosed
  EXPECT_FALSE(ParsePrometheusText(head + "x_total one\n").ok());           // bad value
  EXPECT_FALSE(ParsePrometheusText("# TYPE x counter\nx 1\n").ok());        // no _total
  EXPECT_FALSE(ParsePrometheusText(head + "\nx_total 1\n").ok());           // empty line
  const std::string histogram = "# TYPE h histogram\n";
  EXPECT_TRUE(ParsePrometheusText(histogram +
                                  "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\n"
                                  "h_count 2\n")
                  .ok());
  EXPECT_FALSE(ParsePrometheusText(histogram +  // not cumulative
                                   "h_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 3\n"
                                   "h_count 1\n")
                   .ok());
  EXPECT_FALSE(ParsePrometheusText(histogram +  // +Inf is not the count
                                   "h_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\n"
                                   "h_count 3\n")
                   .ok());
  EXPECT_FALSE(ParsePrometheusText(histogram + "h_bucket{le=\"1\"} 1\nh_sum 3\nh_count 1\n")
                   .ok());  // no +Inf
  // Samples of two families interleaved.
  EXPECT_FALSE(ParsePrometheusText(head + "x_total 1\n# TYPE y_total counter\ny_total 1\n"
                                          "x_total{a=\"b\"} 1\n")
                   .ok());
}

TEST(ObservabilityParserTest, RefusesBrokenLogfmt) {
  EXPECT_TRUE(ParseLogfmtLine("a=1 b=\"x y\" c=\"\\x0a\"").ok());
  EXPECT_FALSE(ParseLogfmtLine("a=1  b=2").ok());
  EXPECT_FALSE(ParseLogfmtLine("a=1 a=2").ok());
  EXPECT_FALSE(ParseLogfmtLine("a=\"x").ok());
  EXPECT_FALSE(ParseLogfmtLine("a=x\"y").ok());
  EXPECT_FALSE(ParseLogfmtLine("a=").ok());
  EXPECT_FALSE(ParseLogfmtLine("a=\"\\n\"").ok());
  EXPECT_FALSE(ParseLogfmtLine("A=1").ok());
}

AccessRecord HostileRecord() {
  AccessRecord record;
  record.time = absl::FromUnixSeconds(1700000000);
  record.request_id = "r-1";
  record.remote = "127.0.0.1";
  record.method = "GET";
  record.route = "none";
  record.path = "/a b\"c\\d\ne\x01\x7f=\xff";
  record.status = 404;
  record.bytes = 12;
  record.duration = absl::Microseconds(1500);
  record.upstream = absl::ZeroDuration();
  record.user = "alice";
  record.end = "complete";
  return record;
}

TEST(AccessLogTest, JsonLineIsOneValidObjectWhateverThePath) {
  const std::string line = FormatAccessRecord(HostileRecord(), AccessLogConfig::Format::kJson);
  ASSERT_TRUE(absl::EndsWith(line, "}\n"));
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  absl::StatusOr<rapidjson::Document> json = json::Parse(line);
  ASSERT_TRUE(json.ok()) << json.status() << line;
  EXPECT_EQ(std::string((*json)["path"].GetString()), "/a b\"c\\d\ne\x01\x7f=\xc3\xbf");
  EXPECT_EQ((*json)["status"].GetInt(), 404);
  EXPECT_EQ((*json)["bytes"].GetInt(), 12);
  EXPECT_DOUBLE_EQ((*json)["duration_ms"].GetDouble(), 1.5);
  EXPECT_EQ(std::string((*json)["time"].GetString()), "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(std::string((*json)["user"].GetString()), "alice");
  EXPECT_EQ(std::string((*json)["client_id"].GetString()), "");
  EXPECT_EQ((*json).MemberCount(), 13u);
}

TEST(AccessLogTest, LogfmtLineReadsBackExactly) {
  const std::string line = FormatAccessRecord(HostileRecord(), AccessLogConfig::Format::kLogfmt);
  ASSERT_TRUE(absl::EndsWith(line, "\n"));
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  absl::StatusOr<std::map<std::string, std::string>> fields =
      ParseLogfmtLine(absl::StripSuffix(line, "\n"));
  ASSERT_TRUE(fields.ok()) << fields.status() << line;
  EXPECT_EQ((*fields)["path"], "/a b\"c\\d\ne\x01\x7f=\xff");
  EXPECT_EQ((*fields)["status"], "404");
  EXPECT_EQ((*fields)["duration_ms"], "1.500");
  EXPECT_EQ((*fields)["client_id"], "");
  EXPECT_EQ((*fields)["request_id"], "r-1");
  EXPECT_EQ(fields->size(), 13u);
}

TEST(AccessLogTest, TimestampsCarryMillisecondsAcrossSeconds) {
  AccessRecord record = HostileRecord();
  for (const auto& [millis, expected] :
       std::vector<std::pair<int64_t, std::string>>{{1700000000123, "2023-11-14T22:13:20.123Z"},
                                                    {1700000000999, "2023-11-14T22:13:20.999Z"},
                                                    {1700000001007, "2023-11-14T22:13:21.007Z"},
                                                    {1700000000004, "2023-11-14T22:13:20.004Z"}}) {
    record.time = absl::FromUnixMillis(millis);
    EXPECT_THAT(FormatAccessRecord(record, AccessLogConfig::Format::kLogfmt),
                ::testing::StartsWith("time=" + expected + " "));
  }
}

TEST(AccessLogTest, WritesEveryLineToItsFileBeforeClosing) {
  testing::TempDir dir;
  const std::string path = dir.path() + "/access.log";
  {
    absl::StatusOr<std::unique_ptr<AccessLog>> log =
        AccessLog::Open({AccessLogConfig::Format::kLogfmt, path}, nullptr);
    ASSERT_TRUE(log.ok()) << log.status();
    for (int i = 0; i < 100; ++i) {
      (*log)->Write(HostileRecord());
    }
  }
  std::vector<std::string> lines = absl::StrSplit(testing::ReadFile(path), '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 100u);
  EXPECT_TRUE(ParseLogfmtLine(lines[99]).ok());
}

TEST(AccessLogTest, AnUnwritableFileIsAConfigurationErrorSayingWhatToDo) {
  absl::StatusOr<std::unique_ptr<AccessLog>> log =
      AccessLog::Open({AccessLogConfig::Format::kJson, "/nonexistent-dir/access.log"}, nullptr);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.status().message(), HasSubstr("log.access_output: cannot open"));
  EXPECT_THAT(log.status().message(), HasSubstr("stderr or stdout"));
  absl::StatusOr<std::unique_ptr<AccessLog>> off = AccessLog::Open({}, nullptr);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(*off, nullptr);
}

TEST(ObservabilityConfigTest, AccessLogAndAdminKeys) {
  const std::string base = "upstream: {rs: http://127.0.0.1:3001/mcp}\n";
  absl::StatusOr<Config> config = ParseConfig(
      base + "log: {access: logfmt, access_output: stdout}\nadmin: {port: 9102}\n", "t.yaml");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->access_log.format, AccessLogConfig::Format::kLogfmt);
  EXPECT_EQ(config->access_log.output, "stdout");
  EXPECT_TRUE(config->admin.enabled());
  EXPECT_EQ(config->admin.address, "127.0.0.1");

  absl::StatusOr<Config> defaults = ParseConfig(base, "t.yaml");
  ASSERT_TRUE(defaults.ok());
  EXPECT_EQ(defaults->access_log.format, AccessLogConfig::Format::kOff);
  EXPECT_FALSE(defaults->admin.enabled());

  absl::StatusOr<Config> bad = ParseConfig(base + "log: {access: xml}\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("t.yaml:2:15: log.access: expected json, logfmt or off"));
  bad = ParseConfig(base + "admin: {address: example.com, port: 1}\n", "t.yaml");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("admin.address: expected an IP address"));

  absl::StatusOr<Config> same =
      ParseConfig(base + "listener: {port: 9000}\nadmin: {port: 9000}\n", "t.yaml");
  ASSERT_TRUE(same.ok());
  EXPECT_THAT(FinalizeConfig(*same).message(), HasSubstr("admin.port 9000 is the listener's port"));
  absl::StatusOr<Config> both_free =
      ParseConfig(base + "listener: {port: 0}\nadmin: {port: 0}\n", "t.yaml");
  ASSERT_TRUE(both_free.ok());
  EXPECT_TRUE(FinalizeConfig(*both_free).ok());  // the kernel gives each a port of its own
}

// The `metrics` filter, made through the registry as the chain makes it.
TEST(MetricsFilterTest, AnswersGetWithTheExpositionAndRefusesOtherMethods) {
  FilterRegistry registry;
  RegisterBuiltinFilters(registry);
  const FilterFactory* factory = registry.Find("metrics");
  ASSERT_NE(factory, nullptr);
  testing::FilterHarness harness;
  harness.services.state.metrics.Add(Counter::kRegistrations, 2);
  absl::StatusOr<std::unique_ptr<Filter>> filter = harness.Make(*factory);
  ASSERT_TRUE(filter.ok()) << filter.status();
  harness.callbacks.context().request.method = "GET";
  EXPECT_EQ((*filter)->OnRequestHeaders(), FilterStatus::kStopIteration);
  ASSERT_TRUE(harness.callbacks.replied);
  EXPECT_EQ(harness.callbacks.reply.status, 200);
  EXPECT_EQ(harness.callbacks.reply.content_type, "text/plain; version=0.0.4; charset=utf-8");
  absl::StatusOr<PrometheusSamples> samples = ParsePrometheusText(harness.callbacks.reply.body);
  ASSERT_TRUE(samples.ok()) << samples.status();
  EXPECT_EQ((*samples)["gateway_registrations_total"], 2);

  testing::FilterHarness post_harness;
  absl::StatusOr<std::unique_ptr<Filter>> post = post_harness.Make(*factory);
  ASSERT_TRUE(post.ok());
  post_harness.callbacks.context().request.method = "POST";
  EXPECT_EQ((*post)->OnRequestHeaders(), FilterStatus::kStopIteration);
  EXPECT_EQ(post_harness.callbacks.reply.status, 405);
  EXPECT_FALSE(harness.Make(*factory, "{verbose: true}").ok());  // it takes no config
}

TEST(MetricsFilterTest, TheAdminChainServesHealthAndMetricsOnly) {
  FilterRegistry registry;
  RegisterBuiltinFilters(registry);
  testing::FilterHarness harness;
  FactoryContext context = harness.services.context();
  absl::StatusOr<std::shared_ptr<const FilterChain>> chain =
      filters::BuildAdminChain(registry, context);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ((*chain)->entries().size(), 2u);
  EXPECT_EQ((*chain)->entries()[0].name, "health");
  EXPECT_TRUE((*chain)->entries()[0].match.Matches("GET", "/healthz"));
  EXPECT_EQ((*chain)->entries()[1].name, "metrics");
  EXPECT_TRUE((*chain)->entries()[1].match.Matches("GET", "/metrics"));
  EXPECT_FALSE((*chain)->entries()[1].match.Matches("POST", "/metrics"));
  EXPECT_FALSE((*chain)->entries()[1].match.Matches("GET", "/mcp"));
}

}  // namespace
}  // namespace gateway
