#!/usr/bin/env node
// demo-upstream: a test peer for mcp-oauth-gateway.
//
// An MCP server (Streamable HTTP, stateful sessions) protected by its own OAuth 2.1
// authorization server, both built from @modelcontextprotocol/sdk's real server APIs:
// mcpAuthRouter (RFC 8414 metadata, RFC 7591 registration, /authorize, /token, /revoke),
// requireBearerAuth, StreamableHTTPServerTransport and McpServer. The OAuth provider below
// (clients, login page, codes, tokens) is this file's own, in memory.
//
// Usage:
//   node tools/demo-upstream/server.mjs [--host 127.0.0.1] [--port 3001] [--token-ttl SECONDS]
//        [--client-id ID --client-secret SECRET --redirect-uri URI [--redirect-uri URI]...]...
//        [--test-endpoints] [--json-response] [--strict-resource] [--required-scope SCOPE]...
//        [--allowed-host HOST:PORT]... [--conformance] [--registration-delay MS]
//
// --conformance adds what @modelcontextprotocol/conformance's server scenarios call
// (conformance_features.mjs) to the demo's own tools. --registration-delay holds each dynamic
// registration that long (tests of gateways registering at once).
//
// Prints exactly one line first: "demo-upstream listening on http://HOST:PORT".
// Login: demo / demo-pass. Never meant for production; binds only the given host.

import { randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

const USERNAME = 'demo';
const PASSWORD = 'demo-pass';
const SCOPES_SUPPORTED = ['mcp:tools'];
const CODE_TTL_MS = 10 * 60 * 1000;
const FLOW_TTL_MS = 10 * 60 * 1000;

// ---------------------------------------------------------------- command line

function usage(message) {
  if (message) process.stderr.write(`demo-upstream: ${message}\n`);
  process.stderr.write(
    'usage: server.mjs [--host 127.0.0.1] [--port 3001] [--token-ttl SECONDS]\n' +
      '       [--client-id ID --client-secret SECRET --redirect-uri URI [--redirect-uri URI]...]...\n' +
      '       [--test-endpoints] [--json-response] [--strict-resource]\n' +
      '       [--required-scope SCOPE]... [--allowed-host HOST:PORT]... [--conformance]\n' +
      '       [--registration-delay MS]\n'
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    host: '127.0.0.1',
    port: 3001,
    tokenTtl: 3600,
    clients: [],
    testEndpoints: false,
    jsonResponse: false,
    strictResource: false,
    requiredScopes: [],
    allowedHosts: [],
    conformance: false,
    registrationDelayMs: 0
  };
  const lastClient = flag => {
    const c = opts.clients[opts.clients.length - 1];
    if (!c) usage(`${flag} must follow --client-id`);
    return c;
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    let name = arg;
    let value;
    const eq = arg.indexOf('=');
    if (arg.startsWith('--') && eq > 0) {
      name = arg.slice(0, eq);
      value = arg.slice(eq + 1);
    }
    const take = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) usage(`${name} needs a value`);
      return argv[++i];
    };
    switch (name) {
      case '--host':
        opts.host = take();
        break;
      case '--port': {
        const v = take();
        opts.port = Number(v);
        if (!/^\d+$/.test(v) || opts.port > 65535) usage(`bad --port ${v}`);
        break;
      }
      case '--token-ttl': {
        const v = take();
        opts.tokenTtl = Number(v);
        if (!/^\d+$/.test(v) || opts.tokenTtl < 1) usage(`bad --token-ttl ${v}`);
        break;
      }
      case '--client-id':
        opts.clients.push({ id: take(), secret: undefined, redirectUris: [] });
        break;
      case '--client-secret':
        lastClient(name).secret = take();
        break;
      case '--redirect-uri': {
        const v = take();
        if (!URL.canParse(v)) usage(`bad --redirect-uri ${v}`);
        lastClient(name).redirectUris.push(v);
        break;
      }
      case '--test-endpoints':
        opts.testEndpoints = true;
        break;
      case '--json-response':
        opts.jsonResponse = true;
        break;
      case '--strict-resource':
        opts.strictResource = true;
        break;
      case '--required-scope':
        opts.requiredScopes.push(take());
        break;
      case '--allowed-host':
        opts.allowedHosts.push(take());
        break;
      case '--conformance':
        opts.conformance = true;
        break;
      case '--registration-delay':
        opts.registrationDelayMs = Number(take());
        if (!Number.isInteger(opts.registrationDelayMs) || opts.registrationDelayMs < 0) {
          usage('--registration-delay needs a whole number of milliseconds');
        }
        break;
      case '-h':
      case '--help':
        usage();
        break;
      default:
        usage(`unknown argument ${arg}`);
    }
  }
  for (const c of opts.clients) {
    if (!c.secret) usage(`--client-id ${c.id} needs --client-secret`);
    if (c.redirectUris.length === 0) usage(`--client-id ${c.id} needs at least one --redirect-uri`);
  }
  return opts;
}

const opts = parseArgs(process.argv.slice(2));
const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;

// The SDK refuses a plain-http issuer unless its host is localhost or 127.0.0.1 (checked at
// router construction; the escape hatch is read when the module loads, so set it before import).
if (!['localhost', '127.0.0.1'].includes(opts.host)) {
  process.env.MCP_DANGEROUSLY_ALLOW_INSECURE_ISSUER_URL ??= 'true';
}

const { default: express } = await import('express');
const z = await import('zod');
const { McpServer } = await import('@modelcontextprotocol/sdk/server/mcp.js');
const { StreamableHTTPServerTransport } = await import('@modelcontextprotocol/sdk/server/streamableHttp.js');
const { createMcpExpressApp } = await import('@modelcontextprotocol/sdk/server/express.js');
const { mcpAuthRouter, createOAuthMetadata, getOAuthProtectedResourceMetadataUrl } = await import(
  '@modelcontextprotocol/sdk/server/auth/router.js'
);
const { metadataHandler } = await import('@modelcontextprotocol/sdk/server/auth/handlers/metadata.js');
const { requireBearerAuth } = await import('@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js');
const { InvalidGrantError, InvalidTokenError, InvalidScopeError, InvalidTargetError } =
  await import('@modelcontextprotocol/sdk/server/auth/errors.js');
const { checkResourceAllowed } = await import('@modelcontextprotocol/sdk/shared/auth-utils.js');
const { isInitializeRequest } = await import('@modelcontextprotocol/sdk/types.js');
const conformance = opts.conformance ? await import('./conformance_features.mjs') : undefined;

// ---------------------------------------------------------------- small helpers

const newToken = prefix => `${prefix}${randomBytes(32).toString('base64url')}`;

function safeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

function escapeHtml(s) {
  return String(s).replace(
    /[&<>"']/g,
    c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]
  );
}

const sleep = (ms, signal) =>
  new Promise(resolve => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    });
  });

// ---------------------------------------------------------------- test bookkeeping

const testState = {
  issuedAccess: [],
  issuedRefresh: [],
  received: new Set(),
  revoked: []
};

// ---------------------------------------------------------------- OAuth provider

class ClientsStore {
  constructor() {
    this.clients = new Map();
  }
  async getClient(clientId) {
    return this.clients.get(clientId);
  }
  // Dynamic registration (RFC 7591). The SDK's handler generated client_id and client_secret.
  async registerClient(client) {
    this.clients.set(client.client_id, client);
    return client;
  }
  addStatic({ id, secret, redirectUris }) {
    this.clients.set(id, {
      client_id: id,
      client_secret: secret,
      client_id_issued_at: Math.floor(Date.now() / 1000),
      client_secret_expires_at: 0,
      redirect_uris: redirectUris,
      token_endpoint_auth_method: 'client_secret_post',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      client_name: `pre-registered ${id}`
    });
  }
}

class DemoProvider {
  constructor({ tokenTtl, resourceUrl, strictResource, loginPath }) {
    this.clientsStore = new ClientsStore();
    this.tokenTtl = tokenTtl;
    this.resourceUrl = resourceUrl;
    this.strictResource = strictResource;
    this.loginPath = loginPath;
    this.flows = new Map(); // flow id -> { client, params, expiresAt }
    this.codes = new Map(); // code -> { clientId, params, grantId, expiresAt }
    this.accessTokens = new Map(); // token -> { clientId, scopes, resource, expiresAt(ms), grantId }
    this.refreshTokens = new Map(); // token -> { clientId, scopes, resource, grantId }
    setInterval(() => this.sweep(), 60 * 1000).unref();
  }

  sweep() {
    const now = Date.now();
    for (const [k, v] of this.flows) if (v.expiresAt < now) this.flows.delete(k);
    for (const [k, v] of this.codes) if (v.expiresAt < now) this.codes.delete(k);
    for (const [k, v] of this.accessTokens) if (v.expiresAt < now) this.accessTokens.delete(k);
  }

  checkResource(resource) {
    if (resource === undefined) {
      if (this.strictResource) throw new InvalidTargetError(`resource is required (${this.resourceUrl.href})`);
      return;
    }
    if (!checkResourceAllowed({ requestedResource: resource, configuredResource: this.resourceUrl })) {
      throw new InvalidTargetError(`unknown resource ${resource.href}; this server is ${this.resourceUrl.href}`);
    }
  }

  checkScopes(scopes) {
    const unknown = scopes.filter(s => s && !SCOPES_SUPPORTED.includes(s));
    if (unknown.length) throw new InvalidScopeError(`unsupported scope: ${unknown.join(' ')}`);
  }

  // Called by the SDK's authorization handler after it validated client_id, redirect_uri,
  // response_type, PKCE S256 and resource syntax. Shows the login page.
  async authorize(client, params, res) {
    this.checkResource(params.resource);
    const scopes = (params.scopes ?? []).filter(Boolean);
    this.checkScopes(scopes);
    const flowId = randomUUID();
    this.flows.set(flowId, { client, params: { ...params, scopes }, expiresAt: Date.now() + FLOW_TTL_MS });
    this.renderLogin(res, flowId, client, scopes, undefined);
  }

  renderLogin(res, flowId, client, scopes, error) {
    const name = client.client_name ? `${client.client_name} (${client.client_id})` : client.client_id;
    res.status(200);
    res.set({
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Frame-Options': 'DENY',
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    });
    res.send(`<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>demo-upstream sign in</title></head>
<body>
<h1>demo-upstream: sign in</h1>
<p>Application <b>${escapeHtml(name)}</b> asks for access${scopes.length ? ` with scope <code>${escapeHtml(scopes.join(' '))}</code>` : ''}.</p>
${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>\n` : ''}<form method="post" action="${escapeHtml(this.loginPath)}">
<input type="hidden" name="flow" value="${escapeHtml(flowId)}">
<label>Username <input type="text" name="username" autocomplete="username"></label>
<label>Password <input type="password" name="password" autocomplete="current-password"></label>
<button type="submit">Sign in</button>
</form>
</body>
</html>
`);
  }

  // POST <loginPath>: check the credentials, then redirect with a code.
  async handleLogin(req, res) {
    const body = req.body ?? {};
    const flowId = typeof body.flow === 'string' ? body.flow : '';
    const flow = this.flows.get(flowId);
    if (!flow || flow.expiresAt < Date.now()) {
      this.flows.delete(flowId);
      res.status(400).type('text/plain').send('Unknown or expired sign-in flow; start again from the application.\n');
      return;
    }
    const okUser = safeEqual(body.username ?? '', USERNAME);
    const okPass = safeEqual(body.password ?? '', PASSWORD);
    if (!(okUser && okPass)) {
      this.renderLogin(res, flowId, flow.client, flow.params.scopes, 'Wrong username or password.');
      return;
    }
    this.flows.delete(flowId);
    const code = newToken('demo-code-');
    this.codes.set(code, {
      clientId: flow.client.client_id,
      params: flow.params,
      grantId: randomUUID(),
      expiresAt: Date.now() + CODE_TTL_MS
    });
    const target = new URL(flow.params.redirectUri);
    target.searchParams.set('code', code);
    if (flow.params.state !== undefined) target.searchParams.set('state', flow.params.state);
    res.set('Cache-Control', 'no-store');
    res.redirect(302, target.href);
  }

  codeFor(client, code) {
    const data = this.codes.get(code);
    if (!data || data.expiresAt < Date.now()) throw new InvalidGrantError('Invalid or expired authorization code');
    if (data.clientId !== client.client_id) throw new InvalidGrantError('Authorization code was issued to another client');
    return data;
  }

  async challengeForAuthorizationCode(client, code) {
    return this.codeFor(client, code).params.codeChallenge;
  }

  issue(clientId, scopes, resource, grantId) {
    const access = newToken('demo-at-');
    const refresh = newToken('demo-rt-');
    this.accessTokens.set(access, {
      clientId,
      scopes,
      resource,
      grantId,
      expiresAt: Date.now() + this.tokenTtl * 1000
    });
    this.refreshTokens.set(refresh, { clientId, scopes, resource, grantId });
    testState.issuedAccess.push(access);
    testState.issuedRefresh.push(refresh);
    const tokens = {
      access_token: access,
      token_type: 'Bearer',
      expires_in: this.tokenTtl,
      refresh_token: refresh
    };
    if (scopes.length) tokens.scope = scopes.join(' ');
    return tokens;
  }

  async exchangeAuthorizationCode(client, code, _codeVerifier, redirectUri, resource) {
    const data = this.codeFor(client, code);
    this.codes.delete(code); // single use
    if (redirectUri !== undefined && redirectUri !== data.params.redirectUri) {
      throw new InvalidGrantError('redirect_uri does not match the authorization request');
    }
    if (resource !== undefined) {
      this.checkResource(resource);
      if (data.params.resource && resource.href !== data.params.resource.href) {
        throw new InvalidTargetError('resource differs from the authorization request');
      }
    }
    return this.issue(client.client_id, data.params.scopes, resource ?? data.params.resource, data.grantId);
  }

  async exchangeRefreshToken(client, refreshToken, scopes, resource) {
    const data = this.refreshTokens.get(refreshToken);
    if (!data) throw new InvalidGrantError('Invalid refresh token');
    if (data.clientId !== client.client_id) throw new InvalidGrantError('Refresh token was issued to another client');
    let granted = data.scopes;
    if (scopes !== undefined) {
      const wanted = scopes.filter(Boolean);
      const extra = wanted.filter(s => !data.scopes.includes(s));
      if (extra.length) throw new InvalidScopeError(`scope exceeds the grant: ${extra.join(' ')}`);
      granted = wanted;
    }
    if (resource !== undefined) this.checkResource(resource);
    // Rotation: the presented refresh token stops working now.
    this.refreshTokens.delete(refreshToken);
    return this.issue(client.client_id, granted, resource ?? data.resource, data.grantId);
  }

  async verifyAccessToken(token) {
    const data = this.accessTokens.get(token);
    // Throw InvalidTokenError, not a plain Error: requireBearerAuth turns anything else into a 500.
    if (!data) throw new InvalidTokenError('Invalid access token');
    if (data.expiresAt <= Date.now()) throw new InvalidTokenError('Token has expired');
    return {
      token,
      clientId: data.clientId,
      scopes: data.scopes,
      expiresAt: Math.floor(data.expiresAt / 1000),
      resource: data.resource
    };
  }

  // RFC 7009: unknown tokens and tokens of other clients are ignored (200 all the same).
  // Revoking a refresh token ends its whole grant (its access tokens too).
  async revokeToken(client, { token }) {
    const access = this.accessTokens.get(token);
    if (access && access.clientId === client.client_id) {
      this.accessTokens.delete(token);
      testState.revoked.push(token);
      return;
    }
    const refresh = this.refreshTokens.get(token);
    if (refresh && refresh.clientId === client.client_id) {
      this.refreshTokens.delete(token);
      testState.revoked.push(token);
      for (const [t, v] of this.accessTokens) {
        if (v.grantId === refresh.grantId) {
          this.accessTokens.delete(t);
          testState.revoked.push(t);
        }
      }
    }
  }

  expireAllAccessTokens() {
    for (const v of this.accessTokens.values()) v.expiresAt = 0;
  }
}

// ---------------------------------------------------------------- MCP server

function buildMcpServer() {
  const server = new McpServer(
    { name: 'demo-upstream', version: '1.0.0' },
    { capabilities: conformance?.CONFORMANCE_CAPABILITIES ?? { logging: {} } }
  );
  conformance?.registerConformanceFeatures(server, z);
  server.registerTool(
    'echo',
    { description: 'Returns its message argument.', inputSchema: { message: z.string() } },
    async ({ message }) => ({ content: [{ type: 'text', text: message }] })
  );
  server.registerTool(
    'add',
    { description: 'Adds two numbers.', inputSchema: { a: z.number(), b: z.number() } },
    async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }], structuredContent: { sum: a + b } })
  );
  server.registerTool(
    'whoami',
    { description: 'Returns the OAuth client id and scopes of the access token used for this call.' },
    async extra => {
      const who = {
        client_id: extra.authInfo?.clientId ?? null,
        scopes: extra.authInfo?.scopes ?? [],
        resource: extra.authInfo?.resource?.href ?? null
      };
      return { content: [{ type: 'text', text: JSON.stringify(who) }], structuredContent: who };
    }
  );
  server.registerTool(
    'notify',
    {
      description:
        'Sends `count` notifications/message on this request\'s SSE stream, `interval_ms` apart, ' +
        'and one on the session\'s standalone GET stream (if open), then returns.',
      inputSchema: {
        count: z.number().int().min(0).max(10000).default(3),
        interval_ms: z.number().int().min(0).max(60000).default(100)
      }
    },
    async ({ count, interval_ms }, extra) => {
      let sent = 0;
      for (let i = 1; i <= count && !extra.signal.aborted; i++) {
        await extra.sendNotification({
          method: 'notifications/message',
          params: { level: 'info', logger: 'notify', data: `notification ${i} of ${count}` }
        });
        sent++;
        if (i < count) await sleep(interval_ms, extra.signal);
      }
      // No relatedRequestId: the transport routes this to the standalone GET stream (or stores
      // it for replay when none is open).
      await server.server.notification({
        method: 'notifications/message',
        params: { level: 'info', logger: 'notify', data: 'standalone notification' }
      });
      return { content: [{ type: 'text', text: `sent ${sent} notifications` }] };
    }
  );
  return server;
}

// A small event store so Last-Event-ID resumption works (ids are opaque and global).
class EventStore {
  constructor(limit = 1000) {
    this.limit = limit;
    this.next = 1;
    this.byId = new Map(); // eventId -> { streamId, message }
    this.byStream = new Map(); // streamId -> [eventId...]
  }
  async storeEvent(streamId, message) {
    const eventId = `ev-${this.next++}`;
    this.byId.set(eventId, { streamId, message });
    const list = this.byStream.get(streamId) ?? [];
    list.push(eventId);
    if (list.length > this.limit) this.byId.delete(list.shift());
    this.byStream.set(streamId, list);
    return eventId;
  }
  async getStreamIdForEventId(eventId) {
    return this.byId.get(eventId)?.streamId;
  }
  async replayEventsAfter(lastEventId, { send }) {
    const entry = this.byId.get(lastEventId);
    if (!entry) return '';
    const list = this.byStream.get(entry.streamId) ?? [];
    for (const id of list.slice(list.indexOf(lastEventId) + 1)) {
      const { message } = this.byId.get(id);
      // Priming events (SEP-1699) are stored as {}: they carry an id, no message to replay.
      if (Object.keys(message).length > 0) await send(id, message);
    }
    return entry.streamId;
  }
}

// ---------------------------------------------------------------- HTTP wiring

// Listen first (port 0 picks one), then build the app: the issuer and resource URLs need the port.
const httpServer = http.createServer();
httpServer.on('error', err => {
  process.stderr.write(`demo-upstream: ${err.message}\n`);
  process.exit(1);
});
await new Promise(resolve => httpServer.listen({ port: opts.port, host: opts.host, exclusive: true }, resolve));
const port = httpServer.address().port;
const origin = `http://${hostForUrl}:${port}`;
const issuerUrl = new URL(origin);
const resourceUrl = new URL(`${origin}/mcp`);
const resourceMetadataUrl = getOAuthProtectedResourceMetadataUrl(resourceUrl);

const provider = new DemoProvider({
  tokenTtl: opts.tokenTtl,
  resourceUrl,
  strictResource: opts.strictResource,
  loginPath: '/login'
});
for (const c of opts.clients) provider.clientsStore.addStatic(c);

// createMcpExpressApp: the SDK's DNS-rebinding guard (Host's hostname must be localhost,
// 127.0.0.1 or [::1] when bound to a loopback name; any port) and a JSON body parser.
const app = createMcpExpressApp({ host: opts.host });
app.disable('x-powered-by');

// Metadata documents. The SDK's router would publish issuer "http://HOST:PORT/" (URL.href adds a
// slash) and the resource metadata only at the path-suffixed URL; these routes come first and
// publish the issuer without the slash and the resource metadata at both URLs.
const oauthMetadata = createOAuthMetadata({ provider, issuerUrl, scopesSupported: SCOPES_SUPPORTED });
oauthMetadata.issuer = origin;
const protectedResourceMetadata = {
  resource: resourceUrl.href,
  authorization_servers: [origin],
  scopes_supported: SCOPES_SUPPORTED,
  bearer_methods_supported: ['header'],
  resource_name: 'demo-upstream MCP server'
};
app.use('/.well-known/oauth-authorization-server', metadataHandler(oauthMetadata));
app.use('/.well-known/oauth-protected-resource/mcp', metadataHandler(protectedResourceMetadata));
app.use('/.well-known/oauth-protected-resource', metadataHandler(protectedResourceMetadata));

if (opts.registrationDelayMs > 0) {
  app.post('/register', (_req, _res, next) => setTimeout(next, opts.registrationDelayMs));
}
app.use(
  mcpAuthRouter({
    provider,
    issuerUrl,
    resourceServerUrl: resourceUrl,
    scopesSupported: SCOPES_SUPPORTED,
    resourceName: 'demo-upstream MCP server',
    // A test peer sees many flows from one address: no rate limits.
    authorizationOptions: { rateLimit: false },
    tokenOptions: { rateLimit: false },
    revocationOptions: { rateLimit: false },
    clientRegistrationOptions: { rateLimit: false }
  })
);

app.post('/login', express.urlencoded({ extended: false, limit: '16kb' }), (req, res, next) =>
  provider.handleLogin(req, res).catch(next)
);

if (opts.testEndpoints) {
  app.get('/_test/state', (_req, res) => {
    res.set('Cache-Control', 'no-store').json({
      issued_access_tokens: testState.issuedAccess,
      issued_refresh_tokens: testState.issuedRefresh,
      received_bearer_tokens: [...testState.received],
      revoked_tokens: testState.revoked,
      registered_clients: [...provider.clientsStore.clients.keys()],
      client_secrets: [...provider.clientsStore.clients.values()]
        .map((client) => client.client_secret)
        .filter(Boolean)
    });
  });
  app.post('/_test/expire-access-tokens', (_req, res) => {
    provider.expireAllAccessTokens();
    res.status(204).end();
  });
}

// /mcp: exact Host check (HOST:PORT), stricter than the SDK guard above, which ignores the
// port; a proxy that forwards its own Host is refused here with the SDK's own 403 body.
const allowedHosts = new Set([`${hostForUrl}:${port}`, ...opts.allowedHosts]);
function exactHost(req, res, next) {
  const host = req.headers.host;
  if (host && allowedHosts.has(host.toLowerCase())) return next();
  res.status(403).json({ jsonrpc: '2.0', error: { code: -32000, message: `Invalid Host: ${host ?? ''}` }, id: null });
}

function recordBearer(req, _res, next) {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (m) testState.received.add(m[1]);
  next();
}

const bearer = requireBearerAuth({
  verifier: provider,
  requiredScopes: opts.requiredScopes,
  resourceMetadataUrl,
  expectedResource: opts.strictResource ? resourceUrl : undefined
});

const sessions = new Map(); // session id -> transport

const sessionError = (res, status, code, message) =>
  res.status(status).json({ jsonrpc: '2.0', error: { code, message }, id: null });

async function mcpPost(req, res) {
  const sid = req.headers['mcp-session-id'];
  if (sid) {
    const transport = sessions.get(sid);
    if (!transport) return sessionError(res, 404, -32001, 'Session not found');
    return transport.handleRequest(req, res, req.body);
  }
  if (!isInitializeRequest(req.body)) {
    return sessionError(res, 400, -32000, 'Bad Request: No valid session ID provided');
  }
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse: opts.jsonResponse,
    eventStore: new EventStore(),
    retryInterval: conformance?.CONFORMANCE_RETRY_MS,
    onsessioninitialized: id => sessions.set(id, transport)
  });
  transport.onclose = () => {
    if (transport.sessionId) sessions.delete(transport.sessionId);
  };
  await buildMcpServer().connect(transport);
  await transport.handleRequest(req, res, req.body);
}

async function mcpGetOrDelete(req, res) {
  const sid = req.headers['mcp-session-id'];
  if (!sid) return sessionError(res, 400, -32000, 'Bad Request: Mcp-Session-Id header is required');
  const transport = sessions.get(sid);
  if (!transport) return sessionError(res, 404, -32001, 'Session not found');
  await transport.handleRequest(req, res);
}

const wrap = fn => (req, res, next) => fn(req, res).catch(next);
app.post('/mcp', exactHost, recordBearer, bearer, wrap(mcpPost));
app.get('/mcp', exactHost, recordBearer, bearer, wrap(mcpGetOrDelete));
app.delete('/mcp', exactHost, recordBearer, bearer, wrap(mcpGetOrDelete));
app.all('/mcp', exactHost, (_req, res) =>
  res.status(405).set('Allow', 'GET, POST, DELETE').json({
    jsonrpc: '2.0',
    error: { code: -32000, message: 'Method not allowed.' },
    id: null
  })
);

// eslint-disable-next-line no-unused-vars
app.use((err, _req, res, _next) => {
  process.stderr.write(`demo-upstream: ${err?.stack ?? err}\n`);
  if (res.headersSent) return res.end();
  const status = err?.status ?? err?.statusCode ?? 500;
  res.status(status >= 400 && status < 600 ? status : 500).json({ error: status < 500 ? 'invalid_request' : 'server_error' });
});

httpServer.on('request', app);
process.stdout.write(`demo-upstream listening on ${origin}\n`);

// ---------------------------------------------------------------- shutdown

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  // Open SSE streams would keep close() waiting: end everything and exit promptly.
  for (const t of sessions.values()) t.close().catch(() => {});
  httpServer.close();
  httpServer.closeAllConnections();
  setTimeout(() => process.exit(0), 200).unref();
  setImmediate(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
