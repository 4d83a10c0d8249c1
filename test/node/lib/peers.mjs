// Starts the test peers as child processes on free ports: the demo upstream (an MCP server with
// its own OAuth, tools/demo-upstream/server.mjs) and the gateway binary in front of it, with a
// config file written to a temp dir. Both are always stopped: by stop(), and as a last resort
// synchronously when this process exits for any reason.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const DEFAULT_GATEWAY = path.join(REPO_ROOT, 'build/mcp-oauth-gateway');
export const DEMO_UPSTREAM = path.join(REPO_ROOT, 'tools/demo-upstream/server.mjs');

export const GATEWAY_USER = { username: 'alice', password: 'wonderland' };
export const UPSTREAM_USER = { username: 'demo', password: 'demo-pass' };

// `--gateway PATH` or `--gateway=PATH`; anything else on the command line is left to node:test.
export function gatewayPathFromArgs(argv = process.argv.slice(2)) {
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--gateway' && i + 1 < argv.length) return path.resolve(argv[i + 1]);
    if (argv[i].startsWith('--gateway=')) return path.resolve(argv[i].slice('--gateway='.length));
  }
  return process.env.MCP_GATEWAY_BIN ? path.resolve(process.env.MCP_GATEWAY_BIN) : DEFAULT_GATEWAY;
}

const live = new Set(); // children not yet reaped
const tempDirs = new Set();
process.on('exit', () => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => process.exit(130));
}

// A child process whose output is kept (for diagnostics) and scanned for a start-up line.
class Child {
  constructor(name, command, args, options) {
    this.name = name;
    this.output = '';
    this.exit = null; // {code, signal} once exited
    this.proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
    live.add(this.proc);
    this.exited = new Promise(resolve => {
      this.proc.on('exit', (code, signal) => {
        live.delete(this.proc);
        this.exit = { code, signal };
        resolve(this.exit);
      });
      this.proc.on('error', err => {
        live.delete(this.proc);
        this.output += `\n[spawn error: ${err.message}]\n`;
        this.exit = { code: null, signal: null, error: err };
        resolve(this.exit);
      });
    });
    for (const stream of [this.proc.stdout, this.proc.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', chunk => {
        this.output += chunk;
        this._onData?.();
      });
    }
  }

  // Resolves with the first match of `regex` in the output; rejects if the child exits first.
  waitFor(regex, timeoutMs = 15000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this._onData = undefined;
        reject(new Error(`${this.name}: no ${regex} within ${timeoutMs} ms; output:\n${this.output}`));
      }, timeoutMs);
      const check = () => {
        const m = regex.exec(this.output);
        if (m) {
          clearTimeout(timer);
          this._onData = undefined;
          resolve(m);
        }
      };
      this._onData = check;
      check();
      this.exited.then(exit => {
        clearTimeout(timer);
        if (!regex.test(this.output)) {
          reject(new Error(`${this.name} exited (${JSON.stringify(exit)}) before ${regex}; output:\n${this.output}`));
        }
      });
    });
  }

  // SIGTERM, then SIGKILL after `graceMs`. Resolves with {code, signal}.
  async stop(graceMs = 5000) {
    if (this.exit) return this.exit;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), graceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }

  tail(lines = 40) {
    return this.output.split('\n').slice(-lines).join('\n');
  }
}

// Starts the demo upstream, then the gateway in front of it. Returns the URLs and a stop().
// With `upstreamRs` no demo upstream is started: the gateway fronts that MCP server instead, and
// `upstreamConfig` adds keys to the gateway's `upstream:` map (e.g. {client_id, client_secret}).
// `upstreamArgs`: more command-line options of the demo upstream (e.g. ['--conformance']).
export async function startPeers({
  gatewayPath = gatewayPathFromArgs(),
  tokenTtl = 5,
  logLevel = 'info',
  upstreamRs,
  upstreamConfig = {},
  upstreamArgs = [],
  extraConfig = ''
} = {}) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gw-node-test-'));
  tempDirs.add(dir);
  const peers = { dir, upstream: undefined, gateway: undefined };

  peers.stop = async () => {
    const result = {};
    if (peers.gateway) result.gateway = await peers.gateway.stop();
    if (peers.upstream) result.upstream = await peers.upstream.stop();
    rmSync(dir, { recursive: true, force: true });
    tempDirs.delete(dir);
    return result;
  };
  peers.diagnostics = () =>
    [peers.gateway, peers.upstream]
      .filter(Boolean)
      .map(c => `----- ${c.name} (last lines) -----\n${c.tail()}`)
      .join('\n');

  try {
    let rs = upstreamRs;
    if (!rs) {
      peers.upstream = new Child(
        'demo-upstream',
        process.execPath,
        [DEMO_UPSTREAM, '--port', '0', '--token-ttl', String(tokenTtl), '--test-endpoints', ...upstreamArgs],
        { cwd: dir }
      );
      const [, upstreamUrl] = await peers.upstream.waitFor(/demo-upstream listening on (http:\/\/\S+)/);
      peers.upstreamUrl = upstreamUrl;
      rs = `${upstreamUrl}/mcp`;
    }
    const upstream = { rs, ...upstreamConfig };

    const configPath = path.join(dir, 'gateway.yaml');
    writeFileSync(
      configPath,
      [
        'listener: {port: 0, workers: 2}',
        `upstream: ${JSON.stringify(upstream)}`, // JSON is YAML
        `users: [{name: ${GATEWAY_USER.username}, password: ${GATEWAY_USER.password}}]`,
        'tokens: {access_ttl: 1h}',
        `log: {level: ${logLevel}}`,
        extraConfig
      ].join('\n') + '\n'
    );
    peers.gateway = new Child('gateway', gatewayPath, [`--config=${configPath}`], { cwd: dir });
    const [, port] = await peers.gateway.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    peers.gatewayPort = Number(port);
    // The public URL defaults to http://localhost:PORT: issuer and resource derive from it.
    peers.gatewayOrigin = `http://localhost:${port}`;
    peers.mcpUrl = `${peers.gatewayOrigin}/mcp`;
    return peers;
  } catch (err) {
    await peers.stop();
    throw err;
  }
}

export async function upstreamState(peers) {
  const res = await fetch(`${peers.upstreamUrl}/_test/state`);
  if (!res.ok) throw new Error(`/_test/state: ${res.status}`);
  return res.json();
}

export async function expireUpstreamAccessTokens(peers) {
  const res = await fetch(`${peers.upstreamUrl}/_test/expire-access-tokens`, { method: 'POST' });
  if (res.status !== 204) throw new Error(`/_test/expire-access-tokens: ${res.status}`);
}

export const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));

// A loopback port nobody listens on now (for a callback server someone else binds).
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}
