// A headless "browser" for the authorization flow: plain HTTP (fetch, redirect: 'manual'),
// forms parsed with small regexes, no JavaScript. It walks
//   gateway /authorize → 302 /login?flow=… → login form (flow, csrf, username, password)
//   → consent form (flow, csrf, decision=approve|deny, remember=1) → 302 upstream /authorize
//   → the upstream's login form → 302 gateway /upstream/callback → 302 the client's redirect URI
// and stops at the first redirect to the client's redirect URI (or, with `deliver`, fetches
// that URL too, for clients like mcp-remote that run their own callback server).

const decode = s =>
  s.replace(/&(amp|lt|gt|quot|#39|#x27);/g, (_, e) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'", '#x27': "'" })[e]);

function attr(tag, name) {
  const m = new RegExp(`\\s${name}\\s*=\\s*(?:"([^"]*)"|'([^']*)'|([^\\s>]+))`, 'i').exec(tag);
  return m ? decode(m[1] ?? m[2] ?? m[3]) : undefined;
}

// The first <form> of a page: its method, action, inputs (name → {type, value}) and the
// values of its submit buttons.
export function parseForm(html) {
  const m = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!m) return undefined;
  const form = {
    method: (attr(m[1], 'method') ?? 'get').toLowerCase(),
    action: attr(m[1], 'action') ?? '',
    inputs: new Map(),
    buttons: []
  };
  for (const [tag] of m[2].matchAll(/<input\b[^>]*>/gi)) {
    const name = attr(tag, 'name');
    if (!name) continue;
    form.inputs.set(name, {
      type: (attr(tag, 'type') ?? 'text').toLowerCase(),
      value: attr(tag, 'value') ?? '',
      checked: /\schecked\b/i.test(tag)
    });
  }
  for (const [tag] of m[2].matchAll(/<button\b[^>]*>/gi)) {
    const name = attr(tag, 'name');
    if (name) form.buttons.push({ name, value: attr(tag, 'value') ?? '' });
  }
  return form;
}

export class FlowError extends Error {
  constructor(message, trail, lastBody) {
    super(`${message}\ntrail:\n${trail.map(t => `  ${t}`).join('\n')}${lastBody ? `\nlast body: ${lastBody.slice(0, 600)}` : ''}`);
    this.trail = trail;
  }
}

/**
 * Walks `authorizationUrl` to the client's redirect URI.
 *   gatewayOrigin: pages from this origin get the gateway's credentials, others the upstream's
 *   redirectUri: where the walk ends (compared on origin + path)
 *   decision: 'approve' | 'deny' on the consent page; remember: tick "remember" (default true)
 *   deliver: also GET the final redirect (mcp-remote's own callback server)
 * Returns {url: URL of the final redirect, trail: ["GET url → 302", ...], pages: [kinds],
 *          delivered: {status, body} when deliver}.
 */
export async function walkAuthorization(authorizationUrl, {
  gatewayOrigin,
  redirectUri,
  gatewayUser,
  upstreamUser,
  decision = 'approve',
  remember = true,
  deliver = false,
  maxSteps = 20
}) {
  const stop = new URL(redirectUri);
  const isFinal = u => u.origin === stop.origin && u.pathname === stop.pathname;
  const gwOrigin = new URL(gatewayOrigin).origin;
  const trail = [];
  const pages = [];
  const cookies = new Map(); // origin → Map(name → value); neither side is expected to need it
  let request = { method: 'GET', url: new URL(authorizationUrl), body: undefined };

  for (let step = 0; step < maxSteps; step++) {
    const jar = cookies.get(request.url.origin);
    const headers = { accept: 'text/html' };
    if (jar?.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (request.body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(request.url, { method: request.method, headers, body: request.body, redirect: 'manual' });
    for (const sc of res.headers.getSetCookie?.() ?? []) {
      const [pair] = sc.split(';');
      const eq = pair.indexOf('=');
      if (eq > 0) {
        if (!cookies.has(request.url.origin)) cookies.set(request.url.origin, new Map());
        cookies.get(request.url.origin).set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
    }
    trail.push(`${request.method} ${request.url.href} → ${res.status}`);

    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      const location = res.headers.get('location');
      if (!location) throw new FlowError(`${res.status} without Location`, trail);
      const next = new URL(location, request.url);
      if (isFinal(next)) {
        trail.push(`→ ${next.href}`);
        const result = { url: next, trail, pages };
        if (deliver) {
          const cb = await fetch(next, { redirect: 'manual' });
          result.delivered = { status: cb.status, body: await cb.text() };
          trail.push(`GET ${next.href} → ${cb.status}`);
        }
        return result;
      }
      request = { method: 'GET', url: next, body: undefined };
      continue;
    }

    const body = await res.text();
    if (res.status !== 200) throw new FlowError(`unexpected ${res.status}`, trail, body);
    const form = parseForm(body);
    if (!form) throw new FlowError('a page without a form', trail, body);

    const fields = new URLSearchParams();
    for (const [name, input] of form.inputs) {
      if (input.type === 'hidden') fields.set(name, input.value);
    }
    const fromGateway = request.url.origin === gwOrigin;
    let kind;
    if (form.inputs.has('username') && form.inputs.has('password')) {
      const user = fromGateway ? gatewayUser : upstreamUser;
      kind = fromGateway ? 'gateway-login' : 'upstream-login';
      fields.set('username', user.username);
      fields.set('password', user.password);
    } else if (form.buttons.some(b => b.name === 'decision')) {
      kind = fromGateway ? 'gateway-consent' : 'upstream-consent';
      if (remember && form.inputs.has('remember')) fields.set('remember', form.inputs.get('remember').value || '1');
      fields.set('decision', decision);
    } else {
      throw new FlowError('a form this walker does not know', trail, body);
    }
    pages.push(kind);
    const action = new URL(form.action || request.url.href, request.url);
    if (form.method === 'post') {
      request = { method: 'POST', url: action, body: fields.toString() };
    } else {
      for (const [k, v] of fields) action.searchParams.set(k, v);
      request = { method: 'GET', url: action, body: undefined };
    }
  }
  throw new FlowError(`more than ${maxSteps} steps`, trail);
}
