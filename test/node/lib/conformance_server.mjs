// conformance.mjs, part `server`: the suite's server scenarios through the gateway. The upstream is
// tools/demo-upstream in --conformance mode (its own OAuth, plus the tools, resources and prompts
// the scenarios call); the gateway is in front of it. The suite's client knows nothing of OAuth, so
// this part first gets a gateway token the way a real client does (the SDK's auth() with the
// headless browser: discovery, registration, both logins, code, token), then runs the suite with
// lib/bearer_preload.mjs, which adds `Authorization: Bearer <token>` to every request it sends to
// the gateway. Everything else (Host, Origin, sessions, SSE streams, server-to-client requests)
// goes through the gateway as the suite sends it.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { checksOf, readChecks, Report, runSuite } from './conformance_suite.mjs';
import { GATEWAY_USER, startPeers, UPSTREAM_USER } from './peers.mjs';
import { HeadlessOAuthProvider } from './sdk_provider.mjs';

const PRELOAD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bearer_preload.mjs');

// The suite's active server scenarios (run as one `conformance server` invocation, at the
// 2025-11-25 wire), then the pending ones that apply to a 2025-11-25 server, one by one.
export const ACTIVE_SERVER_SCENARIOS = [
  'server-initialize',
  'server-session-lifecycle',
  'logging-set-level',
  'ping',
  'completion-complete',
  'tools-list',
  'tools-call-simple-text',
  'tools-call-image',
  'tools-call-audio',
  'tools-call-embedded-resource',
  'tools-call-mixed-content',
  'tools-call-with-logging',
  'tools-call-error',
  'tools-call-with-progress',
  'tools-call-sampling',
  'tools-call-elicitation',
  'elicitation-sep1034-defaults',
  'server-sse-multiple-streams',
  'elicitation-sep1330-enums',
  'resources-list',
  'resources-read-text',
  'resources-read-binary',
  'resources-templates-read',
  'resources-subscribe',
  'resources-unsubscribe',
  'prompts-list',
  'prompts-get-simple',
  'prompts-get-with-args',
  'prompts-get-embedded-resource',
  'prompts-get-with-image',
  'dns-rebinding-protection'
];
export const PENDING_SERVER_SCENARIOS = ['json-schema-2020-12', 'server-sse-polling'];

const DRAFT = 'MCP 2026-07-28 (draft) server behaviour; the upstream (SDK 1.32) implements 2025-11-25 and the gateway passes MCP messages through unchanged';
const EXTENSION = 'an MCP extension the upstream does not implement; the gateway passes it through unchanged';
export const SERVER_NOT_APPLICABLE = {
  'server-stateless': DRAFT,
  'sep-2164-resource-not-found': DRAFT,
  caching: DRAFT,
  'http-header-validation': DRAFT,
  'http-custom-header-server-validation': DRAFT,
  'input-required-result-*': `the 15 input-required-result scenarios: ${DRAFT}`,
  'tasks-*': `the 10 tasks scenarios: ${EXTENSION}`,
  'sep-2640-skills-*': `the 3 skills scenarios: ${EXTENSION}`
};

// The gateway's token, obtained as the SDK client obtains it.
async function gatewayToken(peers) {
  const { auth } = await import('@modelcontextprotocol/sdk/client/auth.js');
  const provider = new HeadlessOAuthProvider({ gatewayOrigin: peers.gatewayOrigin, gatewayUser: GATEWAY_USER, upstreamUser: UPSTREAM_USER });
  if ((await auth(provider, { serverUrl: peers.mcpUrl })) !== 'REDIRECT') throw new Error('expected the authorization redirect');
  if ((await auth(provider, { serverUrl: peers.mcpUrl, authorizationCode: provider.takeCode() })) !== 'AUTHORIZED') {
    throw new Error('the code was not redeemed');
  }
  return provider.tokens().access_token;
}

export async function runServerPart({ gateway, keep, strict }) {
  const report = new Report('server', { notApplicable: SERVER_NOT_APPLICABLE, strict });
  const resultsDir = keep ? path.join(keep, 'server') : mkdtempSync(path.join(os.tmpdir(), 'gw-conformance-server-'));
  const peers = await startPeers({ gatewayPath: gateway, tokenTtl: 3600, upstreamArgs: ['--conformance'] });
  try {
    // The control: without the token, the gateway answers the suite's first request with 401.
    const anonymous = await fetch(peers.mcpUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'ping' })
    });
    await anonymous.body?.cancel();
    if (anonymous.status !== 401) throw new Error(`an MCP request without a token got ${anonymous.status}, not 401`);
    const env = { GW_BEARER_TOKEN: await gatewayToken(peers), GW_BEARER_ORIGIN: peers.gatewayOrigin };
    const run = args => runSuite(['server', '--url', peers.mcpUrl, '-o', resultsDir, ...args], { env, nodeOptions: ['--import', PRELOAD] });
    let { out } = await run([]);
    for (const scenario of PENDING_SERVER_SCENARIOS) out += (await run(['--scenario', scenario])).out;
    const extra = `${out}\n----- gateway -----\n${peers.gateway.tail(30)}\n----- upstream -----\n${peers.upstream.tail(30)}`;
    const byDir = readChecks(resultsDir);
    // What the suite ran, in case its active suite grew: every one is judged.
    const ran = [...out.matchAll(/^=== Running scenario: (\S+) ===$/gm)].map(m => m[1]);
    for (const scenario of new Set([...ACTIVE_SERVER_SCENARIOS, ...ran, ...PENDING_SERVER_SCENARIOS])) {
      report.scenario(scenario, { checks: checksOf(byDir, scenario), extra });
    }
  } finally {
    await peers.stop();
    if (!keep) rmSync(resultsDir, { recursive: true, force: true });
  }
  report.listNotApplicable();
  return report.summary();
}
