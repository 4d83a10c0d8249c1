// The README's run command on a fresh checkout: `tools/run` with the shipped gateway.yaml and no
// upstream credentials starts the bundled demo upstream beside the gateway, prints the MCP URL and
// the next step, and an MCP client (the official SDK) gets from there to an authorized tool call.
// SIGTERM stops both.
//
//   node test/node/first_run.test.mjs [--gateway build/mcp-oauth-gateway]
//
// It runs tools/run in a scratch directory laid out like the repository (tools/ and build/ are
// links to the real ones, gateway.yaml a copy), so the SQLite state it creates stays there.
// Needs 127.0.0.1:3001 (the demo upstream's port in gateway.yaml) to be free.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { after, describe, it } from 'node:test';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { HeadlessOAuthProvider } from './lib/sdk_provider.mjs';
import { REPO_ROOT, UPSTREAM_USER, gatewayPathFromArgs } from './lib/peers.mjs';

const DEMO_PORT = 3001;

function listening(port) {
  return new Promise(resolve => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function waitForOutput(output, pattern, child, timeoutMs) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      clearInterval(poll);
      reject(new Error(`no ${pattern} within ${timeoutMs} ms; output:\n${output.text}`));
    }, timeoutMs);
    const poll = setInterval(() => {
      const match = output.text.match(pattern);
      if (match) {
        clearTimeout(timer);
        clearInterval(poll);
        resolve(match);
      } else if (child.exitCode !== null) {
        clearTimeout(timer);
        clearInterval(poll);
        reject(new Error(`tools/run exited ${child.exitCode}; output:\n${output.text}`));
      }
    }, 50);
  });
}

describe('first run: tools/run with the shipped gateway.yaml', { timeout: 120000 }, () => {
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'first-run-'));
  const output = { text: '' };
  let run;

  after(async () => {
    if (run && run.exitCode === null) run.kill('SIGKILL');
    fs.rmSync(scratch, { recursive: true, force: true });
  });

  it('starts the demo upstream and the gateway, and a client reaches a tool through both', async () => {
    assert.equal(await listening(DEMO_PORT), false, `127.0.0.1:${DEMO_PORT} must be free for this test`);
    fs.symlinkSync(path.join(REPO_ROOT, 'tools'), path.join(scratch, 'tools'));
    fs.symlinkSync(path.dirname(gatewayPathFromArgs()), path.join(scratch, 'build'));
    // The admin listener's fixed port (9102) becomes 0: another gateway may hold it here.
    const shipped = fs.readFileSync(path.join(REPO_ROOT, 'gateway.yaml'), 'utf8');
    const copy = shipped.replace(/^(admin:\n(?:  .*\n)*?  port: )9102$/m, (_, head) => `${head}0`);
    assert.notEqual(copy, shipped, 'gateway.yaml has no admin port 9102 to move');
    fs.writeFileSync(path.join(scratch, 'gateway.yaml'), copy);
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('MCP_GATEWAY_')));
    run = spawn(path.join(scratch, 'tools/run'), ['--port=0'], { cwd: scratch, env, stdio: ['ignore', 'pipe', 'pipe'] });
    run.stdout.on('data', d => (output.text += d));
    run.stderr.on('data', d => (output.text += d));

    const [, mcpUrl] = await waitForOutput(output, /MCP clients use (http:\/\/localhost:\d+\/mcp)/, run, 60000);
    assert.match(output.text, /starting the bundled demo upstream/);
    assert.match(output.text, /Next: point an MCP client at the MCP URL/);
    assert.equal(await listening(DEMO_PORT), true, 'the demo upstream listens');

    // The default login of the original tool (no users configured), then the demo's own.
    const provider = new HeadlessOAuthProvider({
      gatewayOrigin: new URL(mcpUrl).origin,
      gatewayUser: { username: 'gateway_user', password: 'gateway_pass' },
      upstreamUser: UPSTREAM_USER
    });
    let client = new Client({ name: 'first-run-test', version: '0.0.0' });
    let transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
    await assert.rejects(client.connect(transport), UnauthorizedError);
    await client.close().catch(() => {});
    assert.deepEqual(provider.walks[0].pages, ['gateway-login', 'gateway-consent', 'upstream-login']);
    await transport.finishAuth(provider.takeCode());
    client = new Client({ name: 'first-run-test', version: '0.0.0' });
    transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
    await client.connect(transport);
    const result = await client.callTool({ name: 'echo', arguments: { message: 'first run' } });
    assert.match(result.content.map(c => c.text).join(''), /first run/);
    await client.close();
    assert.ok(fs.existsSync(path.join(scratch, 'gateway-state.db')), 'the state is in the scratch directory');

    run.kill('SIGTERM');
    const code = await new Promise(resolve => run.once('exit', c => resolve(c)));
    assert.equal(code, 0, output.text);
    assert.match(output.text, /SIGTERM: draining/);
    assert.equal(await listening(DEMO_PORT), false, 'the demo upstream stopped with the gateway');
  });
});
