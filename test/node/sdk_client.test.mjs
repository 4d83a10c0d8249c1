// The official TypeScript SDK client (@modelcontextprotocol/sdk 1.32.2: Client +
// StreamableHTTPClientTransport + an OAuthClientProvider) end to end through the gateway, the
// browser part walked headlessly. Starts its own peers (demo upstream with 5 s tokens, gateway).
//
//   node test/node/sdk_client.test.mjs [--gateway build/mcp-oauth-gateway]
//
// Exits non-zero if any step fails. The steps depend on each other and run in order.

import assert from 'node:assert/strict';
import process from 'node:process';
import { after, before, describe, it } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

import { HeadlessOAuthProvider, recordingFetch } from './lib/sdk_provider.mjs';
import {
  GATEWAY_USER,
  UPSTREAM_USER,
  expireUpstreamAccessTokens,
  sleep,
  startPeers,
  upstreamState
} from './lib/peers.mjs';

const UPSTREAM_TOKEN_TTL = 5; // seconds

let peers;
let provider;
let client;
let transport;
const httpLog = []; // every request the SDK made
const notifications = []; // notifications/message params, in arrival order
const transportErrors = [];
let failed = false;

// it(), remembering a failure so that after() can print the peers' logs and the SDK's requests.
function step(name, fn) {
  it(name, async t => {
    if (failed) {
      t.skip('an earlier step failed');
      return;
    }
    try {
      await fn(t);
    } catch (err) {
      failed = true;
      throw err;
    }
  });
}

function newClient() {
  const c = new Client({ name: 'gateway-node-test', version: '0.0.0' });
  c.setNotificationHandler(LoggingMessageNotificationSchema, n => notifications.push(n.params));
  return c;
}

function newTransport() {
  const t = new StreamableHTTPClientTransport(new URL(peers.mcpUrl), {
    authProvider: provider,
    fetch: recordingFetch(httpLog)
  });
  return t;
}

// The client's side of one connect: a 401 sends it "to the browser"; then finishAuth and again.
async function connectWithAuthorization() {
  client = newClient();
  transport = newTransport();
  let first;
  try {
    await client.connect(transport);
    return;
  } catch (err) {
    first = err;
  }
  await client.close().catch(() => {});
  assert.ok(first instanceof UnauthorizedError, `first connect: expected UnauthorizedError, got ${first?.stack ?? first}`);
  await transport.finishAuth(provider.takeCode());
  client = newClient();
  transport = newTransport();
  transport.onerror = err => transportErrors.push(err);
  await client.connect(transport);
}

const since = mark => httpLog.slice(mark);
const describeLog = entries =>
  entries.map(e => `${e.method} ${e.url} → ${e.status}${e.responseBody ? ` ${e.responseBody}` : ''}`).join('\n');
const tokenRequests = (entries, grantType) =>
  entries.filter(e => e.method === 'POST' && e.url === `${peers.gatewayOrigin}/token` && new URLSearchParams(e.body ?? '').get('grant_type') === grantType);

function echoText(result) {
  assert.equal(result.isError, undefined, JSON.stringify(result));
  return result.content.map(c => c.text).join('');
}

async function waitFor(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

describe('official TypeScript SDK client through the gateway', { timeout: 55000 }, () => {
  before(async () => {
    peers = await startPeers({ tokenTtl: UPSTREAM_TOKEN_TTL });
    provider = new HeadlessOAuthProvider({
      gatewayOrigin: peers.gatewayOrigin,
      gatewayUser: GATEWAY_USER,
      upstreamUser: UPSTREAM_USER
    });
  });

  after(async () => {
    await client?.close().catch(() => {});
    if (peers) {
      if (failed || process.env.GW_TEST_VERBOSE) {
        process.stderr.write(`\n${peers.diagnostics()}\n----- SDK requests -----\n${describeLog(httpLog)}\n`);
      }
      await peers.stop();
    }
  });

  step('a. connects: 401, discovery, registration, headless browser walk, finishAuth, initialize', async () => {
    await connectWithAuthorization();

    const first = httpLog[0];
    assert.equal(first.method, 'POST');
    assert.equal(first.url, peers.mcpUrl);
    assert.equal(first.status, 401);
    assert.match(first.wwwAuthenticate ?? '', /resource_metadata="http:\/\/localhost:\d+\/\.well-known\/oauth-protected-resource\/mcp"/);
    const register = httpLog.find(e => e.url === `${peers.gatewayOrigin}/register`);
    assert.equal(register?.status, 201, describeLog(httpLog));

    assert.equal(provider.redirects.length, 1, 'exactly one trip to the browser');
    const authUrl = provider.redirects[0];
    assert.equal(`${authUrl.origin}${authUrl.pathname}`, `${peers.gatewayOrigin}/authorize`);
    assert.equal(authUrl.searchParams.get('resource'), peers.mcpUrl, 'resource is sent verbatim');
    assert.equal(authUrl.searchParams.get('code_challenge_method'), 'S256');

    const walk = provider.walks[0];
    assert.deepEqual(walk.pages, ['gateway-login', 'gateway-consent', 'upstream-login'], walk.trail.join('\n'));
    assert.ok(walk.trail.some(t => t.includes('/upstream/callback')), walk.trail.join('\n'));
    assert.equal(walk.url.searchParams.get('iss'), peers.gatewayOrigin, 'RFC 9207 iss is the gateway issuer');

    assert.equal(tokenRequests(httpLog, 'authorization_code').length, 1);
    assert.equal(provider.savedTokens.length, 1);
    const tokens = provider.savedTokens[0].tokens;
    assert.equal(tokens.token_type.toLowerCase(), 'bearer');
    assert.ok(tokens.refresh_token, 'a refresh token');
    assert.ok(tokens.expires_in > 0 && tokens.expires_in <= UPSTREAM_TOKEN_TTL,
      `expires_in ${tokens.expires_in} must be min(gateway ttl, upstream ttl ${UPSTREAM_TOKEN_TTL})`);

    assert.equal(client.getServerVersion()?.name, 'demo-upstream');
    assert.ok(client.getServerCapabilities()?.tools, 'tools capability');
  });

  step('b. lists the tools and calls echo', async () => {
    const { tools } = await client.listTools();
    const names = tools.map(t => t.name);
    for (const name of ['echo', 'add', 'whoami', 'notify']) assert.ok(names.includes(name), `${name} in ${names}`);
    const result = await client.callTool({ name: 'echo', arguments: { message: 'hello through the gateway' } });
    assert.equal(echoText(result), 'hello through the gateway');
    const sum = await client.callTool({ name: 'add', arguments: { a: 2, b: 40 } });
    assert.deepEqual(sum.structuredContent, { sum: 42 });
  });

  step('c. server notifications arrive over SSE (request stream and standalone GET stream)', async () => {
    notifications.length = 0;
    const result = await client.callTool({ name: 'notify', arguments: { count: 2, interval_ms: 50 } });
    assert.equal(echoText(result), 'sent 2 notifications');
    // Both request-stream notifications precede the response on the same SSE stream.
    assert.deepEqual(
      notifications.filter(n => n.data !== 'standalone notification').map(n => n.data),
      ['notification 1 of 2', 'notification 2 of 2']
    );
    // The standalone one travels on the long-lived GET stream the client opened after initialize.
    const getStream = httpLog.find(e => e.method === 'GET' && e.url === peers.mcpUrl);
    assert.equal(getStream?.status, 200, `standalone GET stream: ${describeLog(httpLog.filter(e => e.method === 'GET'))}`);
    await waitFor(() => notifications.some(n => n.data === 'standalone notification'), 5000, 'the standalone notification');
  });

  step('d1. the access token expires: the client refreshes through the gateway, no browser', async () => {
    const mark = httpLog.length;
    const redirectsBefore = provider.redirects.length;
    const savedBefore = provider.savedTokens.length;
    const { tokens: old, at } = provider.savedTokens.at(-1);
    const issuedBefore = (await upstreamState(peers)).issued_access_tokens.length;

    await sleep(Math.max(0, at + old.expires_in * 1000 + 500 - Date.now()));
    const result = await client.callTool({ name: 'echo', arguments: { message: 'after expiry' } });
    assert.equal(echoText(result), 'after expiry');

    const log = since(mark);
    assert.ok(log.some(e => e.method === 'POST' && e.url === peers.mcpUrl && e.status === 401), `a 401 first:\n${describeLog(log)}`);
    const refreshes = tokenRequests(log, 'refresh_token');
    assert.equal(refreshes.length, 1, describeLog(log));
    assert.equal(refreshes[0].status, 200, describeLog(refreshes));
    assert.equal(provider.savedTokens.length, savedBefore + 1, 'saveTokens called with the refreshed pair');
    const fresh = provider.savedTokens.at(-1).tokens;
    assert.notEqual(fresh.access_token, old.access_token);
    assert.ok(fresh.expires_in > 0 && fresh.expires_in <= UPSTREAM_TOKEN_TTL, `expires_in ${fresh.expires_in}`);
    assert.equal(provider.redirects.length, redirectsBefore, 'no second browser walk');
    const issuedAfter = (await upstreamState(peers)).issued_access_tokens.length;
    assert.ok(issuedAfter > issuedBefore, 'the gateway refreshed the upstream token too');
  });

  step('d2. the upstream token dies before the gateway token: gateway 401, refresh, no browser', async () => {
    const mark = httpLog.length;
    const redirectsBefore = provider.redirects.length;
    const savedBefore = provider.savedTokens.length;
    const old = provider.savedTokens.at(-1).tokens;
    const issuedBefore = (await upstreamState(peers)).issued_access_tokens.length;

    await expireUpstreamAccessTokens(peers); // the gateway half is still valid for a few seconds
    const result = await client.callTool({ name: 'echo', arguments: { message: 'after upstream expiry' } });
    assert.equal(echoText(result), 'after upstream expiry');

    const log = since(mark);
    const challenged = log.find(e => e.method === 'POST' && e.url === peers.mcpUrl && e.status === 401);
    assert.ok(challenged, `the gateway answered 401:\n${describeLog(log)}`);
    assert.match(challenged.wwwAuthenticate ?? '', /resource_metadata="http:\/\/localhost:\d+\/\.well-known\/oauth-protected-resource\/mcp"/,
      'the 401 is the gateway\'s own challenge, not the upstream\'s');
    const refreshes = tokenRequests(log, 'refresh_token');
    assert.equal(refreshes.length, 1, describeLog(log));
    assert.equal(refreshes[0].status, 200, describeLog(refreshes));
    assert.equal(provider.savedTokens.length, savedBefore + 1);
    assert.notEqual(provider.savedTokens.at(-1).tokens.access_token, old.access_token);
    assert.equal(provider.redirects.length, redirectsBefore, 'no second browser walk');
    const issuedAfter = (await upstreamState(peers)).issued_access_tokens.length;
    assert.ok(issuedAfter > issuedBefore, 'the gateway refreshed the upstream token even though its own was not due');
  });

  step('e. revoked at the gateway: the next call fails with 401, and only a browser walk could recover', async () => {
    const held = provider.tokens();
    const clientId = provider.clientInformation().client_id;
    const revokedUpstreamBefore = (await upstreamState(peers)).revoked_tokens.length;
    for (const token of [held.access_token, held.refresh_token]) {
      const res = await fetch(`${peers.gatewayOrigin}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token, client_id: clientId })
      });
      assert.equal(res.status, 200, `POST /revoke: ${res.status} ${await res.text()}`);
    }

    const mark = httpLog.length;
    const redirectsBefore = provider.redirects.length;
    const savedBefore = provider.savedTokens.length;
    provider.browserAllowed = false; // the user does not come back from the browser
    await assert.rejects(
      client.callTool({ name: 'echo', arguments: { message: 'after revocation' } }),
      err => {
        assert.ok(err instanceof UnauthorizedError || err?.code === 401 || /401/.test(String(err?.message)),
          `expected an authorization failure, got ${err?.stack ?? err}`);
        return true;
      }
    );
    const log = since(mark);
    const challenged = log.find(e => e.method === 'POST' && e.url === peers.mcpUrl);
    assert.equal(challenged?.status, 401, `the revoked token is refused:\n${describeLog(log)}`);
    // The SDK tries its refresh token once; the gateway must refuse it with exactly invalid_grant
    // (that code is what makes clients drop the tokens and go back to the browser).
    const refreshes = tokenRequests(log, 'refresh_token');
    assert.equal(refreshes.length, 1, describeLog(log));
    assert.equal(refreshes[0].status, 400, describeLog(refreshes));
    assert.equal(JSON.parse(refreshes[0].responseBody).error, 'invalid_grant', describeLog(refreshes));
    assert.equal(provider.savedTokens.length, savedBefore, 'no token was issued without the browser');
    assert.equal(provider.redirects.length, redirectsBefore + 1, 'the client was sent back to the browser, once');
    assert.equal(tokenRequests(log, 'authorization_code').length, 0);

    // The revoked pair stays dead when presented directly.
    const direct = await fetch(peers.mcpUrl, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${held.access_token}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream'
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' })
    });
    assert.equal(direct.status, 401);
    await direct.body?.cancel();

    const revokedUpstream = (await upstreamState(peers)).revoked_tokens.length;
    assert.ok(revokedUpstream > revokedUpstreamBefore, 'the gateway passed the revocation to the upstream');
  });

  step('f. the upstream only ever saw its own tokens, never a gateway token', async () => {
    const state = await upstreamState(peers);
    assert.ok(state.received_bearer_tokens.length > 0);
    const issued = new Set(state.issued_access_tokens);
    for (const t of state.received_bearer_tokens) {
      assert.ok(issued.has(t), `the upstream received a token it did not issue: ${t.slice(0, 12)}…`);
    }
    const held = new Set(provider.savedTokens.flatMap(s => [s.tokens.access_token, s.tokens.refresh_token]));
    for (const t of state.received_bearer_tokens) assert.ok(!held.has(t), 'a gateway token reached the upstream');
    // And the client never held an upstream token (sealed format), in any form.
    const upstreamTokens = [...state.issued_access_tokens, ...state.issued_refresh_tokens];
    for (const g of held) {
      const decoded = Buffer.from(g, 'base64url').toString('latin1');
      for (const u of upstreamTokens) {
        assert.ok(!g.includes(u) && !decoded.includes(u), 'the client holds a usable upstream token');
      }
    }
  });

  step('g. the gateway stops cleanly on SIGTERM (exit 0)', async () => {
    await client.close();
    client = undefined;
    const exit = await peers.gateway.stop();
    assert.deepEqual(exit, { code: 0, signal: null }, peers.gateway.tail());
    assert.doesNotMatch(peers.gateway.output, /Sanitizer|runtime error:/);
  });
});
