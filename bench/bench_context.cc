// Names, in the context lines every run prints first, what the figures below them depend on
// beyond the machine: the allocator the gateway and these benchmarks are linked with.

#include "benchmark/benchmark.h"

namespace gateway::bench {
namespace {

#ifndef GATEWAY_ALLOCATOR
#error "the build defines GATEWAY_ALLOCATOR (CMakeLists.txt)"
#endif

// Before main(): benchmark_main's main() prints the context.
const bool kContextAdded = [] {
  benchmark::AddCustomContext("allocator", GATEWAY_ALLOCATOR);
  return true;
}();

}  // namespace
}  // namespace gateway::bench
