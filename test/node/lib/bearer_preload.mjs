// Preloaded (node --import) into @modelcontextprotocol/conformance's process for its `server`
// scenarios: the suite's client has no way to send a token, and every MCP request through the
// gateway needs one. This adds `Authorization: Bearer $GW_BEARER_TOKEN` to each request the
// process sends to $GW_BEARER_ORIGIN, and to no other. It hooks undici's global dispatcher, which
// both the global fetch (the SDK client transport, the suite's raw requests) and undici's own
// request() (the suite's DNS-rebinding requests, with their forged Host and Origin) go through.
// Unlike a proxy in front of the gateway, the suite's requests, Host and Origin included, reach
// the gateway exactly as the suite wrote them.

import process from 'node:process';
import { getGlobalDispatcher, setGlobalDispatcher } from 'undici';

const token = process.env.GW_BEARER_TOKEN;
const origin = process.env.GW_BEARER_ORIGIN;
if (!token || !origin) {
  throw new Error('bearer_preload: GW_BEARER_TOKEN and GW_BEARER_ORIGIN must be set');
}
const target = new URL(origin).origin;

// undici passes headers as an object, a flat [name, value, ...] array, or an iterable of pairs.
function withAuthorization(headers) {
  const out = [];
  if (Array.isArray(headers)) {
    out.push(...headers);
  } else if (headers && typeof headers[Symbol.iterator] === 'function') {
    for (const [name, value] of headers) out.push(name, value);
  } else if (headers) {
    for (const [name, value] of Object.entries(headers)) out.push(name, value);
  }
  for (let i = 0; i < out.length; i += 2) {
    if (String(out[i]).toLowerCase() === 'authorization') return out;
  }
  out.push('authorization', `Bearer ${token}`);
  return out;
}

setGlobalDispatcher(
  getGlobalDispatcher().compose(dispatch => (options, handler) => {
    const requestOrigin = options.origin ? new URL(String(options.origin)).origin : undefined;
    if (requestOrigin !== target) return dispatch(options, handler);
    return dispatch({ ...options, headers: withAuthorization(options.headers) }, handler);
  })
);
