// A Node.js 20 peer of the Rust `token` function (GET /users/{userId}/integrations/{id}/token),
// fresh-token path only, for comparing cold start and peak RSS under the same minimal Lambda
// Runtime API (dev/src/runtime_api.rs, driven by benches/src/foundation.rs `cold_start`).
// Run: `node index.mjs` with AWS_LAMBDA_RUNTIME_API, AWS_REGION, credentials, TABLE_NAME,
// KMS_KEY_ID, BACKEND_PRINCIPAL_ARNS and (locally) AWS_ENDPOINT_URL, as the Rust binary is run.
//
// What the Rust code does, and what this file mirrors (paths under /work/main):
//
// Container start (shared/src/lambda.rs `run_http`, shared/src/app.rs `App::from_env`): clients
//   built once per container. Here: one DynamoDBClient and one KMSClient at module load; the SDK
//   reads AWS_REGION, the credentials and AWS_ENDPOINT_URL from the environment, as
//   aws_config::defaults does for the Rust SDK. (The Rust App also parses/validates the embedded
//   provider catalogue and builds SQS, Secrets Manager and HTTP clients that this route never
//   uses; the peer does not: see "Differences" at the end of this comment.)
//
// Request parsing (shared/src/http.rs `ApiRequest::from_lambda`, lambda_http 1.3.2):
//   - correlation id = the Runtime API's `lambda-runtime-aws-request-id` header, else
//     `requestContext.requestId`, else "unknown";
//   - backend principal = `requestContext.authorizer.iam.userArn`, else `.callerId`;
//   - `pathParameters.userId` / `.id`; `requestContext.http.sourceIp` / `.userAgent`.
//
// Per request, in this order (shared/src/handlers/mod.rs `serve`):
//   1. Rate limit (shared/src/rate_limit.rs `admit`; route table shared/src/routes.rs: the token
//      route is Auth::Backend, LimitClass::Token, 1200/60 s unless RATE_LIMITS says otherwise):
//      when there is a non-empty backend principal, ONE DynamoDB UpdateItem
//      (shared/src/store/dynamo/rate_counters.rs): Key PK=`RATE#token#{principal}` (SHA-256 hex
//      form when the principal is over 256 bytes, keys.rs `rate`), SK=`WINDOW#{windowStart}`,
//      `ADD hits :one SET #ttl = :ttl`, condition `attribute_not_exists(hits) OR hits < :limit`,
//      ReturnValues UPDATED_NEW. Condition failure -> 429 RATE_LIMITED with Retry-After; any
//      other failure -> admitted without RateLimit headers (fail open).
//   2. Handler (shared/src/handlers/tokens.rs `token`):
//      a. principal missing -> 401 UNAUTHORIZED; not allowed by BACKEND_PRINCIPAL_ARNS (exact,
//         or any session of a listed role: shared/src/config/mod.rs `backend_allowed`) -> 403;
//      b. userId (1-256 chars, no control chars) and id (32 lower-case hex) -> else 400;
//      c. shared/src/refresh/mod.rs `fresh_tokens`, first loop turn: DynamoDB GetItem of
//         PK=`USER#{userId}`, SK=`INTEGRATION#{id}`, ConsistentRead, no projection
//         (shared/src/store/dynamo/integrations.rs `get_with_tokens`); none -> 404
//         ACCOUNT_NOT_FOUND; status != connected -> 404 (disconnected) / 409 TOKEN_EXPIRED
//         (expired) / 409 CONFLICT (other); no `tokenEnvelope` -> 500;
//         fresh when NOT (expiresAt - lead <= now + REFRESH_MARGIN_SECONDS (600)), `lead` being
//         the catalogue's renew_before_secs (only `instagram`, 604800: shared/providers.toml);
//      d. `open_tokens` -> shared/src/crypto/cipher.rs `EnvelopeCipher::open`: envelope version
//         must be 1, nonce 12 bytes; data key from the per-container cache keyed by (purpose,
//         encrypted key bytes), entries kept 900 s (CacheLimits max_age 300 s x 3), LRU of 1000;
//         on a miss KMS Decrypt (shared/src/crypto/kms.rs): KeyId = the envelope's keyId,
//         CiphertextBlob = edk, EncryptionContext {"purpose": "token-set"}; plaintext must be 32
//         bytes. AES-256-GCM with the envelope nonce, ciphertext = ct || 16-byte tag (aes-gcm
//         crate layout), AAD = 0x01 (format version) then, for each of "token-set", userId,
//         integrationId, provider (the ROW's values), a u32 big-endian byte length and the UTF-8
//         bytes (cipher.rs `RowBinding::associated_data`). The plaintext is the JSON of
//         shared/src/oauth/token_set.rs `SealedTokenSet` {accessToken, refreshToken, tokenType,
//         expiresAt, issuedAt, scopes};
//      e. audit (shared/src/app.rs `App::audit` -> shared/src/store/dynamo/audit.rs `append`):
//         DynamoDB PutItem PK=`USER#{userId}`, SK=`AUDIT#{at}#{32 random hex}`, event
//         "token_issued", at, correlationId, ttl (now + 90 days), provider, integrationId, ip,
//         userAgent, principal (strings cut to 512 bytes); a failure is logged, not returned;
//      f. 200 with data {accessToken, tokenType, expiresAt (RFC 3339, whole seconds, from the
//         token set's expiresAt, omitted when absent), scopes (the token set's)}.
//   3. The envelope (shared/src/http.rs `ApiResponse`): body
//      {"success":true,"data":…,"correlationId":…,"timestamp":"…(6 fractional digits)Z"}
//      (errors: {"success":false,"error":{code,message,retryable},…}), headers content-type
//      application/json, cache-control no-store, [retry-after], then ratelimit-limit /
//      -remaining / -reset; answered as lambda_http answers an HTTP API v2 event:
//      {statusCode, headers, multiValueHeaders: {}, body, isBase64Encoded: false, cookies: []}.
//   4. One CloudWatch EMF line on stdout (shared/src/metrics.rs `Metrics::request`).
//
// AWS calls on a cold invocation of a fresh token: DynamoDB UpdateItem (rate counter), DynamoDB
// GetItem (row), KMS Decrypt (data key), DynamoDB PutItem (audit). Warm, same data key: no KMS.
//
// Differences from the Rust route (kept out on purpose; none is on the fresh path's AWS calls):
//   - a token that needs a refresh is not refreshed: the peer answers 500 INTERNAL_ERROR
//     ("refresh not implemented in the peer") instead of taking the lease and calling the
//     provider (shared/src/refresh/mod.rs `refresh_under_lease`); fresh tokens only;
//   - no provider catalogue (the Rust binary parses and validates shared/providers.toml at
//     start-up); the renewal lead is the one catalogue number the fresh path reads;
//   - settings read: TABLE_NAME, KMS_KEY_ID, BACKEND_PRINCIPAL_ARNS, REFRESH_MARGIN_SECONDS,
//     RATE_LIMITS (token class only), METRICS_NAMESPACE/SERVICE; the Rust binary also requires
//     STATE_KEY_SECRET and validates every other setting;
//   - no tracing log lines (the bench runs the Rust binary with RUST_LOG=warn: none on success);
//     failures are written to stderr;
//   - AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true is set before the clients are built,
//     so the SDK does not print its Node 20 deprecation warning on stderr in each bench run;
//   - the runtime loop is this file's (keep-alive agent, one socket, as the RIC's JS client),
//     not lambda_runtime's; the answer is serialized with JSON.stringify, as the Node runtime
//     does.

import http from 'node:http';
import { createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';

import { DynamoDBClient, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DecryptCommand, KMSClient } from '@aws-sdk/client-kms';

// ---- Container state (module load = Lambda init) ----------------------------------------------

const env = process.env;
const settings = {
  table: env.TABLE_NAME ?? '',
  kmsKeyId: env.KMS_KEY_ID ?? '',
  backendPrincipals: (env.BACKEND_PRINCIPAL_ARNS ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== ''),
  refreshMarginSecs: positiveInt(env.REFRESH_MARGIN_SECONDS, 600),
  tokenBudget: tokenBudget(env.RATE_LIMITS ?? ''),
  metricsNamespace: env.METRICS_NAMESPACE ?? 'OAuthConnector',
  metricsService: env.METRICS_SERVICE ?? 'oauth-connector',
};

// The SDK honours AWS_ENDPOINT_URL (@smithy/core getEndpointUrlConfig), region and credentials
// from the environment: nothing to pass, as in a normal Node Lambda.
// SDK releases of 2026 warn once per process on stderr that releases after January 2027 need
// Node >= 22; its documented switch keeps that line out of the bench's output.
env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const dynamodb = new DynamoDBClient({});
const kms = new KMSClient({});

if (env.PEER_TRACE_AWS) {
  // The self-test's call log: one stderr line per AWS operation sent.
  for (const client of [dynamodb, kms]) {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        process.stderr.write(`peer-aws ${context.clientName.replace(/Client$/, '')}.${context.commandName.replace(/Command$/, '')}\n`);
        return next(args);
      },
      { step: 'initialize', name: 'peerTrace' },
    );
  }
}

/** The renewal lead of the catalogue's entries (shared/providers.toml `renew_before_secs`). */
const RENEW_LEAD_SECS = { instagram: 604800 };

const ROUTE = 'GET /users/{userId}/integrations/{id}/token';
const TOKEN_SET = 'token-set';
const FORMAT_VERSION = 1;
const NONCE_LEN = 12;
const TAG_LEN = 16;
const AUDIT_RETENTION_SECS = 90 * 24 * 3600;

/** Decrypted data keys, by purpose and encrypted key (shared/src/crypto/cipher.rs). */
const dataKeys = new Map();
const DATA_KEY_MAX_AGE_MS = 3 * 300 * 1000;
const DATA_KEY_CAPACITY = 1000;

// ---- Errors (shared/src/error.rs) --------------------------------------------------------------

class ApiError extends Error {
  constructor(status, code, message, { retryable = false, retryAfterSecs, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.status = status;
    this.code = code;
    this.retryable = retryable;
    this.retryAfterSecs = retryAfterSecs;
  }
}
const unauthorized = () => new ApiError(401, 'UNAUTHORIZED', 'missing or invalid credentials');
const validation = (message) => new ApiError(400, 'VALIDATION_ERROR', message);
const notFound = () => new ApiError(404, 'ACCOUNT_NOT_FOUND', 'integration not found');
const internal = (cause) => new ApiError(500, 'INTERNAL_ERROR', 'internal error', { cause });
const database = (cause) =>
  new ApiError(503, 'DATABASE_ERROR', 'the token store is unavailable', { retryable: true, cause });
const keyService = (cause) =>
  new ApiError(503, 'KEY_SERVICE_ERROR', 'the key service is unavailable', { retryable: true, cause });

// ---- The handler ---------------------------------------------------------------------------------

/** An API Gateway HTTP API (v2) event to the function's answer, as `serve` + lambda_http do. */
export async function handler(event, context = {}) {
  const started = performance.now();
  const req = parseRequest(event, context.awsRequestId);
  const admission = await admit(req);
  let response;
  if (admission.refused) {
    const secs = admission.quota.reset;
    response = errorResponse(
      req.requestId,
      new ApiError(429, 'RATE_LIMITED', `too many requests; retry in ${Math.max(secs, 1)} s`, {
        retryable: true,
        retryAfterSecs: secs,
      }),
    );
  } else {
    try {
      response = await token(req);
    } catch (e) {
      response = errorResponse(req.requestId, e instanceof ApiError ? e : internal(e));
    }
  }
  if (admission.quota) {
    response.headers['ratelimit-limit'] = String(admission.quota.limit);
    response.headers['ratelimit-remaining'] = String(admission.quota.remaining);
    response.headers['ratelimit-reset'] = String(admission.quota.reset);
  }
  const route = req.method.toUpperCase() === 'GET' ? ROUTE : 'token';
  emitRequestMetric(route, response.statusCode, performance.now() - started, req.requestId);
  return {
    statusCode: response.statusCode,
    headers: response.headers,
    multiValueHeaders: {},
    body: response.body,
    isBase64Encoded: false,
    cookies: [],
  };
}

function parseRequest(event, lambdaRequestId) {
  const ctx = event?.requestContext ?? {};
  const iam = ctx.authorizer?.iam;
  return {
    method: ctx.http?.method ?? 'GET',
    pathParams: event?.pathParameters ?? {},
    backendPrincipal: iam ? (iam.userArn ?? iam.callerId ?? null) : null,
    requestId: lambdaRequestId || ctx.requestId || 'unknown',
    sourceIp: ctx.http?.sourceIp ?? null,
    userAgent: ctx.http?.userAgent ?? null,
  };
}

/** shared/src/rate_limit.rs `admit` for the token route (Auth::Backend, class `token`). */
async function admit(req) {
  const caller = req.backendPrincipal;
  if (req.method.toUpperCase() !== 'GET' || !caller) return {};
  const { limit, windowSecs } = settings.tokenBudget;
  const now = Math.floor(Date.now() / 1000);
  const start = now - (now % windowSecs);
  const end = start + windowSecs;
  const quota = (remaining) => ({ limit, remaining, reset: end - now });
  try {
    const out = await dynamodb.send(
      new UpdateItemCommand({
        TableName: settings.table,
        Key: { PK: { S: rateKey('token', caller) }, SK: { S: `WINDOW#${start}` } },
        UpdateExpression: 'ADD hits :one SET #ttl = :ttl',
        ConditionExpression: 'attribute_not_exists(hits) OR hits < :limit',
        ExpressionAttributeNames: { '#ttl': 'ttl' },
        ExpressionAttributeValues: {
          ':one': { N: '1' },
          ':limit': { N: String(limit) },
          ':ttl': { N: String(end + 60) },
        },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    const hits = Number(out.Attributes?.hits?.N ?? 1);
    return { quota: quota(Math.max(limit - hits, 0)) };
  } catch (e) {
    if (e?.name === 'ConditionalCheckFailedException') return { refused: true, quota: quota(0) };
    logError('rate limiter unavailable; request admitted', e);
    return {};
  }
}

/** shared/src/handlers/tokens.rs `token`. */
async function token(req) {
  const backend = req.backendPrincipal;
  if (!backend) throw unauthorized();
  if (!backendAllowed(backend)) {
    throw new ApiError(403, 'FORBIDDEN', 'this principal may not use the token route (BACKEND_PRINCIPAL_ARNS)');
  }
  const userId = pathParam(req, 'userId');
  if (userId === '' || [...userId].length > 256 || /\p{Cc}/u.test(userId)) {
    throw validation('a user id is 1-256 printable characters');
  }
  const id = pathParam(req, 'id');
  if (!/^[0-9a-f]{32}$/.test(id)) throw validation('an integration id is 32 lower-case hex characters');

  const { integration, tokens } = await freshTokens(userId, id);

  const at = nowRfc3339();
  await audit({
    PK: { S: `USER#${integration.userId}` },
    SK: { S: `AUDIT#${at}#${randomBytes(16).toString('hex')}` },
    event: { S: 'token_issued' },
    at: { S: at },
    correlationId: { S: req.requestId },
    ttl: { N: String(Math.floor(Date.now() / 1000) + AUDIT_RETENTION_SECS) },
    provider: { S: integration.provider },
    integrationId: { S: integration.id },
    ...optionalString('ip', req.sourceIp),
    ...optionalString('userAgent', req.userAgent),
    principal: { S: truncate(backend, 512) },
  });

  const data = { accessToken: tokens.accessToken, tokenType: tokens.tokenType };
  const expiresAt = tokens.expiresAt == null ? undefined : epochToRfc3339(tokens.expiresAt);
  if (expiresAt !== undefined) data.expiresAt = expiresAt;
  data.scopes = tokens.scopes;
  return okResponse(req.requestId, data);
}

/** The fresh-token turn of shared/src/refresh/mod.rs `fresh_tokens`. */
async function freshTokens(userId, id) {
  let out;
  try {
    out = await dynamodb.send(
      new GetItemCommand({
        TableName: settings.table,
        Key: { PK: { S: `USER#${userId}` }, SK: { S: `INTEGRATION#${id}` } },
        ConsistentRead: true,
      }),
    );
  } catch (e) {
    throw database(e);
  }
  if (!out.Item) throw notFound();
  const integration = integrationFrom(out.Item);
  if (integration.status !== 'connected') {
    if (integration.status === 'disconnected') throw notFound();
    if (integration.status === 'expired') {
      throw new ApiError(409, 'TOKEN_EXPIRED', "the integration's authorization has expired or was revoked; connect again");
    }
    throw new ApiError(409, 'CONFLICT', `the integration is ${integration.status}`);
  }
  const envelope = envelopeFrom(out.Item.tokenEnvelope);
  if (!envelope) throw internal(new Error('the sealed token set is malformed'));
  const now = Math.floor(Date.now() / 1000);
  const lead = RENEW_LEAD_SECS[integration.provider] ?? 0;
  if (integration.expiresAt != null && integration.expiresAt - lead <= now + settings.refreshMarginSecs) {
    throw internal(new Error('refresh not implemented in the peer'));
  }
  const plain = await openEnvelope(integration, envelope);
  return { integration, tokens: tokenSetFrom(plain) };
}

/** shared/src/store/dynamo/codec.rs `integration_from`: the attributes this path reads. */
function integrationFrom(item) {
  const s = (name) => {
    const v = item[name]?.S;
    if (v === undefined) throw internal(new Error(`missing string attribute ${name}`));
    return v;
  };
  const n = (name) => {
    const v = item[name];
    if (v === undefined || v.NULL) return null;
    if (v.N === undefined || !/^-?\d+$/.test(v.N)) throw internal(new Error(`${name} is not an integer`));
    return Number(v.N);
  };
  for (const required of ['externalAccountId', 'createdAt', 'updatedAt']) s(required);
  return {
    id: s('id'),
    userId: s('userId'),
    provider: s('provider'),
    status: s('status'),
    expiresAt: n('expiresAt'),
    version: n('version') ?? 0,
    leaseUntilMs: n('leaseUntil'),
  };
}

/** codec.rs `Item::envelope`: {v N, keyId S, edk B, nonce B, ct B}; undefined when absent. */
function envelopeFrom(value) {
  const m = value?.M;
  if (!m) return undefined;
  const bytes = (name) => {
    const b = m[name]?.B;
    if (b === undefined) throw internal(new Error(`missing binary attribute ${name}`));
    return b;
  };
  const keyId = m.keyId?.S;
  if (keyId === undefined) throw internal(new Error('missing string attribute keyId'));
  return {
    version: m.v?.N === undefined ? 0 : Number(m.v.N),
    keyId,
    encryptedDataKey: bytes('edk'),
    nonce: bytes('nonce'),
    ciphertext: bytes('ct'),
  };
}

/** shared/src/crypto/cipher.rs `EnvelopeCipher::open` for a token set. */
async function openEnvelope(integration, envelope) {
  if (envelope.version !== FORMAT_VERSION) {
    throw internal(new Error(`unsupported envelope format version ${envelope.version}`));
  }
  if (envelope.nonce.length !== NONCE_LEN) throw internal(new Error('malformed envelope: nonce length'));
  const key = await dataKey(envelope.keyId, envelope.encryptedDataKey);
  const ct = envelope.ciphertext;
  if (ct.length < TAG_LEN) throw internal(new Error('the envelope does not decrypt for this row'));
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, envelope.nonce, { authTagLength: TAG_LEN });
    decipher.setAAD(associatedData(TOKEN_SET, integration.userId, integration.id, integration.provider));
    decipher.setAuthTag(ct.subarray(ct.length - TAG_LEN));
    return Buffer.concat([decipher.update(ct.subarray(0, ct.length - TAG_LEN)), decipher.final()]);
  } catch (e) {
    throw internal(new Error('the envelope does not decrypt for this row', { cause: e }));
  }
}

/** cipher.rs `RowBinding::associated_data`. */
export function associatedData(purpose, userId, recordId, provider) {
  const parts = [Buffer.from([FORMAT_VERSION])];
  for (const part of [purpose, userId, recordId, provider]) {
    const bytes = Buffer.from(part, 'utf8');
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  }
  return Buffer.concat(parts);
}

/** cipher.rs `key_for_opening` + kms.rs `decrypt_data_key`. */
async function dataKey(keyId, encrypted) {
  const cacheKey = `${TOKEN_SET}:${Buffer.from(encrypted).toString('base64')}`;
  const cached = dataKeys.get(cacheKey);
  if (cached) {
    dataKeys.delete(cacheKey);
    if (performance.now() - cached.created < DATA_KEY_MAX_AGE_MS) {
      dataKeys.set(cacheKey, cached); // most recently used
      return cached.key;
    }
  }
  let out;
  try {
    out = await kms.send(
      new DecryptCommand({
        KeyId: keyId,
        CiphertextBlob: encrypted,
        EncryptionContext: { purpose: TOKEN_SET },
      }),
    );
  } catch (e) {
    // InvalidCiphertextException is CryptoError::KeyRefused (500); the rest KeyService (503).
    throw e?.name === 'InvalidCiphertextException' ? internal(e) : keyService(e);
  }
  if (!out.Plaintext) throw keyService(new Error('no plaintext key returned'));
  if (out.Plaintext.length !== 32) throw internal(new Error('malformed envelope: data key length'));
  const key = Buffer.from(out.Plaintext);
  dataKeys.set(cacheKey, { key, created: performance.now() });
  if (dataKeys.size > DATA_KEY_CAPACITY) dataKeys.delete(dataKeys.keys().next().value);
  return key;
}

/** shared/src/oauth/token_set.rs `TokenSet::from_plaintext`. */
function tokenSetFrom(plain) {
  const malformed = () => internal(new Error('the sealed token set is malformed'));
  let sealed;
  try {
    sealed = JSON.parse(plain.toString('utf8'));
  } catch {
    throw malformed();
  }
  const optInt = (v) => v == null || Number.isInteger(v);
  if (
    typeof sealed?.accessToken !== 'string' ||
    typeof sealed.tokenType !== 'string' ||
    !optInt(sealed.expiresAt) ||
    !(sealed.scopes == null || (Array.isArray(sealed.scopes) && sealed.scopes.every((s) => typeof s === 'string')))
  ) {
    throw malformed();
  }
  return {
    accessToken: sealed.accessToken,
    tokenType: sealed.tokenType,
    expiresAt: sealed.expiresAt ?? null,
    scopes: sealed.scopes ?? [],
  };
}

/** shared/src/app.rs `App::audit`: written before answering; a failure is logged only. */
async function audit(item) {
  try {
    await dynamodb.send(new PutItemCommand({ TableName: settings.table, Item: item }));
  } catch (e) {
    logError('audit entry not written', e);
  }
}

// ---- Settings helpers ----------------------------------------------------------------------------

function backendAllowed(principal) {
  return settings.backendPrincipals.some((allowed) => {
    if (allowed === principal) return true;
    // arn:aws:iam::ACCOUNT:role/path/NAME -> arn:aws:sts::ACCOUNT:assumed-role/NAME/
    const m = /^arn:aws:iam::([^:]*):role\/(.*)$/.exec(allowed);
    const name = m?.[2].split('/').pop();
    return Boolean(name) && principal.startsWith(`arn:aws:sts::${m[1]}:assumed-role/${name}/`);
  });
}

function pathParam(req, name) {
  const v = req.pathParams[name];
  if (typeof v !== 'string') throw validation(`missing path parameter \`${name}\``);
  return v;
}

function positiveInt(raw, fallback) {
  const n = Number(raw);
  return raw && Number.isInteger(n) && n > 0 ? n : fallback;
}

/** The `token` class of RATE_LIMITS (`token=6000` or `token=6000/30`); default 1200 a minute. */
function tokenBudget(spec) {
  for (const entry of spec.split(',').map((e) => e.trim())) {
    const [name, value] = entry.split('=');
    if (name?.trim() !== 'token' || value === undefined) continue;
    const [limit, window = '60'] = value.trim().split('/');
    return { limit: Number(limit), windowSecs: Number(window) };
  }
  return { limit: 1200, windowSecs: 60 };
}

/** keys.rs `rate`: `RATE#{class}#{caller}`, the caller hashed when over 256 bytes. */
function rateKey(cls, caller) {
  if (Buffer.byteLength(caller, 'utf8') <= 256) return `RATE#${cls}#${caller}`;
  return `RATE#${cls}#sha256:${createHash('sha256').update(caller, 'utf8').digest('hex')}`;
}

// ---- Response envelope (shared/src/http.rs) ------------------------------------------------------

function okResponse(requestId, data) {
  const body = JSON.stringify({ success: true, data, correlationId: requestId, timestamp: nowRfc3339() });
  return { statusCode: 200, headers: baseHeaders(), body };
}

function errorResponse(requestId, error) {
  if (error.status >= 500) logError(`request failed (${error.code})`, error.cause ?? error);
  const body = JSON.stringify({
    success: false,
    error: { code: error.code, message: error.message, retryable: error.retryable },
    correlationId: requestId,
    timestamp: nowRfc3339(),
  });
  const headers = baseHeaders();
  if (error.retryAfterSecs !== undefined) headers['retry-after'] = String(Math.ceil(error.retryAfterSecs));
  return { statusCode: error.status, headers, body };
}

function baseHeaders() {
  return { 'content-type': 'application/json', 'cache-control': 'no-store' };
}

// ---- Small helpers ---------------------------------------------------------------------------------

/** shared/src/clock.rs `now_rfc3339`: UTC with exactly six fractional digits. */
function nowRfc3339() {
  const micros = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1000));
  const seconds = new Date(Number(micros / 1000n)).toISOString().slice(0, 19);
  return `${seconds}.${String(micros % 1000000n).padStart(6, '0')}Z`;
}

/** shared/src/domain.rs `epoch_to_rfc3339` (time's Rfc3339: no fraction for whole seconds). */
function epochToRfc3339(secs) {
  const d = new Date(secs * 1000);
  const year = d.getUTCFullYear();
  if (Number.isNaN(year) || year < 0 || year > 9999) return undefined;
  return d.toISOString().replace('.000Z', 'Z');
}

function optionalString(name, value) {
  return value == null ? {} : { [name]: { S: truncate(value, 512) } };
}

/** codec.rs `truncate`: at most `max` UTF-8 bytes, cut on a character boundary. */
function truncate(value, max) {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length <= max) return value;
  let end = max;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end -= 1;
  return bytes.subarray(0, end).toString('utf8');
}

/** shared/src/metrics.rs `Metrics::request`: one EMF line on stdout. */
function emitRequestMetric(route, status, latencyMs, correlationId) {
  const statusClass = status >= 500 ? '5xx' : status >= 400 ? '4xx' : '2xx';
  const ns = settings.metricsNamespace;
  // Keys in serde_json's (BTreeMap) order, as the Rust line has them.
  const line = {
    Latency: Math.round(latencyMs * 1000) / 1000,
    Requests: 1,
    Route: route,
    Service: settings.metricsService,
    StatusClass: statusClass,
    _aws: {
      CloudWatchMetrics: [
        {
          Dimensions: [['Service', 'Route']],
          Metrics: [
            { Name: 'Requests', Unit: 'Count' },
            { Name: 'Latency', Unit: 'Milliseconds' },
          ],
          Namespace: ns,
        },
        { Dimensions: [['Service', 'StatusClass']], Metrics: [{ Name: 'Requests', Unit: 'Count' }], Namespace: ns },
      ],
      Timestamp: Date.now(),
    },
    correlationId,
    status: String(status),
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

function logError(message, error) {
  process.stderr.write(`ERROR ${message}: ${error?.name ?? ''} ${error?.message ?? error}\n`);
}

// ---- The Lambda Runtime API loop (2018-06-01), as the Node managed runtime runs a handler -------

const RUNTIME = '/2018-06-01/runtime';

function runtimeRequest(agent, host, port, method, path, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
    const req = http.request(
      {
        host,
        port,
        method,
        path,
        agent,
        headers: payload
          ? { 'content-type': 'application/json', 'content-length': payload.length, ...headers }
          : headers,
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

function errorPayload(error) {
  return JSON.stringify({
    errorType: error?.name ?? 'Error',
    errorMessage: error?.message ?? String(error),
    stackTrace: String(error?.stack ?? '').split('\n').slice(1).map((l) => l.trim()),
  });
}

async function runtimeLoop() {
  const api = env.AWS_LAMBDA_RUNTIME_API;
  if (!api) {
    process.stderr.write('AWS_LAMBDA_RUNTIME_API is not set\n');
    process.exit(1);
  }
  const split = api.lastIndexOf(':');
  const host = api.slice(0, split);
  const port = Number(api.slice(split + 1));
  // The RIC's JS client (src/RAPIDClient.js): one keep-alive socket to the Runtime API.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const call = (method, path, body, headers) => runtimeRequest(agent, host, port, method, path, body, headers);
  for (;;) {
    const next = await call('GET', `${RUNTIME}/invocation/next`);
    const requestId = next.headers['lambda-runtime-aws-request-id'];
    const traceId = next.headers['lambda-runtime-trace-id'];
    if (traceId) env._X_AMZN_TRACE_ID = traceId;
    else delete env._X_AMZN_TRACE_ID;
    const id = encodeURIComponent(requestId ?? '');
    let result;
    try {
      const context = {
        awsRequestId: requestId,
        invokedFunctionArn: next.headers['lambda-runtime-invoked-function-arn'],
        deadlineMs: Number(next.headers['lambda-runtime-deadline-ms']),
      };
      result = await handler(JSON.parse(next.body), context);
    } catch (error) {
      await call('POST', `${RUNTIME}/invocation/${id}/error`, errorPayload(error), {
        'lambda-runtime-function-error-type': `Runtime.${error?.name ?? 'Error'}`,
      });
      continue;
    }
    await call('POST', `${RUNTIME}/invocation/${id}/response`, JSON.stringify(result ?? null));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runtimeLoop().catch((error) => {
    process.stderr.write(`runtime loop failed: ${error?.stack ?? error}\n`);
    process.exit(1);
  });
}
