// conformance.mjs, part `authorization`: the suite's authorization-server scenarios
// (`conformance authorization`) against the gateway, in front of the demo upstream.
//
// How the suite drives the authorization (read from its dist/index.js): it fetches the RFC 8414
// metadata (scenario authorization-server-metadata-endpoint), then, for authorization-code-grant,
// starts a callback server on 127.0.0.1:--port, prints the authorization URL ("Access the
// following URL in your browser ...") and waits up to five minutes for the browser to reach
// http://127.0.0.1:PORT/callback; then it checks the redirect (state, code, iss) and redeems the
// code at the token endpoint with PKCE (and `resource` when given). Here the "browser" is
// lib/browser.mjs: it takes the printed URL, walks the gateway's login and consent and the demo
// upstream's login over plain HTTP, and delivers the final redirect to the suite's callback.
//
// The client is registered at the gateway's /register beforehand, as a public client (the suite
// authenticates at the token endpoint with `none` whenever the server lists it, whatever the
// client registered; see the README, Conformance results).

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { walkAuthorization } from './browser.mjs';
import { freePort, GATEWAY_USER, startPeers, UPSTREAM_USER } from './peers.mjs';
import { checksOf, readChecks, Report, runSuite } from './conformance_suite.mjs';

export const AUTHORIZATION_SCENARIOS = ['authorization-server-metadata-endpoint', 'authorization-code-grant'];

async function registerClient(gatewayOrigin, redirectUri) {
  const res = await fetch(`${gatewayOrigin}/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'MCP conformance suite (authorization)',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
      application_type: 'native'
    })
  });
  const body = await res.json();
  if (res.status !== 201 || !body.client_id) throw new Error(`/register: ${res.status} ${JSON.stringify(body)}`);
  return body.client_id;
}

export async function runAuthorizationPart({ gateway, keep, strict }) {
  const report = new Report('authorization', { strict });
  const resultsDir = keep ? path.join(keep, 'authorization') : mkdtempSync(path.join(os.tmpdir(), 'gw-conformance-as-'));
  const peers = await startPeers({ gatewayPath: gateway, tokenTtl: 3600 });
  try {
    const port = await freePort();
    const callback = `http://127.0.0.1:${port}/callback`;
    const clientId = await registerClient(peers.gatewayOrigin, callback);

    // The suite waits five minutes for a callback that a failed walk never sends: stop it then,
    // or after a minute whatever happened.
    const abort = new AbortController();
    const deadline = setTimeout(() => abort.abort(), 60_000);
    let walk;
    let nextLineIsUrl = false;
    const onLine = line => {
      if (nextLineIsUrl && !walk) {
        walk = walkAuthorization(line.trim(), {
          gatewayOrigin: peers.gatewayOrigin,
          redirectUri: callback,
          gatewayUser: GATEWAY_USER,
          upstreamUser: UPSTREAM_USER,
          deliver: true
        }).catch(err => {
          abort.abort();
          return { error: err };
        });
      }
      nextLineIsUrl = line.startsWith('Access the following URL');
    };
    const { out } = await runSuite(
      ['authorization', '--url', peers.gatewayOrigin, '--client-id', clientId, '--resource', peers.mcpUrl, '--port', String(port), '-o', resultsDir],
      { onLine, signal: abort.signal }
    );
    clearTimeout(deadline);
    const walked = await walk;
    let extra = out;
    if (!walk) extra += '\n(the suite printed no authorization URL)';
    if (walked?.error) extra += `\nbrowser walk failed: ${walked.error.message}`;
    else if (walked) extra += `\nbrowser walk: ${walked.trail.join(' | ')}`;
    extra += `\n----- gateway -----\n${peers.gateway.tail(30)}`;

    const byDir = readChecks(resultsDir);
    for (const scenario of AUTHORIZATION_SCENARIOS) {
      report.scenario(scenario, { checks: checksOf(byDir, scenario), extra });
    }
  } finally {
    await peers.stop();
    if (!keep) rmSync(resultsDir, { recursive: true, force: true });
  }
  return report.summary();
}
