// An OAuthClientProvider for @modelcontextprotocol/sdk's client that keeps everything in memory
// and completes the browser part headlessly (lib/browser.mjs), recording every call so the test
// can assert what the SDK did.

import { randomBytes } from 'node:crypto';
import { walkAuthorization } from './browser.mjs';

export class HeadlessOAuthProvider {
  constructor({ gatewayOrigin, gatewayUser, upstreamUser, redirectUrl = 'http://127.0.0.1:53682/callback' }) {
    this.gatewayOrigin = gatewayOrigin;
    this.gatewayUser = gatewayUser;
    this.upstreamUser = upstreamUser;
    this._redirectUrl = redirectUrl;
    this.browserAllowed = true; // false: record redirectToAuthorization calls, walk nothing
    this.redirects = []; // every authorization URL the SDK sent "the browser" to
    this.walks = []; // results of the walks done
    this.savedTokens = []; // every saveTokens() argument, with the time it was saved
    this.invalidations = [];
    this.pendingCode = undefined;
    this._client = undefined;
    this._tokens = undefined;
    this._verifier = undefined;
    this._discovery = undefined;
    this._state = undefined;
  }

  get redirectUrl() {
    return this._redirectUrl;
  }

  get clientMetadata() {
    return {
      client_name: 'mcp-oauth-gateway node test (SDK client)',
      redirect_uris: [this._redirectUrl],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none'
    };
  }

  state() {
    this._state = randomBytes(16).toString('base64url');
    return this._state;
  }

  clientInformation() {
    return this._client;
  }

  saveClientInformation(info) {
    this._client = info;
  }

  tokens() {
    return this._tokens;
  }

  saveTokens(tokens) {
    this._tokens = tokens;
    this.savedTokens.push({ tokens, at: Date.now() });
  }

  saveCodeVerifier(verifier) {
    this._verifier = verifier;
  }

  codeVerifier() {
    if (!this._verifier) throw new Error('no code verifier saved');
    return this._verifier;
  }

  saveDiscoveryState(state) {
    this._discovery = state;
  }

  discoveryState() {
    return this._discovery;
  }

  invalidateCredentials(scope) {
    this.invalidations.push(scope);
    if (scope === 'all' || scope === 'client') this._client = undefined;
    if (scope === 'all' || scope === 'tokens') this._tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this._verifier = undefined;
    if (scope === 'all' || scope === 'discovery') this._discovery = undefined;
  }

  async redirectToAuthorization(url) {
    this.redirects.push(new URL(url));
    if (!this.browserAllowed) return;
    const walk = await walkAuthorization(url, {
      gatewayOrigin: this.gatewayOrigin,
      redirectUri: this._redirectUrl,
      gatewayUser: this.gatewayUser,
      upstreamUser: this.upstreamUser
    });
    this.walks.push(walk);
    const params = walk.url.searchParams;
    if (params.get('error')) throw new Error(`authorization failed: ${walk.url.href}`);
    if (params.get('state') !== this._state) {
      throw new Error(`state mismatch: sent ${this._state}, got ${params.get('state')}`);
    }
    this.pendingCode = params.get('code');
  }

  takeCode() {
    const code = this.pendingCode;
    this.pendingCode = undefined;
    if (!code) throw new Error('no authorization code: the browser walk did not finish');
    return code;
  }
}

// A fetch that records every request the SDK makes (MCP and OAuth alike).
export function recordingFetch(log) {
  return async (input, init = {}) => {
    const url = typeof input === 'string' || input instanceof URL ? String(input) : input.url;
    let body;
    if (typeof init.body === 'string') body = init.body;
    else if (init.body instanceof URLSearchParams) body = init.body.toString();
    const entry = { method: init.method ?? 'GET', url, body };
    log.push(entry);
    const res = await fetch(input, init);
    entry.status = res.status;
    entry.wwwAuthenticate = res.headers.get('www-authenticate') ?? undefined;
    if (!res.ok) entry.responseBody = await res.clone().text().catch(() => undefined);
    return res;
  };
}
