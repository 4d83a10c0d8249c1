// @modelcontextprotocol/conformance against the gateway.
//
//   node test/node/conformance.mjs [--gateway build/mcp-oauth-gateway] [--scenario NAME]... [--keep-results DIR]
//
// What the suite offers (0.1.16): its `server` scenarios test an MCP server through an
// *unauthenticated* client (no OAuth at all: the gateway answers 401 to every one of them, and the
// tools they call, test_simple_text etc., exist only on the suite's own reference server); its
// `auth/*` scenarios are *client* scenarios: the suite runs a mock MCP server with a mock
// authorization server and checks what an OAuth client does against it. There is no scenario that
// tests an authorization server. The gateway *is* an OAuth client, of its upstream, so this runner
// tests that half: each auth scenario runs this file in `--as-client` mode as "the client under
// test", which starts the gateway in front of the suite's mock server (upstream.rs = the URL the
// suite passes) and drives the official SDK client through the gateway, headless browser walk
// included (the mock authorization server approves at once). The suite's checks then judge the
// gateway's upstream OAuth: discovery, registration, PKCE, resource, scopes, token-endpoint auth.
//
// The suite needs Node 22 (it imports fs.globSync); the system node stays as it is: the npm
// package `node@22` (a devDependency here, its install script approved in package.json
// `allowScripts`) provides node_modules/node/bin/node, which runs only the suite. The client side
// (this file, the SDK) runs on the system node. Exit status: non-zero if any scenario fails.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// The auth scenarios that apply to an OAuth client with a browser (authorization_code) flow.
// Left out: auth/basic-cimd (the gateway has no client metadata document URL of its own to offer
// upstream), auth/client-credentials-*, auth/cross-app-access-* (extensions, other grants).
const DEFAULT_SCENARIOS = [
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
  'auth/offline-access-not-supported'
];

// Scenarios the gateway fails today, each a gateway behaviour to fix, not a test problem. A
// listed scenario that fails is reported but does not fail the run; one that passes fails the run
// ("stale baseline": delete its line). --strict ignores this list. Empty: the six found on
// 2026-11-26 (discovery through the 401 challenge, scopes from challenges and step-up, the RFC
// 9728 resource check, the 2025-03-26 fallbacks) are fixed, and this guards them.
const KNOWN_FAILURES = {};

function args(argv) {
  const out = { gateway: undefined, scenarios: [], asClient: false, keep: undefined, strict: false, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--gateway') out.gateway = argv[++i];
    else if (a.startsWith('--gateway=')) out.gateway = a.slice(10);
    else if (a === '--scenario') out.scenarios.push(argv[++i]);
    else if (a === '--keep-results') out.keep = argv[++i];
    else if (a === '--as-client') out.asClient = true;
    else if (a === '--strict') out.strict = true;
    else out.rest.push(a);
  }
  return out;
}

// ---------------------------------------------------------------- client under test

async function asClient(opts) {
  const serverUrl = opts.rest.at(-1); // the suite appends the mock server's URL
  const { startPeers, GATEWAY_USER } = await import('./lib/peers.mjs');
  const { HeadlessOAuthProvider, recordingFetch } = await import('./lib/sdk_provider.mjs');
  const { Client } = await import('@modelcontextprotocol/sdk/client/index.js');
  const { StreamableHTTPClientTransport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  const { UnauthorizedError } = await import('@modelcontextprotocol/sdk/client/auth.js');

  const context = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
  const upstreamConfig = {};
  if (context.client_id) upstreamConfig.client_id = context.client_id;
  if (context.client_secret) upstreamConfig.client_secret = context.client_secret;
  const log = m => process.stderr.write(`[as-client] ${m}\n`);
  log(`scenario ${process.env.MCP_CONFORMANCE_SCENARIO}; upstream ${serverUrl}; context ${JSON.stringify(Object.keys(context))}`);

  const peers = await startPeers({ upstreamRs: serverUrl, upstreamConfig, logLevel: 'debug', gatewayPath: opts.gateway });
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

// ---------------------------------------------------------------- runner

function run(command, argv, options) {
  return new Promise(resolve => {
    const child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    let out = '';
    child.stdout.on('data', d => (out += d));
    child.stderr.on('data', d => (out += d));
    child.on('exit', code => resolve({ code, out }));
    child.on('error', err => resolve({ code: -1, out: String(err) }));
  });
}

async function runner(opts) {
  const node22 = path.join(HERE, 'node_modules/node/bin/node');
  if (!existsSync(node22)) {
    console.error(`conformance: ${node22} is missing (npm ci in test/node; the node@22 install script must be allowed)`);
    return 2;
  }
  const suite = path.join(path.dirname(require.resolve('@modelcontextprotocol/conformance/package.json')), 'dist/index.js');
  const gateway = path.resolve(opts.gateway ?? path.join(HERE, '../../build/mcp-oauth-gateway'));
  const scenarios = opts.scenarios.length ? opts.scenarios : DEFAULT_SCENARIOS;
  const resultsDir = opts.keep ? path.resolve(opts.keep) : mkdtempSync(path.join(os.tmpdir(), 'gw-conformance-'));
  const quote = s => `'${s.replace(/'/g, `'\\''`)}'`;
  const clientCommand = [process.execPath, path.join(HERE, 'conformance.mjs'), '--as-client', '--gateway', gateway].map(quote).join(' ');

  let passed = 0;
  let failed = 0;
  let unexpected = 0;
  let knownFailed = 0;
  for (const scenario of scenarios) {
    const outDir = path.join(resultsDir, scenario.replace(/\//g, '_'));
    const { code, out } = await run(node22, [suite, 'client', '--scenario', scenario, '--command', clientCommand, '--timeout', '45000', '-o', outDir], { cwd: HERE });
    const checks = [];
    for (const dir of existsSync(outDir) ? readdirSync(outDir, { recursive: true }).map(String) : []) {
      if (dir.endsWith('checks.json')) checks.push(...JSON.parse(readFileSync(path.join(outDir, dir), 'utf8')));
    }
    const bad = checks.filter(c => c.status === 'FAILURE');
    const warn = checks.filter(c => c.status === 'WARNING');
    const ok = code === 0 && bad.length === 0 && checks.length > 0;
    const known = !opts.strict && KNOWN_FAILURES[scenario];
    if (ok) passed++;
    else failed++;
    if (ok === Boolean(known)) unexpected++;
    if (!ok && known) knownFailed++;
    const label = ok ? (known ? 'STALE ' : 'ok    ') : known ? 'known ' : 'FAILED';
    console.log(`${label} ${scenario} (exit ${code}; ${checks.filter(c => c.status === 'SUCCESS').length} checks passed, ${bad.length} failed, ${warn.length} warnings)`);
    if (known) console.log(`         ${ok ? 'listed as a known failure but passed: remove it from KNOWN_FAILURES' : `known: ${known}`}`);
    for (const c of [...bad, ...warn]) console.log(`         ${c.status} ${c.id}: ${c.errorMessage ?? c.description}`);
    if (!ok && process.env.GW_TEST_VERBOSE) console.log(out.split('\n').map(l => `         | ${l}`).join('\n'));
  }
  if (!opts.keep) rmSync(resultsDir, { recursive: true, force: true });
  else console.log(`results in ${resultsDir}`);
  console.log(`conformance: ${passed} scenarios passed, ${failed} failed (${knownFailed} of them known failures); ${unexpected} unexpected`);
  return unexpected ? 1 : 0;
}

const opts = args(process.argv.slice(2));
process.exitCode = opts.asClient ? await asClient(opts) : await runner(opts);
