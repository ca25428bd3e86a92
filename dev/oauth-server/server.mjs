// Local OAuth 2.0 / OIDC provider for tests and `make dev`. Not for production:
// everything is in memory and any login/password is accepted. See README.md.
import http from 'node:http';

import Provider from 'oidc-provider';
import LRU from 'oidc-provider/lib/helpers/lru.js';
import MemoryAdapter from 'oidc-provider/lib/adapters/memory_adapter.js';

import { createContactsApi } from './contacts-api.mjs';
import { createEventsApi } from './events-api.mjs';
import { parseFaults } from './faults.mjs';

// The default in-memory store keeps the 1,000 most recently used entries: every refresh adds
// tokens, so a long `make dev` session or a benchmark of many refreshes silently evicted idle
// grants, which then answered invalid_grant. Same adapter, a larger store; entries still expire
// by their own TTL.
const storage = new LRU({ maxSize: 1_000_000 });

const env = process.env;
const port = Number(env.OAUTH_PORT || 9400);
const issuer = `http://127.0.0.1:${port}`;
const accessTokenTtl = Number(env.ACCESS_TOKEN_TTL || 3600);
const refreshTokenTtl = Number(env.REFRESH_TOKEN_TTL || 1209600);
const redirectUris = (env.OAUTH_REDIRECT_URIS || 'http://127.0.0.1:8787/providers/demo/callback')
  .split(',').map((s) => s.trim()).filter(Boolean);

const provider = new Provider(issuer, {
  adapter: (model) => new MemoryAdapter(model, storage, 0),
  clients: [{
    client_id: env.OAUTH_CLIENT_ID || 'demo-client',
    client_secret: env.OAUTH_CLIENT_SECRET || 'demo-secret',
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    // client_secret_post is accepted too: the provider takes either form of a client secret.
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  // Any login is an account; the claims are derived from it so tests can predict them.
  async findAccount(ctx, login) {
    return {
      accountId: login,
      async claims() {
        const name = `${login.charAt(0).toUpperCase()}${login.slice(1)} Example`;
        // `picture` as Google's userinfo gives it: a URL the browser loads (served below).
        const picture = `${issuer}/avatars/${encodeURIComponent(login)}.svg`;
        return { sub: login, email: `${login}@example.test`, email_verified: true, name, picture };
      },
    };
  },
  responseTypes: ['code'], // keeps discovery honest: no implicit/hybrid flows
  // calendar.events: the events API's write scope (events-api.mjs), as Google's of that name.
  scopes: ['openid', 'email', 'profile', 'offline_access', 'calendar.events', 'contacts.readonly'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'picture'] },
  pkce: { required: () => true },
  // Every refresh returns a new refresh token; replaying an old one revokes the whole grant.
  rotateRefreshToken: true,
  features: {
    devInteractions: { enabled: true }, // plain HTML login + consent forms a script can submit
    revocation: { enabled: true },
    introspection: { enabled: true },
  },
  // Default is 15 s of leeway, which lets /me accept an expired access token in TTL tests.
  clockTolerance: 0,
  ttl: {
    AccessToken: accessTokenTtl,
    IdToken: accessTokenTtl,
    RefreshToken: refreshTokenTtl,
    // A grant that expired before its refresh token would make refresh fail early.
    Grant: Math.max(refreshTokenTtl, 1209600),
  },
});

// Tests assert how often the service hit the token endpoint (e.g. one refresh for many
// concurrent callers), so every POST /token is counted, failures included, and logged with the
// time it arrived.
const TOKEN_LOG_LIMIT = 1000;
const FAULT_BODY_LIMIT = 64 * 1024;
const zeroCounts = () => ({ authorization_code: 0, refresh_token: 0 });
let counts = zeroCounts();
let faultedTokenRequests = 0;
let tokenRequestLog = [];
// The tokens of answers a `holdMs` fault held back: what the client is about to receive, so a
// test can check at introspection what became of them. Only these, and only on this local server.
let heldAnswers = [];
// Canned answers for the next POST /token requests (POST /__faults/token). With `repeat`, the
// last one is never used up: a provider that never recovers.
let faults = { responses: [], repeat: false };

const statsBody = () => ({
  tokenRequests: counts,
  faultedTokenRequests,
  // Entries are appended when a request finishes; listed in order of arrival.
  tokenRequestLog: [...tokenRequestLog].sort((a, b) => a.at - b.at),
  heldAnswers,
  ...eventsApi.stats(),
  ...contactsApi.stats(),
});

function recordTokenRequest(entry) {
  if (entry.grantType) {
    counts[entry.grantType] = (counts[entry.grantType] || 0) + 1;
  }
  if (entry.faulted) {
    faultedTokenRequests += 1;
  }
  tokenRequestLog.push(entry);
  if (tokenRequestLog.length > TOKEN_LOG_LIMIT) {
    tokenRequestLog.splice(0, tokenRequestLog.length - TOKEN_LOG_LIMIT);
  }
}

// No body parser is installed, and oidc-provider must be the only reader of the bodies it
// handles: this is used only where the provider never runs (the fault routes, faulted requests,
// the events control routes).
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > FAULT_BODY_LIMIT) {
      throw Object.assign(new Error('body too large'), { status: 413 });
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}


function nextFault() {
  const { responses, repeat } = faults;
  if (responses.length === 0) return undefined;
  if (repeat && responses.length === 1) return responses[0];
  return responses.shift();
}

function answerWithFault(ctx, fault) {
  ctx.status = fault.status;
  if (fault.retryAfter !== undefined) {
    ctx.set('Retry-After', String(fault.retryAfter));
  }
  ctx.set('Cache-Control', 'no-store');
  if (fault.error) {
    ctx.body = { error: fault.error };
  } else if (fault.status === 429) {
    ctx.body = { error: 'slow_down' };
  } else if (fault.status === 400) {
    ctx.body = { error: 'invalid_request' };
  } else {
    // What a load balancer in front of a provider sends: not JSON.
    ctx.type = 'text/html; charset=utf-8';
    ctx.body = fault.status === 503 ? 'service unavailable'
      : (http.STATUS_CODES[fault.status] || 'error').toLowerCase();
  }
}

// The demo calendar events API (Google Calendar's events.list) and its test-control routes, on
// the same port: it accepts only access tokens this provider issued. See events-api.mjs.
const eventsApi = createEventsApi({ provider, readBody });
// The demo contacts API (the People API's connections.list) and its control routes. See
// contacts-api.mjs.
const contactsApi = createContactsApi({ provider, readBody });

provider.use(async (ctx, next) => {
  if (await eventsApi.handle(ctx) || await contactsApi.handle(ctx)) {
    return;
  }
  const avatar = ctx.method === 'GET' && /^\/avatars\/([^/]+)\.svg$/.exec(ctx.path);
  if (avatar) {
    // The account's initial on a disc: enough for a connect card to show a picture offline.
    const initial = decodeURIComponent(avatar[1]).charAt(0).toUpperCase().replace(/[^A-Z0-9]/, '?');
    ctx.type = 'image/svg+xml';
    ctx.body = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><circle cx="32" cy="32" r="32" fill="#3b6ea5"/><text x="32" y="42" font-size="30" text-anchor="middle" fill="#fff" font-family="sans-serif">${initial}</text></svg>`;
    return;
  }
  if (ctx.path === '/__stats' && ctx.method === 'GET') {
    ctx.body = statsBody();
    return;
  }
  if (ctx.path === '/__stats/reset' && ctx.method === 'POST') {
    counts = zeroCounts();
    faultedTokenRequests = 0;
    tokenRequestLog = [];
    heldAnswers = [];
    faults = { responses: [], repeat: false };
    eventsApi.reset();
    contactsApi.reset();
    ctx.body = statsBody();
    return;
  }
  if (ctx.path === '/__faults/token') {
    if (ctx.method === 'GET') {
      ctx.body = faults;
      return;
    }
    if (ctx.method === 'DELETE') {
      faults = { responses: [], repeat: false };
      ctx.body = faults;
      return;
    }
    if (ctx.method === 'POST') {
      const parsed = parseFaults(await readBody(ctx.req), {
        minStatus: 200, stringFields: ['error'], holdAllowed: true,
      });
      if (parsed.error) {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: parsed.error };
        return;
      }
      faults = parsed.faults;
      ctx.body = faults;
      return;
    }
  }
  if (ctx.method === 'POST' && ctx.path === '/token/revocation') {
    await next();
    // Which held answers' tokens a client asked to revoke (cascading revocation at this
    // provider makes "inactive" alone no proof that the client did).
    const token = ctx.oidc?.body?.token;
    for (const held of heldAnswers) {
      if (token && token === held.accessToken) held.revocationRequested.push('access');
      if (token && token === held.refreshToken) held.revocationRequested.push('refresh');
    }
    return;
  }
  const isToken = ctx.method === 'POST' && ctx.path === '/token';
  if (!isToken) {
    await next();
    return;
  }
  const at = Date.now();
  const fault = nextFault();
  if (fault && fault.holdMs !== undefined) {
    // The real provider handles it (a refresh token is rotated now); the client hears of it
    // only `holdMs` later: a refresh held in flight after the provider answered.
    let status;
    try {
      await next();
      status = ctx.status;
    } finally {
      const grantType = ctx.oidc?.body?.grant_type || null;
      recordTokenRequest({ at, grantType, status: status ?? ctx.status, faulted: false });
    }
    if (ctx.body && typeof ctx.body === 'object') {
      heldAnswers.push({
        accessToken: ctx.body.access_token ?? null,
        refreshToken: ctx.body.refresh_token ?? null,
        revocationRequested: [],
      });
    }
    await new Promise((resolve) => setTimeout(resolve, fault.holdMs));
    return;
  }
  if (fault) {
    // The provider never sees this request, so its body is ours to read.
    let grantType = null;
    try {
      grantType = new URLSearchParams(await readBody(ctx.req)).get('grant_type') || null;
    } catch {
      // An unreadable body still gets the canned answer.
    }
    answerWithFault(ctx, fault);
    recordTokenRequest({ at, grantType, status: fault.status, faulted: true });
    return;
  }
  let status;
  try {
    await next();
    status = ctx.status;
  } catch (err) {
    status = err.status || err.statusCode || 500;
    throw err;
  } finally {
    // The provider parses the body itself (before client authentication), so read it afterwards.
    const grantType = ctx.oidc?.body?.grant_type || null;
    recordTokenRequest({ at, grantType, status: status ?? ctx.status, faulted: false });
  }
});

const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`oauth-server ready ${issuer}\n`);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
// A test harness keeps our stdin open; if it dies, EOF arrives and we go with it.
if (env.EXIT_ON_STDIN_EOF === '1') {
  process.stdin.on('end', shutdown);
  process.stdin.resume();
}
