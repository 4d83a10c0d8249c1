// mcp-remote (the stdio↔HTTP bridge Claude Desktop uses for remote servers) driven headlessly
// through the gateway: JSON-RPC on its stdin/stdout, the browser part walked over HTTP, the final
// redirect delivered to mcp-remote's own callback server. Starts its own peers (demo upstream
// with 5 s tokens, gateway).
//
//   node test/node/mcp_remote.test.mjs [--gateway build/mcp-oauth-gateway]
//
// No real browser is opened: mcp-remote calls the `open` package, which on Linux runs its bundled
// xdg-open; with no desktop detected (DISPLAY, WAYLAND_DISPLAY, XDG_CURRENT_DESKTOP unset) xdg-open
// runs $BROWSER with the URL. BROWSER points at a two-line script that only appends the URL to a
// file, which the test then walks. (mcp-remote also prints the URL on stderr after "Please
// authorize this client by visiting:"; the test checks both agree.)

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import process from 'node:process';
import { after, before, describe, it } from 'node:test';

import { walkAuthorization } from './lib/browser.mjs';
import { freePort, GATEWAY_USER, UPSTREAM_USER, sleep, startPeers, upstreamState } from './lib/peers.mjs';

const UPSTREAM_TOKEN_TTL = 5; // seconds
const require = createRequire(import.meta.url);
const MCP_REMOTE_PKG = require.resolve('mcp-remote/package.json');
const MCP_REMOTE_VERSION = JSON.parse(readFileSync(MCP_REMOTE_PKG, 'utf8')).version;
const MCP_REMOTE_BIN = path.join(
  path.dirname(MCP_REMOTE_PKG),
  JSON.parse(readFileSync(MCP_REMOTE_PKG, 'utf8')).bin['mcp-remote']
);

let peers;
let bridge; // {proc, stderr, messages, exit}
let callbackPort;
let browserLog;
let configDir;
let failed = false;

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

function startBridge() {
  const env = { ...process.env };
  for (const k of ['DISPLAY', 'WAYLAND_DISPLAY', 'XDG_CURRENT_DESKTOP', 'DESKTOP_SESSION', 'KDE_FULL_SESSION', 'GNOME_DESKTOP_SESSION_ID']) {
    delete env[k];
  }
  const fakeBrowser = path.join(peers.dir, 'fake-browser.sh');
  writeFileSync(fakeBrowser, `#!/bin/sh\nprintf '%s\\n' "$1" >> '${browserLog}'\n`);
  chmodSync(fakeBrowser, 0o755);
  env.BROWSER = fakeBrowser;
  env.MCP_REMOTE_CONFIG_DIR = configDir;

  const proc = spawn(
    process.execPath,
    [MCP_REMOTE_BIN, peers.mcpUrl, String(callbackPort), '--host', '127.0.0.1', '--transport', 'http-only'],
    { env, cwd: peers.dir, stdio: ['pipe', 'pipe', 'pipe'] }
  );
  const b = { proc, stderr: '', stdoutRest: '', messages: [], exit: null };
  b.exited = new Promise(resolve => proc.on('exit', (code, signal) => resolve((b.exit = { code, signal }))));
  proc.on('error', err => {
    b.stderr += `[spawn error: ${err.message}]\n`;
  });
  proc.stderr.setEncoding('utf8');
  proc.stderr.on('data', d => (b.stderr += d));
  proc.stdout.setEncoding('utf8');
  proc.stdout.on('data', d => {
    b.stdoutRest += d;
    let nl;
    while ((nl = b.stdoutRest.indexOf('\n')) >= 0) {
      const line = b.stdoutRest.slice(0, nl).trim();
      b.stdoutRest = b.stdoutRest.slice(nl + 1);
      if (!line) continue;
      try {
        b.messages.push(JSON.parse(line));
      } catch {
        b.messages.push({ unparsed: line });
      }
    }
  });
  return b;
}

const send = message => bridge.proc.stdin.write(`${JSON.stringify(message)}\n`);

async function waitFor(predicate, timeoutMs, what) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = predicate();
    if (value) return value;
    if (bridge?.exit) throw new Error(`mcp-remote exited (${JSON.stringify(bridge.exit)}) while waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

const response = (id, timeoutMs = 15000) =>
  waitFor(() => bridge.messages.find(m => m.id === id && ('result' in m || 'error' in m)), timeoutMs, `the response to request ${id}`);

let nextId = 1;
async function request(method, params, timeoutMs) {
  const id = nextId++;
  send({ jsonrpc: '2.0', id, method, ...(params ? { params } : {}) });
  const m = await response(id, timeoutMs);
  assert.equal(m.error, undefined, `${method}: ${JSON.stringify(m.error)}`);
  return m.result;
}

const browserUrls = () => (existsSync(browserLog) ? readFileSync(browserLog, 'utf8').split('\n').filter(Boolean) : []);
const authorizePrompts = () => [...bridge.stderr.matchAll(/Please authorize this client by visiting:\s*\n(\S+)/g)].map(m => m[1]);

describe(`mcp-remote ${MCP_REMOTE_VERSION} through the gateway`, { timeout: 55000 }, () => {
  before(async () => {
    peers = await startPeers({ tokenTtl: UPSTREAM_TOKEN_TTL });
    callbackPort = await freePort();
    browserLog = path.join(peers.dir, 'browser-urls.txt');
    configDir = path.join(peers.dir, 'mcp-remote-config');
    mkdirSync(configDir);
  });

  after(async () => {
    if (bridge && !bridge.exit) {
      bridge.proc.kill('SIGTERM');
      const t = setTimeout(() => bridge.proc.kill('SIGKILL'), 3000);
      await bridge.exited;
      clearTimeout(t);
    }
    if (peers) {
      if (failed || process.env.GW_TEST_VERBOSE) {
        process.stderr.write(`\n${peers.diagnostics()}\n----- mcp-remote stderr -----\n${bridge?.stderr ?? ''}\n`);
      }
      await peers.stop();
    }
  });

  step('a. initialize: mcp-remote "opens the browser", the walk lands on its callback server', async () => {
    bridge = startBridge();
    // Like Claude Desktop: initialize right away; the answer comes once the sign-in is done.
    const initId = nextId++;
    send({
      jsonrpc: '2.0',
      id: initId,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'gateway-node-test', version: '0.0.0' } }
    });

    const [authUrl] = await waitFor(() => (browserUrls().length ? browserUrls() : undefined), 15000, 'the fake browser to be called');
    const url = new URL(authUrl);
    assert.equal(`${url.origin}${url.pathname}`, `${peers.gatewayOrigin}/authorize`);
    const redirectUri = `http://127.0.0.1:${callbackPort}/oauth/callback`;
    assert.equal(url.searchParams.get('redirect_uri'), redirectUri);
    assert.equal(url.searchParams.get('resource'), peers.mcpUrl);
    // The prompt and the browser get the same URL (the browser's copy is re-encoded: %20 for +).
    const sameUrl = (a, b) => {
      const [x, y] = [new URL(a), new URL(b)];
      return x.origin + x.pathname === y.origin + y.pathname &&
        JSON.stringify([...x.searchParams].sort()) === JSON.stringify([...y.searchParams].sort());
    };
    const prompts = authorizePrompts();
    assert.ok(prompts.length === 1 && sameUrl(prompts[0], authUrl), `stderr prompt ${prompts} vs browser ${authUrl}`);

    const walk = await walkAuthorization(authUrl, {
      gatewayOrigin: peers.gatewayOrigin,
      redirectUri,
      gatewayUser: GATEWAY_USER,
      upstreamUser: UPSTREAM_USER,
      deliver: true
    });
    assert.deepEqual(walk.pages, ['gateway-login', 'gateway-consent', 'upstream-login'], walk.trail.join('\n'));
    assert.equal(walk.url.searchParams.get('state'), url.searchParams.get('state'));
    assert.equal(walk.url.searchParams.get('iss'), peers.gatewayOrigin);
    assert.equal(walk.delivered.status, 200, walk.delivered.body);
    assert.match(walk.delivered.body, /Authorization successful/);

    const init = await response(initId, 20000);
    assert.equal(init.error, undefined, JSON.stringify(init.error));
    assert.equal(init.result.serverInfo.name, 'demo-upstream');
    assert.ok(init.result.capabilities.tools);
    send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  });

  step('b. tools/list and tools/call echo over stdio', async () => {
    const { tools } = await request('tools/list');
    const names = tools.map(t => t.name);
    for (const name of ['echo', 'add', 'whoami', 'notify']) assert.ok(names.includes(name), `${name} in ${names}`);
    const result = await request('tools/call', { name: 'echo', arguments: { message: 'hello from mcp-remote' } });
    assert.deepEqual(result.content, [{ type: 'text', text: 'hello from mcp-remote' }]);
  });

  step('c. server notifications reach stdout', async () => {
    const before = bridge.messages.length;
    const result = await request('tools/call', { name: 'notify', arguments: { count: 2, interval_ms: 50 } });
    assert.deepEqual(result.content, [{ type: 'text', text: 'sent 2 notifications' }]);
    const data = bridge.messages
      .slice(before)
      .filter(m => m.method === 'notifications/message')
      .map(m => m.params.data);
    assert.deepEqual(data.filter(d => d !== 'standalone notification'), ['notification 1 of 2', 'notification 2 of 2']);
  });

  step('d. after the access token expired, calls still work (refresh through the gateway, no browser)', async () => {
    const issuedBefore = (await upstreamState(peers)).issued_access_tokens.length;
    await sleep(UPSTREAM_TOKEN_TTL * 1000 + 500);
    const result = await request('tools/call', { name: 'echo', arguments: { message: 'after expiry' } });
    assert.deepEqual(result.content, [{ type: 'text', text: 'after expiry' }]);
    assert.equal(browserUrls().length, 1, 'the browser was opened only once');
    assert.equal(authorizePrompts().length, 1);
    assert.ok((await upstreamState(peers)).issued_access_tokens.length > issuedBefore, 'the upstream token was refreshed');
  });

  step('e. the upstream saw only its own tokens; mcp-remote kept its state in MCP_REMOTE_CONFIG_DIR', async () => {
    const state = await upstreamState(peers);
    const issued = new Set(state.issued_access_tokens);
    assert.ok(state.received_bearer_tokens.length > 0);
    for (const t of state.received_bearer_tokens) assert.ok(issued.has(t), 'the upstream received a token it did not issue');

    const files = readdirSync(configDir, { recursive: true }).map(String);
    const tokenFile = files.find(f => f.endsWith('_tokens.json'));
    assert.ok(tokenFile, `tokens stored under MCP_REMOTE_CONFIG_DIR: ${files}`);
    const held = JSON.parse(readFileSync(path.join(configDir, tokenFile), 'utf8'));
    assert.ok(held.access_token && !issued.has(held.access_token), 'mcp-remote holds a gateway token, not an upstream one');
    assert.ok(!state.received_bearer_tokens.includes(held.access_token));
  });

  step('f. closing stdin ends mcp-remote', async () => {
    bridge.proc.stdin.end();
    const exit = await Promise.race([bridge.exited, sleep(5000).then(() => undefined)]);
    if (!exit) {
      bridge.proc.kill('SIGTERM');
      await bridge.exited;
    }
    const unparsed = bridge.messages.filter(m => m.unparsed);
    assert.deepEqual(unparsed, [], 'stdout carries only JSON-RPC');
  });
});
