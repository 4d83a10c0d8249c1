#!/usr/bin/env node
// github_like: a dependency-free fake of a GitHub OAuth App plus GitHub's remote MCP server,
// for mcp-oauth-gateway's end-to-end tests. Loopback only.
//
// What it imitates (the parts that matter to a gateway):
//  - no dynamic client registration: one client id/secret given on the command line;
//  - GET /login/oauth/authorize shows an "Authorize" page; POST it to get redirected back with
//    code and state (decision=deny gives error=access_denied); optional PKCE (S256);
//  - POST /login/oauth/access_token answers application/x-www-form-urlencoded unless the request
//    has Accept: application/json; errors come with HTTP 200 and an `error` field
//    (bad_verification_code, incorrect_client_credentials, redirect_uri_mismatch,
//    bad_refresh_token, unsupported_grant_type); `scope` is comma-separated like GitHub's;
//  - access tokens never expire and there is no refresh token, unless --rotating-refresh-tokens
//    (GitHub App style expiring user tokens: expires_in, refresh_token, refresh_token_expires_in,
//    one-time refresh tokens);
//  - /mcp: a minimal Streamable HTTP MCP endpoint (initialize, notifications/initialized,
//    tools/list, tools/call whoami, ping; DELETE ends the session) that wants
//    Authorization: Bearer <a token issued here>, else 401 with WWW-Authenticate: Bearer realm="GitHub";
//  - GET /_test/state: issued tokens and the bearer tokens received (always on in this fake).
//  Extras (discovery tests): /.well-known/oauth-protected-resource/mcp and RFC 8414 metadata for
//  the issuer ORIGIN/login/oauth at /.well-known/oauth-authorization-server/login/oauth
//  (no registration_endpoint). Options for the gateway's upstream discovery and scope handling:
//    --resource-metadata-path PATH  the protected-resource metadata is served at PATH instead,
//                                   and the 401 challenge names it (resource_metadata="...")
//    --challenge-scope SCOPE        the 401 challenge carries scope="SCOPE"
//    --prm-resource URL             the metadata claims to be about URL (not ORIGIN/mcp)
//    --prm-issuer-host HOST         the metadata names the issuer on HOST (e.g. localhost)
//    --tool-scope SCOPE             tools/call needs SCOPE: without it, 403 insufficient_scope
//                                   with scope="<the token's scopes> SCOPE"
//  /_test/state also lists the scope of every authorization request and every metadata request.
//
// Usage: node test/upstreams/github_like.mjs --port 0 --client-id ID --client-secret SECRET
//        [--host 127.0.0.1] [--redirect-uri URI]... [--rotating-refresh-tokens] [--token-ttl SECONDS]
//        [--resource-metadata-path PATH] [--challenge-scope SCOPE] [--prm-resource URL]
//        [--prm-issuer-host HOST] [--tool-scope SCOPE]
// Prints first: "github-like listening on http://127.0.0.1:PORT".

import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import process from 'node:process';

function usage(message) {
  if (message) process.stderr.write(`github_like: ${message}\n`);
  process.stderr.write(
    'usage: github_like.mjs --port 0 --client-id ID --client-secret SECRET [--host 127.0.0.1]\n' +
      '       [--redirect-uri URI]... [--rotating-refresh-tokens] [--token-ttl SECONDS]\n' +
      '       [--resource-metadata-path PATH] [--challenge-scope SCOPE] [--prm-resource URL]\n' +
      '       [--prm-issuer-host HOST] [--tool-scope SCOPE]\n'
  );
  process.exit(2);
}

const opts = {
  host: '127.0.0.1',
  port: 0,
  clientId: undefined,
  clientSecret: undefined,
  redirectUris: [],
  rotating: false,
  tokenTtl: 28800,
  refreshTtl: 15897600,
  resourceMetadataPath: undefined,
  challengeScope: undefined,
  prmResource: undefined,
  prmIssuerHost: undefined,
  toolScope: undefined
};
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    let name = argv[i];
    let value;
    const eq = name.indexOf('=');
    if (name.startsWith('--') && eq > 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const take = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) usage(`${name} needs a value`);
      return argv[++i];
    };
    const num = (v, min) => {
      if (!/^\d+$/.test(v) || Number(v) < min) usage(`bad ${name} ${v}`);
      return Number(v);
    };
    switch (name) {
      case '--host': opts.host = take(); break;
      case '--port': opts.port = num(take(), 0); break;
      case '--client-id': opts.clientId = take(); break;
      case '--client-secret': opts.clientSecret = take(); break;
      case '--redirect-uri': opts.redirectUris.push(take()); break;
      case '--rotating-refresh-tokens': opts.rotating = true; break;
      case '--token-ttl': opts.tokenTtl = num(take(), 1); break;
      case '--refresh-token-ttl': opts.refreshTtl = num(take(), 1); break;
      case '--resource-metadata-path': opts.resourceMetadataPath = take(); break;
      case '--challenge-scope': opts.challengeScope = take(); break;
      case '--prm-resource': opts.prmResource = take(); break;
      case '--prm-issuer-host': opts.prmIssuerHost = take(); break;
      case '--tool-scope': opts.toolScope = take(); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown argument ${argv[i]}`);
    }
  }
  if (!opts.clientId || !opts.clientSecret) usage('--client-id and --client-secret are required');
}

const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
let origin = ''; // set once listening

// ---------------------------------------------------------------- state

const LOGIN = 'octocat';
const CODE_TTL_MS = 10 * 60 * 1000;
const flows = new Map(); // flow id -> { redirectUri, state, scopes, codeChallenge, expiresAt }
const codes = new Map(); // code -> { redirectUri, scopes, codeChallenge, expiresAt }
const accessTokens = new Map(); // token -> { scopes, expiresAt (ms) | null }
const refreshTokens = new Map(); // token -> { scopes, expiresAt }
const sessions = new Map(); // Mcp-Session-Id -> { protocolVersion }
const state = { issuedAccess: [], issuedRefresh: [], received: new Set(), authorizeScopes: [], metadataRequests: [] };

const newToken = (prefix, bytes) => prefix + randomBytes(bytes).toString('base64url').replace(/[-_]/g, 'x');

function safeEqual(a, b) {
  const x = Buffer.from(String(a));
  const y = Buffer.from(String(b));
  return x.length === y.length && timingSafeEqual(x, y);
}

const escapeHtml = s =>
  String(s).replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

setInterval(() => {
  const now = Date.now();
  for (const m of [flows, codes]) for (const [k, v] of m) if (v.expiresAt < now) m.delete(k);
  for (const m of [accessTokens, refreshTokens]) for (const [k, v] of m) if (v.expiresAt && v.expiresAt < now) m.delete(k);
}, 60 * 1000).unref();

// ---------------------------------------------------------------- HTTP helpers

function send(res, status, headers, body = '') {
  const buf = Buffer.isBuffer(body) ? body : Buffer.from(body);
  res.writeHead(status, { 'Content-Length': buf.length, ...headers });
  res.end(buf);
}

const sendJson = (res, status, obj, headers = {}) =>
  send(res, status, { 'Content-Type': 'application/json; charset=utf-8', ...headers }, JSON.stringify(obj));

function sendHtml(res, status, title, inner) {
  send(
    res,
    status,
    {
      'Content-Type': 'text/html; charset=utf-8',
      'Cache-Control': 'no-store',
      'X-Frame-Options': 'deny',
      'Content-Security-Policy': "default-src 'none'; form-action 'self'; frame-ancestors 'none'"
    },
    `<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>\n<body>\n${inner}\n</body>\n</html>\n`
  );
}

function redirect(res, url) {
  send(res, 302, { Location: url, 'Cache-Control': 'no-store' });
}

function readBody(req, limit = 64 * 1024) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', c => {
      size += c.length;
      if (size > limit) {
        reject(Object.assign(new Error('body too large'), { status: 413 }));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// Form or JSON body, as a plain object of strings.
function parseParams(req, body) {
  const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/json') {
    try {
      const obj = JSON.parse(body || '{}');
      return Object.fromEntries(Object.entries(obj).filter(([, v]) => typeof v === 'string'));
    } catch {
      return {};
    }
  }
  return Object.fromEntries(new URLSearchParams(body));
}

// q-value of a media type in an Accept header (exact type, type/*, */*), 0 when absent.
function acceptQ(accept, mediaType) {
  if (!accept) return 0;
  const [type] = mediaType.split('/');
  let best = -1;
  let bestSpecificity = -1;
  for (const part of accept.split(',')) {
    const [range, ...params] = part.trim().toLowerCase().split(';');
    let q = 1;
    for (const p of params) {
      const [k, v] = p.trim().split('=');
      if (k === 'q') q = Number(v);
    }
    const specificity = range === mediaType ? 2 : range === `${type}/*` ? 1 : range === '*/*' ? 0 : -1;
    if (specificity > bestSpecificity) {
      bestSpecificity = specificity;
      best = Number.isFinite(q) ? q : 0;
    }
  }
  return best < 0 ? 0 : best;
}

// ---------------------------------------------------------------- OAuth: authorize

const parseScopes = s => (s ?? '').split(/[\s,]+/).filter(Boolean);

function redirectUriAllowed(uri) {
  if (!URL.canParse(uri)) return false;
  if (opts.redirectUris.length === 0) return true;
  // GitHub: same host and port as the callback URL, path equal or a subdirectory of it.
  const u = new URL(uri);
  return opts.redirectUris.some(r => {
    const c = new URL(r);
    return (
      u.protocol === c.protocol &&
      u.host === c.host &&
      (u.pathname === c.pathname || u.pathname.startsWith(c.pathname.endsWith('/') ? c.pathname : `${c.pathname}/`))
    );
  });
}

function authorizePage(res, q) {
  const clientId = q.get('client_id') ?? '';
  if (!safeEqual(clientId, opts.clientId)) {
    return sendHtml(res, 404, 'Not Found', '<h1>404</h1><p>This is not the web page you are looking for (unknown client_id).</p>');
  }
  const redirectUri = q.get('redirect_uri') ?? opts.redirectUris[0];
  if (!redirectUri || !redirectUriAllowed(redirectUri)) {
    return sendHtml(
      res,
      400,
      'Redirect URI mismatch',
      '<h1>Be careful!</h1><p>The redirect_uri is not associated with this application.</p>'
    );
  }
  const challenge = q.get('code_challenge');
  const method = q.get('code_challenge_method') ?? (challenge ? 'plain' : null);
  if (challenge && method !== 'S256') {
    return sendHtml(res, 400, 'Bad request', '<h1>Bad request</h1><p>code_challenge_method must be S256.</p>');
  }
  const flowId = randomUUID();
  const scopes = parseScopes(q.get('scope'));
  state.authorizeScopes.push(q.get('scope'));
  flows.set(flowId, {
    redirectUri,
    state: q.get('state'),
    scopes,
    codeChallenge: challenge,
    expiresAt: Date.now() + CODE_TTL_MS
  });
  sendHtml(
    res,
    200,
    'Authorize application',
    `<h1>Authorize application</h1>
<p>The application <b>${escapeHtml(clientId)}</b> by <b>github-like</b> wants to access your account <b>${LOGIN}</b>${scopes.length ? ` (scopes: <code>${escapeHtml(scopes.join(', '))}</code>)` : ''}.</p>
<form method="post" action="/login/oauth/authorize">
<input type="hidden" name="flow" value="${escapeHtml(flowId)}">
<input type="hidden" name="client_id" value="${escapeHtml(clientId)}">
<button type="submit" name="decision" value="allow">Authorize</button>
<button type="submit" name="decision" value="deny">Cancel</button>
</form>`
  );
}

function authorizeDecision(res, params) {
  const flow = flows.get(params.flow ?? '');
  if (!flow || flow.expiresAt < Date.now()) {
    flows.delete(params.flow ?? '');
    return sendHtml(res, 400, 'Expired', '<h1>This authorization request has expired.</h1>');
  }
  flows.delete(params.flow);
  const target = new URL(flow.redirectUri);
  if (params.decision === 'deny') {
    target.searchParams.set('error', 'access_denied');
    target.searchParams.set('error_description', 'The user has denied your application access.');
    target.searchParams.set(
      'error_uri',
      'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied'
    );
  } else {
    const code = randomBytes(10).toString('hex');
    codes.set(code, {
      redirectUri: flow.redirectUri,
      scopes: flow.scopes,
      codeChallenge: flow.codeChallenge,
      expiresAt: Date.now() + CODE_TTL_MS
    });
    target.searchParams.set('code', code);
  }
  if (flow.state != null) target.searchParams.set('state', flow.state);
  redirect(res, target.href);
}

// ---------------------------------------------------------------- OAuth: token

const ERRORS = {
  incorrect_client_credentials: 'The client_id and/or client_secret passed are incorrect.',
  bad_verification_code: 'The code passed is incorrect or expired.',
  redirect_uri_mismatch: 'The redirect_uri MUST match the registered callback URL for this application.',
  bad_refresh_token: 'The refresh token passed is incorrect or expired.',
  unsupported_grant_type: 'The grant type is not supported.'
};

function tokenReply(req, res, obj) {
  const headers = { 'Cache-Control': 'no-store' };
  // GitHub: JSON only when asked for by name (a bare */* still gets the form encoding).
  if (/application\/json/i.test(req.headers.accept ?? '') && acceptQ(req.headers.accept, 'application/json') > 0) {
    return sendJson(res, 200, obj, headers);
  }
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(obj)) form.set(k, String(v));
  send(res, 200, { 'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8', ...headers }, form.toString());
}

function tokenError(req, res, error) {
  tokenReply(req, res, {
    error,
    error_description: ERRORS[error],
    error_uri: `https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#${error.replaceAll('_', '-')}`
  });
}

function issueTokens(scopes) {
  const scope = scopes.join(',');
  if (!opts.rotating) {
    const access = newToken('gho_', 27).slice(0, 40);
    accessTokens.set(access, { scopes, expiresAt: null });
    state.issuedAccess.push(access);
    return { access_token: access, token_type: 'bearer', scope };
  }
  const access = newToken('ghu_', 27).slice(0, 40);
  const refresh = newToken('ghr_', 60).slice(0, 80);
  accessTokens.set(access, { scopes, expiresAt: Date.now() + opts.tokenTtl * 1000 });
  refreshTokens.set(refresh, { scopes, expiresAt: Date.now() + opts.refreshTtl * 1000 });
  state.issuedAccess.push(access);
  state.issuedRefresh.push(refresh);
  return {
    access_token: access,
    expires_in: opts.tokenTtl,
    refresh_token: refresh,
    refresh_token_expires_in: opts.refreshTtl,
    scope,
    token_type: 'bearer'
  };
}

function tokenEndpoint(req, res, params) {
  let clientId = params.client_id;
  let clientSecret = params.client_secret;
  const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (basic && !clientSecret) {
    const [id, ...rest] = Buffer.from(basic[1], 'base64').toString('utf8').split(':');
    clientId ??= decodeURIComponent(id);
    clientSecret = decodeURIComponent(rest.join(':'));
  }
  if (!safeEqual(clientId ?? '', opts.clientId) || !safeEqual(clientSecret ?? '', opts.clientSecret)) {
    return tokenError(req, res, 'incorrect_client_credentials');
  }
  const grantType = params.grant_type ?? (params.refresh_token ? 'refresh_token' : 'authorization_code');
  if (grantType === 'refresh_token') {
    if (!opts.rotating) return tokenError(req, res, 'unsupported_grant_type');
    const data = refreshTokens.get(params.refresh_token ?? '');
    if (!data || data.expiresAt < Date.now()) return tokenError(req, res, 'bad_refresh_token');
    refreshTokens.delete(params.refresh_token); // one-time use: rotation
    return tokenReply(req, res, issueTokens(data.scopes));
  }
  if (grantType !== 'authorization_code') return tokenError(req, res, 'unsupported_grant_type');
  const code = params.code ?? '';
  const data = codes.get(code);
  // Any use of a code consumes it, good or bad (a reused code fails).
  codes.delete(code);
  if (!data || data.expiresAt < Date.now()) return tokenError(req, res, 'bad_verification_code');
  if (params.redirect_uri !== undefined && params.redirect_uri !== data.redirectUri) {
    return tokenError(req, res, 'redirect_uri_mismatch');
  }
  if (data.codeChallenge) {
    const verifier = params.code_verifier ?? '';
    const computed = createHash('sha256').update(verifier).digest('base64url');
    if (!verifier || !safeEqual(computed, data.codeChallenge)) return tokenError(req, res, 'bad_verification_code');
  }
  tokenReply(req, res, issueTokens(data.scopes));
}

// ---------------------------------------------------------------- MCP

const PROTOCOL_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];

function mcpUnauthorized(res, description) {
  let challenge = 'Bearer realm="GitHub"';
  if (opts.challengeScope) challenge += `, scope="${opts.challengeScope}"`;
  if (opts.resourceMetadataPath) challenge += `, resource_metadata="${origin}${opts.resourceMetadataPath}"`;
  sendJson(
    res,
    401,
    { message: description, documentation_url: 'https://docs.github.com/rest' },
    { 'WWW-Authenticate': challenge }
  );
}

function bearerToken(req) {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  if (!m) return null;
  state.received.add(m[1]);
  return m[1];
}

function handleRpc(msg, session, token) {
  const tokenData = accessTokens.get(token);
  switch (msg.method) {
    case 'initialize': {
      const wanted = msg.params?.protocolVersion;
      return {
        protocolVersion: PROTOCOL_VERSIONS.includes(wanted) ? wanted : PROTOCOL_VERSIONS[1],
        capabilities: { tools: { listChanged: false } },
        serverInfo: { name: 'github-like-mcp-server', version: '0.0.1' },
        instructions: 'A fake of GitHub\'s MCP server for tests.'
      };
    }
    case 'ping':
      return {};
    case 'tools/list':
      return {
        tools: [
          {
            name: 'whoami',
            description: 'Returns the login and scopes of the authenticated user.',
            inputSchema: { type: 'object', properties: {} }
          }
        ]
      };
    case 'tools/call': {
      if (msg.params?.name !== 'whoami') {
        return { error: { code: -32602, message: `Unknown tool: ${msg.params?.name}` } };
      }
      const who = { login: LOGIN, scopes: tokenData?.scopes ?? [] };
      return { content: [{ type: 'text', text: JSON.stringify(who) }], structuredContent: who, isError: false };
    }
    default:
      return { error: { code: -32601, message: `Method not found: ${msg.method}` } };
  }
}

async function mcpEndpoint(req, res) {
  const token = bearerToken(req);
  if (!token) return mcpUnauthorized(res, 'Requires authentication');
  const tokenData = accessTokens.get(token);
  if (!tokenData || (tokenData.expiresAt && tokenData.expiresAt <= Date.now())) {
    return mcpUnauthorized(res, 'Bad credentials');
  }
  const sid = req.headers['mcp-session-id'];
  if (req.method === 'DELETE') {
    if (!sid || !sessions.has(sid)) return sendJson(res, 404, { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
    sessions.delete(sid);
    return send(res, 200, {});
  }
  if (req.method !== 'POST') {
    return send(res, 405, { Allow: 'POST, DELETE', 'Content-Type': 'text/plain' }, 'Method Not Allowed\n');
  }
  const body = await readBody(req, 1024 * 1024);
  let msg;
  try {
    msg = JSON.parse(body);
  } catch {
    return sendJson(res, 400, { jsonrpc: '2.0', error: { code: -32700, message: 'Parse error' }, id: null });
  }
  if (!msg || typeof msg !== 'object' || Array.isArray(msg) || msg.jsonrpc !== '2.0' || typeof msg.method !== 'string') {
    return sendJson(res, 400, { jsonrpc: '2.0', error: { code: -32600, message: 'Invalid Request' }, id: null });
  }
  let session;
  let newSid;
  if (msg.method === 'initialize') {
    newSid = randomUUID();
    session = {};
    sessions.set(newSid, session);
  } else {
    if (!sid) return sendJson(res, 400, { jsonrpc: '2.0', error: { code: -32000, message: 'Bad Request: missing Mcp-Session-Id' }, id: null });
    session = sessions.get(sid);
    if (!session) return sendJson(res, 404, { jsonrpc: '2.0', error: { code: -32001, message: 'Session not found' }, id: null });
  }
  const headers = newSid ? { 'Mcp-Session-Id': newSid } : {};
  if (msg.id === undefined) return send(res, 202, headers); // a notification
  if (msg.method === 'tools/call' && opts.toolScope && !tokenData.scopes.includes(opts.toolScope)) {
    const needed = [...tokenData.scopes, opts.toolScope].join(' ');
    return sendJson(
      res,
      403,
      { message: `This tool needs the ${opts.toolScope} scope`, documentation_url: 'https://docs.github.com/rest' },
      { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${needed}"` }
    );
  }
  const result = handleRpc(msg, session, token);
  const reply = result.error
    ? { jsonrpc: '2.0', id: msg.id, error: result.error }
    : { jsonrpc: '2.0', id: msg.id, result };
  const accept = req.headers.accept ?? '';
  const sse = acceptQ(accept, 'text/event-stream') > acceptQ(accept, 'application/json');
  if (sse) {
    return send(
      res,
      200,
      { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', ...headers },
      `event: message\ndata: ${JSON.stringify(reply)}\n\n`
    );
  }
  sendJson(res, 200, reply, headers);
}

// ---------------------------------------------------------------- routing

async function route(req, res) {
  const url = new URL(req.url, origin);
  const path = url.pathname;
  if (path === '/login/oauth/authorize') {
    if (req.method === 'GET') return authorizePage(res, url.searchParams);
    if (req.method === 'POST') return authorizeDecision(res, parseParams(req, await readBody(req)));
  } else if (path === '/login/oauth/access_token') {
    if (req.method === 'POST') {
      const params = { ...Object.fromEntries(url.searchParams), ...parseParams(req, await readBody(req)) };
      return tokenEndpoint(req, res, params);
    }
  } else if (path === '/mcp' || path === '/mcp/') {
    return mcpEndpoint(req, res);
  } else if (path === '/_test/state' && req.method === 'GET') {
    return sendJson(res, 200, {
      issued_access_tokens: state.issuedAccess,
      issued_refresh_tokens: state.issuedRefresh,
      received_bearer_tokens: [...state.received],
      revoked_tokens: [],
      registered_clients: [opts.clientId],
      authorize_scopes: state.authorizeScopes,
      metadata_requests: state.metadataRequests
    }, { 'Cache-Control': 'no-store' });
  } else if (path === (opts.resourceMetadataPath ?? '/.well-known/oauth-protected-resource/mcp') && req.method === 'GET') {
    state.metadataRequests.push(path);
    const issuerOrigin = opts.prmIssuerHost ? `http://${opts.prmIssuerHost}:${server.address().port}` : origin;
    return sendJson(res, 200, {
      resource: opts.prmResource ?? `${origin}/mcp`,
      authorization_servers: [`${issuerOrigin}/login/oauth`],
      scopes_supported: ['repo', 'read:org', 'gist', 'notifications', 'user'],
      bearer_methods_supported: ['header'],
      resource_name: 'github-like MCP server'
    });
  } else if (path === '/.well-known/oauth-authorization-server/login/oauth' && req.method === 'GET') {
    state.metadataRequests.push(path);
    return sendJson(res, 200, {
      issuer: `${origin}/login/oauth`,
      authorization_endpoint: `${origin}/login/oauth/authorize`,
      token_endpoint: `${origin}/login/oauth/access_token`,
      response_types_supported: ['code'],
      grant_types_supported: opts.rotating ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
      code_challenge_methods_supported: ['S256'],
      token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic']
    });
  } else {
    if (path.includes('/.well-known/')) state.metadataRequests.push(path);
    return send(res, 404, { 'Content-Type': 'application/json' }, '{"message":"Not Found"}');
  }
  send(res, 405, { 'Content-Type': 'text/plain' }, 'Method Not Allowed\n');
}

const server = http.createServer((req, res) => {
  route(req, res).catch(err => {
    if (!res.headersSent) send(res, err.status ?? 500, { 'Content-Type': 'text/plain' }, `${err.status ? err.message : 'internal error'}\n`);
    else res.destroy();
  });
});
server.on('error', err => {
  process.stderr.write(`github_like: ${err.message}\n`);
  process.exit(1);
});
server.listen({ port: opts.port, host: opts.host, exclusive: true }, () => {
  origin = `http://${hostForUrl}:${server.address().port}`;
  process.stdout.write(`github-like listening on ${origin}\n`);
});

function stop() {
  server.close();
  server.closeAllConnections();
  setImmediate(() => process.exit(0));
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
