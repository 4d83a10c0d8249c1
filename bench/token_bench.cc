// The per-request token path, through the real bearer_split filter: strip the scheme,
// base64url-decode, split, hash the gateway half and look it up in the store, validate it,
// unseal the upstream half (sealed format) or check its hash (plain format), and build the
// upstream's Authorization header; for stores of 1k, 100k and 1M grants. BM_TokenPathBaseline is
// the same request through a chain of one pass-through filter instead of bearer_split, in the
// same run: the difference is the token path's own cost.

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "source/active_request.h"
#include "source/common/oauth/token_issuer.h"
#include "source/common/store/memory_store.h"
#include "source/filter_registry.h"
#include "test/support/test_services.h"

namespace gateway {
namespace {

using bench::NullEncoder;
using bench::PassThrough;

// The last filter: builds the header upstream_forward sends, and answers.
class BuildHeader : public Filter {
 public:
  explicit BuildHeader(FilterCallbacks& callbacks) : callbacks_(callbacks) {}
  FilterStatus OnRequestHeaders() override {
    std::string header = absl::StrCat("Bearer ", callbacks_.context().upstream_token);
    benchmark::DoNotOptimize(header);
    http::LocalReply reply;
    reply.status = 200;
    callbacks_.SendLocalReply(std::move(reply));
    return FilterStatus::kStopIteration;
  }

 private:
  FilterCallbacks& callbacks_;
};

// `grants` grants with their access tokens in a memory store (what the request path reads,
// whatever the backend), and the tokens their clients hold.
struct Fixture {
  Fixture(bool sealed, int64_t grants) : backend(services.clock, Limits(grants)) {
    services.config.tokens.sealed = sealed;
    store = backend.ForWorker(dispatcher);
    const absl::Time now = services.clock.Now();
    tokens.reserve(grants);
    for (int64_t i = 0; i < grants; ++i) {
      store::Grant grant;
      grant.grant_id = absl::StrCat("grant-", i);
      grant.user = "alice";
      grant.client_id = "client";
      grant.resource = services.config.ResourceUrl();
      // A GitHub-sized upstream token (gho_ and 36 characters).
      grant.upstream_access_token = absl::StrCat("gho_", std::string(24, 'a'), 100000000000 + i);
      grant.expires_at = now + absl::Hours(24);
      oauth::MintedTokens minted =
          oauth::MintTokens(grant, services.config.tokens, services.keys, now);
      store->PutToken(std::move(minted.access), [](absl::Status) {});
      tokens.push_back(std::move(minted.access_token));
    }
  }

  static store::StoreLimits Limits(int64_t grants) {
    store::StoreLimits limits;
    limits.max_tokens = static_cast<size_t>(2 * grants + 16);
    return limits;
  }

  testing::TestServices services;
  Dispatcher dispatcher{"bench"};
  http::HttpClient client{dispatcher, http::ClientOptions{}};
  store::MemoryStoreBackend backend;
  std::unique_ptr<store::Store> store;
  std::vector<std::string> tokens;
};

void Run(benchmark::State& state, Fixture& fixture, const FilterChain& chain) {
  NullEncoder encoder;
  // Requests go to tokens in a random order, as many clients' would: the lookups miss the
  // caches a repeated token would hit.
  std::vector<uint32_t> order(1 << 16);
  std::mt19937 random(42);
  for (uint32_t& index : order) {
    index = static_cast<uint32_t>(random() % fixture.tokens.size());
  }
  size_t next = 0;
  for (auto _ : state) {
    ActiveRequest request(
        chain, WorkerServices{fixture.dispatcher, fixture.client, *fixture.store, 1 << 16}, encoder,
        "b");
    encoder.stream = &request;
    http::RequestHead head;
    head.method = "POST";
    head.target = head.path = "/mcp";
    head.headers.Add("Content-Type", "application/json");
    head.headers.Add("Authorization",
                     absl::StrCat("Bearer ", fixture.tokens[order[next++ & 0xffff]]));
    request.OnHeaders(std::move(head), true);
  }
  if (encoder.status != 200) {
    state.SkipWithError("the token path refused a valid token");
  }
}

// Arguments: sealed (1) or plain (0), number of grants.
void BM_TokenPath(benchmark::State& state) {
  Fixture fixture(state.range(0) == 1, state.range(1));
  FilterRegistry registry;
  RegisterBuiltinFilters(registry);
  FactoryContext context = fixture.services.context();
  absl::StatusOr<FilterFactoryFn> bearer_split =
      registry.Find("bearer_split")->CreateFilterFactory(config::Node(), context);
  if (!bearer_split.ok()) {
    state.SkipWithError(std::string(bearer_split.status().message()).c_str());
    return;
  }
  std::vector<FilterChain::Entry> entries;
  entries.push_back({"bearer_split", RouteMatch{}, *bearer_split});
  entries.push_back({"header", RouteMatch{}, [](FilterCallbacks& callbacks) {
                       return std::make_unique<BuildHeader>(callbacks);
                     }});
  Run(state, fixture, FilterChain(std::move(entries)));
}
BENCHMARK(BM_TokenPath)
    ->ArgNames({"sealed", "grants"})
    ->ArgsProduct({{1, 0}, {1000, 100000, 1000000}});

// The same request without the token path: one pass-through filter where bearer_split was.
void BM_TokenPathBaseline(benchmark::State& state) {
  Fixture fixture(true, 1000);
  std::vector<FilterChain::Entry> entries;
  entries.push_back(
      {"pass", RouteMatch{}, [](FilterCallbacks&) { return std::make_unique<PassThrough>(); }});
  entries.push_back({"header", RouteMatch{}, [](FilterCallbacks& callbacks) {
                       return std::make_unique<BuildHeader>(callbacks);
                     }});
  Run(state, fixture, FilterChain(std::move(entries)));
}
BENCHMARK(BM_TokenPathBaseline);

}  // namespace
}  // namespace gateway
