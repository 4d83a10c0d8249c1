// conformance.mjs, part `client`: the suite's client `auth/*` scenarios against the gateway's
// upstream half. Those scenarios test an OAuth *client*: the suite runs a mock MCP server with a
// mock authorization server and checks what the client does against it. The gateway is an OAuth
// client, of its upstream, so each scenario runs conformance.mjs in `--as-client` mode as "the
// client under test": it starts the gateway in front of the suite's mock server (upstream.rs = the
// URL the suite passes) and drives the official SDK client through the gateway (for the 2026-07-28
// draft scenarios, a small stateless client: draftSession), headless browser walk included (the
// mock authorization server approves at once). The suite's checks then judge
// the gateway's upstream OAuth: discovery, registration, PKCE, resource, scopes, iss, token
// endpoint authentication.

import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { CLIENT_EXIT, checksOf, readChecks, Report, runSuite } from './conformance_suite.mjs';

const CONFORMANCE_MJS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../conformance.mjs');

export const CLIENT_SCENARIOS = [
  'auth/metadata-default',
  'auth/metadata-var1',
  'auth/metadata-var2',
  'auth/metadata-var3',
  'auth/scope-from-www-authenticate',
  'auth/scope-from-scopes-supported',
  'auth/scope-omitted-when-undefined',
  'auth/scope-step-up',
  'auth/scope-retry-limit',
  'auth/token-endpoint-auth-basic',
  'auth/token-endpoint-auth-post',
  'auth/token-endpoint-auth-none',
  'auth/pre-registration',
  'auth/2025-03-26-oauth-metadata-backcompat',
  'auth/2025-03-26-oauth-endpoint-fallback',
  'auth/resource-mismatch',
  'auth/offline-access-scope',
  'auth/offline-access-not-supported',
  'auth/authorization-server-migration',
  'auth/iss-supported',
  'auth/iss-not-advertised',
  'auth/iss-supported-missing',
  'auth/iss-wrong-issuer',
  'auth/iss-unexpected',
  'auth/iss-normalized',
  'auth/metadata-issuer-mismatch'
];

export const CLIENT_NOT_APPLICABLE = {
  'auth/basic-cimd':
    'a SHOULD (use an https client id metadata document URL when the server supports them): the ' +
    'gateway registers with its upstream (RFC 7591) or uses the configured client id; it publishes ' +
    'no client metadata document of its own',
  'auth/client-credentials-jwt': 'extension (client_credentials grant); the gateway uses authorization_code upstream',
  'auth/client-credentials-basic': 'extension (client_credentials grant); the gateway uses authorization_code upstream',
  'auth/enterprise-managed-authorization': 'extension (enterprise-managed authorization)',
  'auth/dpop': 'extension (DPoP-bound tokens)',
  'auth/dpop-nonce': 'extension (DPoP-bound tokens)',
  'auth/wif-jwt-bearer': 'extension (workload identity federation)',
  'initialize, tools_call, sse-retry, request-metadata, http-*-headers, json-schema-*, elicitation-*, sep-2322-*, sep-2640-*':
    'not auth scenarios: they test how an MCP client speaks MCP; the gateway is no MCP client ' +
    '(it relays what its clients send)'
};

const SEP_2352 =
  'SEP-2352 (2026-07-28 draft): the gateway keeps its upstream authorization server and registration ' +
  'when the upstream\'s protected-resource metadata names a new one (README, Conformance results)';
export const CLIENT_KNOWN_FAILURES = {
  'auth/authorization-server-migration': {
    'sep-2352-reregister-on-as-change': SEP_2352,
    [CLIENT_EXIT]: `so the client's calls end with the gateway's 401: ${SEP_2352}`
  }
};

// ---------------------------------------------------------------- the client under test

export async function asClient({ gateway, serverUrl }) {
  const { startPeers, GATEWAY_USER } = await import('./peers.mjs');
  const { HeadlessOAuthProvider, recordingFetch } = await import('./sdk_provider.mjs');
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const { UnauthorizedError } = await import('@modelcontextprotocol/sdk/client/auth.js');

  const context = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
  const upstreamConfig = {};
  if (context.client_id) upstreamConfig.client_id = context.client_id;
  if (context.client_secret) upstreamConfig.client_secret = context.client_secret;
  const log = m => process.stderr.write(`[as-client] ${m}\n`);
  const wire = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION;
  log(`scenario ${process.env.MCP_CONFORMANCE_SCENARIO} (MCP ${wire}); upstream ${serverUrl}; context ${JSON.stringify(Object.keys(context))}`);

  const peers = await startPeers({ upstreamRs: serverUrl, upstreamConfig, logLevel: 'debug', gatewayPath: gateway });
  let client;
  let provider;
  const httpLog = [];
  const logHttp = () => {
    for (const e of httpLog.splice(0)) {
      if (e.status >= 400) log(`${e.method} ${e.url} → ${e.status} ${e.wwwAuthenticate ?? ''} ${e.responseBody ?? ''}`);
    }
  };
  try {
    // The mock authorization server has no login page: it redirects at once.
    provider = new HeadlessOAuthProvider({
      gatewayOrigin: peers.gatewayOrigin,
      gatewayUser: GATEWAY_USER,
      upstreamUser: { username: 'unused', password: 'unused' }
    });
    if (wire === DRAFT_VERSION) {
      await draftSession({ mcpUrl: peers.mcpUrl, provider, fetchFn: recordingFetch(httpLog), log });
      logHttp();
      return 0;
    }
    const newTransport = () =>
      new StreamableHTTPClientTransport(new URL(peers.mcpUrl), { authProvider: provider, fetch: recordingFetch(httpLog) });
    // Connect; whenever the SDK stops at the browser (UnauthorizedError) and the walk produced a
    // code, hand it over with finishAuth and connect again (a few rounds at most).
    const connect = async () => {
      for (let round = 0; ; round++) {
        if (provider.pendingCode) await newTransport().finishAuth(provider.takeCode());
        client = new Client({ name: 'gateway-conformance-client', version: '0.0.0' });
        try {
          await client.connect(newTransport());
          return;
        } catch (err) {
          await client.close().catch(() => {});
          if (!(err instanceof UnauthorizedError) || !provider.pendingCode || round >= 3) throw err;
        }
      }
    };
    await connect();
    log(`connected; walks: ${provider.walks.map(w => w.pages.join('>')).join(' | ')}`);
    const { tools } = await client.listTools();
    log(`tools: ${tools.map(t => t.name).join(', ')}`);
    for (const tool of tools) {
      try {
        const result = await client.callTool({ name: tool.name, arguments: {} });
        log(`called ${tool.name}: ${JSON.stringify(result).slice(0, 200)}`);
      } catch (err) {
        logHttp();
        log(`call ${tool.name} failed: ${err?.message ?? err}`);
        // Step-up: the SDK re-authorized (403 insufficient_scope → refresh refused → browser);
        // finish that authorization and try the call once more.
        if (!(err instanceof UnauthorizedError) || !provider.pendingCode) throw err;
        await client.close().catch(() => {});
        await connect();
        const result = await client.callTool({ name: tool.name, arguments: {} });
        log(`called ${tool.name} after re-authorization: ${JSON.stringify(result).slice(0, 200)}`);
      }
    }
    logHttp();
    await client.close();
    return 0;
  } catch (err) {
    logHttp();
    log(`FAILED: ${err?.stack ?? err}`);
    log(`scopes the client asked the gateway for, per authorization: ${JSON.stringify(provider?.redirects.map(u => u.searchParams.get('scope')))}`);
    log(`gateway log:\n${peers.gateway?.tail(60) ?? ''}`);
    return 1;
  } finally {
    await client?.close().catch(() => {});
    await peers.stop();
  }
}

// The 2026-07-28 draft has no initialize: every request stands alone, carries MCP-Protocol-Version
// and the protocol version and client capabilities in params._meta. The SDK 1.32 client cannot
// speak it (it opens with initialize), so for the draft scenarios this small client lists and
// calls the tools through the gateway itself, and leaves OAuth to the SDK's auth() as its
// transport does: on 401, authorize (or refresh); on 403 insufficient_scope, authorize for the
// scope named, once per challenge.
const DRAFT_VERSION = '2026-07-28';

async function draftSession({ mcpUrl, provider, fetchFn, log }) {
  const { auth, extractWWWAuthenticateParams } = await import('@modelcontextprotocol/sdk/client/auth.js');
  let nextId = 1;
  const authorize = async (res, triedChallenges) => {
    const { resourceMetadataUrl, scope, error } = extractWWWAuthenticateParams(res);
    const challenge = res.headers.get('www-authenticate');
    if (res.status === 403 && error !== 'insufficient_scope') return false;
    if (triedChallenges.has(challenge)) return false;
    triedChallenges.add(challenge);
    const options = { serverUrl: mcpUrl, resourceMetadataUrl, scope, fetchFn };
    let result = await auth(provider, options);
    if (result === 'REDIRECT' && provider.pendingCode) {
      result = await auth(provider, { ...options, authorizationCode: provider.takeCode() });
    }
    return result === 'AUTHORIZED';
  };
  const request = async (method, params = {}) => {
    const body = {
      jsonrpc: '2.0',
      id: nextId++,
      method,
      params: {
        ...params,
        _meta: {
          'io.modelcontextprotocol/protocolVersion': DRAFT_VERSION,
          'io.modelcontextprotocol/clientInfo': { name: 'gateway-conformance-client', version: '0.0.0' },
          'io.modelcontextprotocol/clientCapabilities': {}
        }
      }
    };
    const triedChallenges = new Set();
    for (;;) {
      const headers = {
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': DRAFT_VERSION
      };
      const token = provider.tokens()?.access_token;
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetchFn(mcpUrl, { method: 'POST', headers, body: JSON.stringify(body) });
      if ((res.status === 401 || res.status === 403) && (await authorize(res, triedChallenges))) continue;
      const text = await res.text();
      if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${text}`);
      const json = res.headers.get('content-type')?.includes('text/event-stream')
        ? JSON.parse(/^data: (.*)$/m.exec(text)?.[1] ?? 'null')
        : JSON.parse(text);
      if (json?.error) throw new Error(`${method}: ${JSON.stringify(json.error)}`);
      return json.result;
    }
  };
  const { tools } = await request('tools/list');
  log(`tools: ${tools.map(t => t.name).join(', ')}`);
  for (const tool of tools) {
    const result = await request('tools/call', { name: tool.name, arguments: {} });
    log(`called ${tool.name}: ${JSON.stringify(result).slice(0, 200)}`);
  }
}

// ---------------------------------------------------------------- runner

export async function runClientPart({ gateway, scenarios, keep, strict }) {
  const report = new Report('client', { knownFailures: CLIENT_KNOWN_FAILURES, notApplicable: CLIENT_NOT_APPLICABLE, strict });
  const resultsDir = keep ? path.join(keep, 'client') : mkdtempSync(path.join(os.tmpdir(), 'gw-conformance-client-'));
  const quote = s => `'${s.replace(/'/g, `'\\''`)}'`;
  const command = [process.execPath, CONFORMANCE_MJS, '--as-client', '--gateway', gateway].map(quote).join(' ');
  for (const scenario of scenarios ?? CLIENT_SCENARIOS) {
    const outDir = path.join(resultsDir, scenario.replace(/\//g, '_'));
    const { out } = await runSuite(['client', '--scenario', scenario, '--command', command, '--timeout', '45000', '-o', outDir]);
    const checks = checksOf(readChecks(outDir), scenario);
    const failures = checks.filter(c => c.status === 'FAILURE').map(c => c.id);
    // The suite prints this when the command it ran (our --as-client) exited non-zero.
    if (/CLIENT EXITED WITH ERROR/.test(out)) failures.push(CLIENT_EXIT);
    report.scenario(scenario, { checks, failures, extra: out });
  }
  if (!keep) rmSync(resultsDir, { recursive: true, force: true });
  if (!scenarios) report.listNotApplicable();
  return report.summary();
}
