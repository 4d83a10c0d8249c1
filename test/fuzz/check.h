#pragma once

// What a fuzzer asserts beyond "no crash": a property every input must keep (a round trip, an
// invariant of the parser's contract). A broken one aborts, which libFuzzer reports as a crash
// with the input that caused it.

#include <cstdio>
#include <cstdlib>

namespace gateway::fuzz {

inline void Check(bool holds, const char* property) {
  if (!holds) {
    std::fprintf(stderr, "fuzz property broken: %s\n", property);
    std::abort();
  }
}

}  // namespace gateway::fuzz
