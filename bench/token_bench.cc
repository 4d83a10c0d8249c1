// The per-request token path, for both token formats and stores of 1k, 100k and 1M grants:
// strip the scheme, base64url-decode, split, hash the gateway half and look it up in the store,
// validate it, unseal the upstream half (sealed format) or check its hash (plain format), and
// build the upstream's Authorization header. Measured two ways, in the same run:
//   * BM_TokenPathDirect: exactly those pieces, as bearer_split calls them (token::AccessCheck and
//     Store::GetTokenNow), with the request context's fields filled as the filter fills them; the
//     target's definition (issue 8: at most 300 ns sealed, 150 ns plain, flat from 1k to 1M within
//     2x). With the worker's memory of checked tokens (remembered:1, the steady state: a client
//     sends many requests with one token) and without it (remembered:0: every request is a
//     token's first sight on its worker, the decode, hashes and unseal all done).
//   * BM_TokenPath: the real bearer_split filter through a chain, against BM_TokenPathBaseline,
//     the same request through one pass-through filter instead: the difference is the token
//     path's cost as a request sees it.
// The requests come from kActiveTokens tokens (the clients in use on a worker), picked at
// random among all the store's grants, in a random order.

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench_support.h"
#include "benchmark/benchmark.h"
#include "source/active_request.h"
#include "source/common/oauth/token_issuer.h"
#include "source/common/store/memory_store.h"
#include "source/common/token/access_check.h"
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
// whatever the backend), and the Authorization values their clients send.
struct Fixture {
  Fixture(bool sealed, int64_t grants)
      : sealed(sealed), grants(grants), backend(services.clock, Limits(grants)) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as main.cc does
    services.config.tokens.sealed = sealed;
    store = backend.ForWorker(dispatcher);
    const absl::Time now = services.clock.Now();
    authorizations.reserve(grants);
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
      authorizations.push_back(absl::StrCat("Bearer ", minted.access_token));
    }
    // Requests go to the active tokens in a random order, as many clients' would: the lookups
    // spread over the whole store's table. The values themselves are laid out in request order,
    // as they would arrive in a connection's buffer, and are few enough to stay in the cache, as
    // a request's bytes are (the parser has just copied them): the store's misses are measured,
    // not reads of the fixture's own strings from memory.
    std::mt19937 random(42);
    std::shuffle(authorizations.begin(), authorizations.end(), random);
    const size_t active = std::min(authorizations.size(), kActiveTokens);
    requests.reserve(kRequests);
    for (size_t i = 0; i < kRequests; ++i) {
      requests.push_back(authorizations[random() % active]);
    }
  }

  // One fixture at a time, kept while the benchmarks that share it run (a million grants take
  // seconds to mint and about half a gigabyte).
  static Fixture& Get(bool sealed, int64_t grants) {
    static std::unique_ptr<Fixture> current;
    if (current == nullptr || current->sealed != sealed || current->grants != grants) {
      current.reset();
      current = std::make_unique<Fixture>(sealed, grants);
    }
    return *current;
  }

  static store::StoreLimits Limits(int64_t grants) {
    store::StoreLimits limits;
    limits.max_tokens = static_cast<size_t>(2 * grants + 16);
    return limits;
  }

  static constexpr size_t kActiveTokens = 1000;
  static constexpr size_t kRequests = 1 << 12;
  const std::string& NextAuthorization() { return requests[next++ & (kRequests - 1)]; }

  const bool sealed;
  const int64_t grants;
  testing::TestServices services;
  Dispatcher dispatcher{"bench"};
  http::HttpClient client{dispatcher, http::ClientOptions{}};
  store::MemoryStoreBackend backend;
  std::unique_ptr<store::Store> store;
  std::vector<std::string> authorizations;
  std::vector<std::string> requests;
  size_t next = 0;
};

void RunChain(benchmark::State& state, Fixture& fixture, const FilterChain& chain) {
  NullEncoder encoder;
  for (auto _ : state) {
    ActiveRequest request(
        chain, WorkerServices{fixture.dispatcher, fixture.client, *fixture.store, 1 << 16}, encoder,
        "b");
    encoder.stream = &request;
    http::RequestHead head;
    head.method = "POST";
    head.target = head.path = "/mcp";
    head.headers.Add("Content-Type", "application/json");
    head.headers.Add("Authorization", fixture.NextAuthorization());
    request.OnHeaders(std::move(head), true);
  }
  if (encoder.status != 200) {
    state.SkipWithError("the token path refused a valid token");
  }
}

FilterChain::Entry HeaderEntry() {
  return {"header", RouteMatch{},
          [](FilterCallbacks& callbacks) { return std::make_unique<BuildHeader>(callbacks); }};
}

// Arguments: sealed (1) or plain (0), number of grants, the memory of checked tokens on (1) or
// off (0).
void BM_TokenPathDirect(benchmark::State& state) {
  Fixture& fixture = Fixture::Get(state.range(0) == 1, state.range(1));
  token::RememberTokensOnThisThread(state.range(2) == 1);
  const std::string resource(absl::StripSuffix(fixture.services.config.ResourceUrl(), "/"));
  int failures = 0;
  int64_t remembered = 0;
  for (auto _ : state) {
    // The request context's fields the token path writes, fresh as a request's are (the rest
    // of the context, built for every request whatever its filters, is not the token path's).
    struct {
      std::string user;
      std::string client_id;
      std::string upstream_token;
      std::shared_ptr<const store::TokenRecord> token;
    } context;
    token::AccessCheck check;
    const token::AccessError parsed = check.Parse(fixture.NextAuthorization());
    remembered += check.remembered() ? 1 : 0;
    if (parsed != token::AccessError::kNone) {
      ++failures;
      continue;
    }
    // The store's record: vouched for by the worker's memory, else looked up.
    const uint64_t generation = fixture.store->TokenGeneration();
    std::shared_ptr<const store::TokenRecord> looked_up;
    const std::shared_ptr<const store::TokenRecord>* record =
        check.VouchedRecord(generation, fixture.services.clock.Now());
    if (record == nullptr) {
      if (!fixture.store->GetTokenNow(check.token_hash(), &looked_up)) {
        ++failures;
        continue;
      }
      record = &looked_up;
    }
    if (check.Validate(*record, generation, resource, fixture.services.keys,
                       context.upstream_token) != token::AccessError::kNone) {
      ++failures;
      continue;
    }
    context.user = (*record)->user;
    context.client_id = (*record)->client_id;
    context.token = *record;
    std::string header = absl::StrCat("Bearer ", context.upstream_token);
    benchmark::DoNotOptimize(header);
    benchmark::DoNotOptimize(context);
  }
  token::RememberTokensOnThisThread(true);
  // The share of requests whose token the worker remembered.
  state.counters["remembered"] = static_cast<double>(remembered) /
                                 static_cast<double>(std::max<int64_t>(1, state.iterations()));
  if (failures > 0) {
    state.SkipWithError("the token path refused a valid token");
  }
}

void BM_TokenPath(benchmark::State& state) {
  Fixture& fixture = Fixture::Get(state.range(0) == 1, state.range(1));
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
  entries.push_back(HeaderEntry());
  RunChain(state, fixture, FilterChain(std::move(entries)));
}

// The same request without the token path: one pass-through filter where bearer_split was.
void BM_TokenPathBaseline(benchmark::State& state) {
  Fixture& fixture = Fixture::Get(state.range(0) == 1, state.range(1));
  std::vector<FilterChain::Entry> entries;
  entries.push_back(
      {"pass", RouteMatch{}, [](FilterCallbacks&) { return std::make_unique<PassThrough>(); }});
  entries.push_back(HeaderEntry());
  RunChain(state, fixture, FilterChain(std::move(entries)));
}

// Registered grouped by fixture, so that each is built once: for each store size and format, the
// direct path, the filter, then the baseline (with the first fixture only: it reads no token).
const bool registered = [] {
  for (int64_t grants : {1000, 100000, 1000000}) {
    for (int64_t sealed : {1, 0}) {
      for (int64_t remembered : {1, 0}) {
        benchmark::RegisterBenchmark("BM_TokenPathDirect", BM_TokenPathDirect)
            ->ArgNames({"sealed", "grants", "remembered"})
            ->Args({sealed, grants, remembered});
      }
      benchmark::RegisterBenchmark("BM_TokenPath", BM_TokenPath)
          ->ArgNames({"sealed", "grants"})
          ->Args({sealed, grants});
      if (grants == 1000 && sealed == 1) {
        benchmark::RegisterBenchmark("BM_TokenPathBaseline", BM_TokenPathBaseline)
            ->ArgNames({"sealed", "grants"})
            ->Args({sealed, grants});
      }
    }
  }
  return true;
}();

}  // namespace
}  // namespace gateway
