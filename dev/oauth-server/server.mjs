// Local OAuth 2.0 / OIDC provider for tests and `make dev`. Not for production:
// everything is in memory and any login/password is accepted. See README.md.
import Provider from 'oidc-provider';

const env = process.env;
const port = Number(env.OAUTH_PORT || 9400);
const issuer = `http://127.0.0.1:${port}`;
const accessTokenTtl = Number(env.ACCESS_TOKEN_TTL || 3600);
const refreshTokenTtl = Number(env.REFRESH_TOKEN_TTL || 1209600);
const redirectUris = (env.OAUTH_REDIRECT_URIS || 'http://127.0.0.1:8787/providers/demo/callback')
  .split(',').map((s) => s.trim()).filter(Boolean);

const provider = new Provider(issuer, {
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
        return { sub: login, email: `${login}@example.test`, email_verified: true, name };
      },
    };
  },
  responseTypes: ['code'], // keeps discovery honest: no implicit/hybrid flows
  scopes: ['openid', 'email', 'profile', 'offline_access'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
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
// concurrent callers), so every POST /token is counted, failures included.
const zeroStats = () => ({ authorization_code: 0, refresh_token: 0 });
let stats = zeroStats();
provider.use(async (ctx, next) => {
  if (ctx.path === '/__stats' && ctx.method === 'GET') {
    ctx.body = { tokenRequests: stats };
    return;
  }
  if (ctx.path === '/__stats/reset' && ctx.method === 'POST') {
    stats = zeroStats();
    ctx.body = { tokenRequests: stats };
    return;
  }
  try {
    await next();
  } finally {
    // The provider parses the body itself (before client authentication), so read it afterwards.
    const grantType = ctx.oidc?.body?.grant_type;
    if (ctx.method === 'POST' && ctx.path === '/token' && grantType) {
      stats[grantType] = (stats[grantType] || 0) + 1;
    }
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
