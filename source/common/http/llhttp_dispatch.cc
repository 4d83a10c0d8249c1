#include "source/common/http/llhttp_dispatch.h"

namespace gateway::http {

bool LlhttpUsesSse42() {
  static const bool sse42 = __builtin_cpu_supports("sse4.2");
  return sse42;
}

}  // namespace gateway::http

// Both copies start from the same state numbers (they are one generated source), so a parser
// initialised by either runs on either; a process uses one.
extern "C" int llhttp__internal_execute(llhttp__internal_t* state, const char* p,
                                        const char* endp) {
  return gateway::http::LlhttpUsesSse42() ? llhttp__internal_execute_sse42(state, p, endp)
                                          : llhttp__internal_execute_baseline(state, p, endp);
}
