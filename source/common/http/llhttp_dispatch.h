#pragma once

// llhttp's state machine, compiled twice on x86-64 (CMakeLists.txt): for the baseline CPU and for
// SSE 4.2, which it uses to skip runs of header bytes. llhttp_dispatch.cc defines the
// llhttp__internal_execute() that llhttp's API calls, and sends each call to the copy this CPU
// can run. Elsewhere (CMakeLists.txt: not x86-64) llhttp is compiled once and none of this
// exists.

#include <llhttp.h>

extern "C" {
int llhttp__internal_execute_baseline(llhttp__internal_t* state, const char* p, const char* endp);
int llhttp__internal_execute_sse42(llhttp__internal_t* state, const char* p, const char* endp);
}

namespace gateway::http {

// Whether this process parses with the SSE 4.2 copy.
bool LlhttpUsesSse42();

}  // namespace gateway::http
