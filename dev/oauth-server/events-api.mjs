// A demo calendar events API with the wire format and paging / sync-token / deletion / 410
// semantics of Google Calendar's `events.list`, so the service can sync the `demo` provider with
// the same code it uses for Google. In memory, per user, never for production. See README.md
// ("Calendar events API").
import http from 'node:http';
import { parseFaults } from './faults.mjs';
import { decodeToken, encodeToken, isSeq } from './tokens.mjs';

const LIST_PATH = '/calendar/v3/calendars/primary/events';
const EVENT_PATH = /^\/calendar\/v3\/calendars\/primary\/events\/([^/]+)$/;
// Writes need this scope, as Google's need calendar.events (or calendar).
const WRITE_SCOPE = 'calendar.events';
const INSUFFICIENT_SCOPE = {
  error: {
    code: 403,
    message: 'Request had insufficient authentication scopes.',
    errors: [{ message: 'Insufficient Permission', domain: 'global', reason: 'insufficientPermissions' }],
    status: 'PERMISSION_DENIED',
  },
};
// Client-chosen event ids: base32hex characters, 5 to 1024 of them
// (https://developers.google.com/calendar/api/v3/reference/events, `id`).
const CLIENT_ID = /^[a-v0-9]{5,1024}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DEFAULT_PAGE = 250;
const MAX_PAGE = 2500; // Google: "The page size can never be larger than 2500 events."
const MAX_SEED = 100_000;
const LOG_LIMIT = 1000;

// Google's JSON errors. The 401 and 410 bodies are the ones the service is written against.
const UNAUTHENTICATED = {
  error: {
    code: 401,
    message: 'Request had invalid authentication credentials.',
    status: 'UNAUTHENTICATED',
  },
};
const FULL_SYNC_MESSAGE = 'Sync token is no longer valid, a full sync is required.';
const FULL_SYNC_REQUIRED = {
  error: {
    code: 410,
    message: FULL_SYNC_MESSAGE,
    errors: [{ domain: 'calendar', reason: 'fullSyncRequired', message: FULL_SYNC_MESSAGE }],
  },
};

function googleError(code, reason, message, { domain = 'global', location } = {}) {
  const detail = { domain, reason, message };
  if (location) {
    Object.assign(detail, { locationType: 'parameter', location });
  }
  return { error: { code, message, errors: [detail] } };
}

const invalidParam = (location, message) => googleError(400, 'invalid', message, { location });

// Query parameters Google accepts but this demo does not implement. Google refuses most of them
// together with `syncToken`; here they are refused always, so a caller relying on a filter finds
// out instead of silently getting everything.
const UNSUPPORTED_PARAMS = ['q', 'timeMin', 'timeMax', 'updatedMin', 'iCalUID', 'orderBy',
  'privateExtendedProperty', 'sharedExtendedProperty'];

const rfc3339 = (ms) => new Date(ms).toISOString(); // always milliseconds and Z

// Orders by `updated`, then id (ids are zero-padded, so string order is creation order).
const compareKey = (aMs, aId, bMs, bId) => (aMs - bMs) || (aId < bId ? -1 : aId > bId ? 1 : 0);

const HOUR = 3600_000;
const DAY = 24 * HOUR;

// Per-user state. `seq` is the change sequence: every create/update/delete takes the next value
// and stamps the event, which is all a sync token needs (it records the seq it was taken at).
// `generation` is bumped by invalidate-sync-tokens; a token of an older generation gets 410.
class Calendar {
  constructor(user) {
    this.user = user;
    this.events = new Map(); // id -> event, in creation order
    this.seq = 0;
    this.generation = 0;
    this.epoch = 0; // bumped when the calendar is emptied: listings opened before are void
    this.nextNumber = 1;
    this.updatedMs = Date.now();
  }

  // A change's `updated` is now, but strictly after the event's previous one: an update inside
  // the same millisecond still moves the timestamp, as the service may compare them.
  touch(event) {
    this.seq += 1;
    event.seq = this.seq;
    event.updatedMs = Math.max(Date.now(), (event.updatedMs ?? 0) + 1);
    this.updatedMs = Math.max(this.updatedMs, event.updatedMs);
  }

  // `longIds`: the last ones get ids of 1,100 characters (beyond a DynamoDB key), for tests
  // of a record the connector cannot store.
  seed(count, longIds = 0) {
    // Start times: from tomorrow 00:00 UTC over the next six weeks, during the (UTC) day.
    const base = Math.floor(Date.now() / DAY) * DAY + DAY;
    for (let i = 0; i < count; i += 1) {
      const n = this.nextNumber;
      this.nextNumber += 1;
      const start = base + (n % 42) * DAY + (8 + (n % 10)) * HOUR + (n % 2) * 30 * 60_000;
      const event = {
        id: `ev${String(n).padStart(6, '0')}${i >= count - longIds ? 'x'.repeat(1100) : ''}`,
        number: n,
        status: 'confirmed',
        summary: `Event ${n}`,
        description: n % 3 === 0 ? `Agenda for event ${n}.` : undefined,
        location: n % 4 === 0 ? `Room ${(n % 7) + 1}` : undefined,
        startMs: start,
        endMs: start + [30, 60, 90][n % 3] * 60_000,
        // 1-3 distinct guests (offsets 0, 7, 14 never collide modulo 50).
        attendees: Array.from({ length: 1 + (n % 3) }, (_, k) => `guest${((n + 7 * k) % 50) + 1}@example.test`),
        sequence: 0,
      };
      this.touch(event);
      event.createdMs = event.updatedMs;
      this.events.set(event.id, event);
    }
  }

  live() {
    return [...this.events.values()].filter((e) => e.status !== 'cancelled');
  }

  change(update, remove) {
    const live = this.live();
    const updated = live.slice(0, update);
    const deleted = live.slice(update, update + remove);
    for (const e of updated) {
      e.summary = `${e.summary} (updated)`;
      e.sequence += 1;
      this.touch(e);
    }
    for (const e of deleted) {
      e.status = 'cancelled';
      this.touch(e);
    }
    return { updated: updated.map((e) => e.id), deleted: deleted.map((e) => e.id) };
  }

  clear() {
    this.events.clear();
    // Sequence numbers keep growing, and old sync tokens and page tokens die: a client must not
    // mistake the emptied calendar for "nothing changed".
    this.generation += 1;
    this.epoch += 1;
    this.updatedMs = Date.now();
  }
}

const zone = (e) => (e.timeZone ? { timeZone: e.timeZone } : {});

function renderEvent(e, user, { full = false } = {}) {
  const etag = `"${e.updatedMs}${String(e.seq).padStart(6, '0')}"`;
  // Google lists a deleted event with little more than its id and status.
  if (e.status === 'cancelled' && !full) {
    return { kind: 'calendar#event', etag, id: e.id, status: 'cancelled', updated: rfc3339(e.updatedMs) };
  }
  const self = { email: `${user}@example.test`, self: true };
  const item = {
    kind: 'calendar#event',
    etag,
    id: e.id,
    status: e.status,
    created: rfc3339(e.createdMs),
    updated: rfc3339(e.updatedMs),
    summary: e.summary,
  };
  if (e.description !== undefined) item.description = e.description;
  if (e.location !== undefined) item.location = e.location;
  Object.assign(item, {
    creator: self,
    organizer: self,
    start: e.startDate ? { date: e.startDate } : { dateTime: rfc3339(e.startMs), ...zone(e) },
    end: e.endDate ? { date: e.endDate } : { dateTime: rfc3339(e.endMs), ...zone(e) },
    iCalUID: `${e.id}@example.test`,
    sequence: e.sequence,
    attendees: e.attendees.map((email) => ({ email, responseStatus: 'accepted' })),
    reminders: { useDefault: true },
    eventType: 'default',
  });
  return item;
}

// ----- fault injection (POST /__faults/events) -----

const REASON_DEFAULTS = {
  rateLimitExceeded: ['usageLimits', 'Rate Limit Exceeded'],
  userRateLimitExceeded: ['usageLimits', 'User Rate Limit Exceeded'],
  quotaExceeded: ['usageLimits', 'Calendar usage limits exceeded.'],
  backendError: ['global', 'Backend Error'],
  badRequest: ['global', 'Bad Request'],
  notFound: ['global', 'Not Found'],
  fullSyncRequired: ['calendar', FULL_SYNC_MESSAGE],
};

function defaultReason(status) {
  if (status === 403 || status === 429) return 'rateLimitExceeded';
  if (status === 404) return 'notFound';
  if (status === 410) return 'fullSyncRequired';
  return status >= 500 ? 'backendError' : 'badRequest';
}


function answerWithFault(ctx, fault) {
  const { status } = fault;
  ctx.status = status;
  if (fault.retryAfter !== undefined) {
    ctx.set('Retry-After', String(fault.retryAfter));
  }
  if (!fault.reason && !fault.message && (status === 502 || status === 504)) {
    // Google's front end answers these itself, with an HTML page: a client must not insist on JSON.
    ctx.type = 'text/html; charset=UTF-8';
    ctx.body = `<!DOCTYPE html>\n<html lang=en><title>Error ${status} (Server Error)!!1</title>`
      + `<p><b>${status}.</b> <ins>That’s an error.</ins></p></html>\n`;
    return;
  }
  if (!fault.reason && !fault.message && status === 401) {
    ctx.body = UNAUTHENTICATED;
    return;
  }
  const reason = fault.reason ?? defaultReason(status);
  const [domain, defaultMessage] = REASON_DEFAULTS[reason]
    ?? ['global', http.STATUS_CODES[status] || 'Error'];
  ctx.body = googleError(status, reason, fault.message ?? defaultMessage, { domain });
}

// ----- the API -----

export function createEventsApi({ provider, readBody }) {
  const calendars = new Map(); // user -> Calendar
  const calendarOf = (user) => {
    let cal = calendars.get(user);
    if (!cal) {
      cal = new Calendar(user);
      calendars.set(user, cal);
    }
    return cal;
  };

  let requests = 0;
  let faultedRequests = 0;
  let requestLog = [];
  let faults = { responses: [], repeat: false };

  function nextFault() {
    const { responses, repeat } = faults;
    if (responses.length === 0) return undefined;
    if (repeat && responses.length === 1) return responses[0];
    return responses.shift();
  }

  function record(entry) {
    requests += 1;
    if (entry.faulted) faultedRequests += 1;
    requestLog.push(entry);
    if (requestLog.length > LOG_LIMIT) {
      requestLog.splice(0, requestLog.length - LOG_LIMIT);
    }
  }

  // Only access tokens this server issued and that are still valid (unknown, expired, revoked
  // and rotated-away ones are gone from the store, so `find` answers undefined).
  async function accessToken(ctx) {
    const match = /^Bearer +([^\s]+) *$/i.exec(ctx.get('Authorization'));
    if (!match) return undefined;
    const token = await provider.AccessToken.find(match[1]);
    return token?.isValid && token.accountId ? token : undefined;
  }

  async function authenticate(ctx) {
    return (await accessToken(ctx))?.accountId;
  }

  // events.list for an authenticated `user`: `{ status, body }`.
  function list(user, query) {
    const params = parseQuery(query);
    if (params.error) return params.error;
    const cal = calendarOf(user);
    const opened = openListing(cal, user, params);
    if (opened.error) return opened.error;
    return { status: 200, body: listPage(cal, user, opened.listing, params.maxResults) };
  }

  // Syntax only; a failure is `{ error: { status, body } }`.
  function parseQuery(query) {
    const fail = (name, message) => ({ error: { status: 400, body: invalidParam(name, message) } });
    const param = (name) => {
      const v = query[name];
      return Array.isArray(v) ? null : v; // null: repeated
    };
    for (const name of ['maxResults', 'pageToken', 'syncToken', 'showDeleted']) {
      if (param(name) === null) return fail(name, `Repeated parameter: ${name}`);
    }
    const syncToken = param('syncToken');
    for (const name of UNSUPPORTED_PARAMS) {
      // orderBy=updated is the order used anyway; Google refuses it only with a syncToken.
      const harmless = name === 'orderBy' && query.orderBy === 'updated' && syncToken === undefined;
      if (query[name] !== undefined && !harmless) {
        return fail(name, syncToken !== undefined
          ? `${name} cannot be used together with syncToken.`
          : `${name} is not supported by the demo events API.`);
      }
    }
    let maxResults = DEFAULT_PAGE;
    const rawMax = param('maxResults');
    if (rawMax !== undefined) {
      if (!/^\d{1,9}$/.test(rawMax) || Number(rawMax) < 1) {
        return fail('maxResults', `Invalid value '${rawMax}'. Values must be within the range: [1, ${MAX_PAGE}]`);
      }
      maxResults = Math.min(Number(rawMax), MAX_PAGE);
    }
    const showDeleted = param('showDeleted');
    if (showDeleted !== undefined && showDeleted !== 'true' && showDeleted !== 'false') {
      return fail('showDeleted', `Invalid boolean value: '${showDeleted}'.`);
    }
    // Google: with a syncToken, deleted events are always included and showDeleted=false is refused.
    if (syncToken !== undefined && showDeleted === 'false') {
      return fail('showDeleted', 'showDeleted cannot be false together with syncToken.');
    }
    return { maxResults, showDeleted: showDeleted === 'true', syncToken, pageToken: param('pageToken') };
  }

  // The listing a request reads: its mode ('full' or 'sync'), the calendar's epoch (`e`), the
  // seq it was taken at (`snap`),
  // in sync mode the seq it continues from (`since`) and the generation of its sync token, in
  // full mode showDeleted (`sd`), and `a`, the (updated, id) key after which this page starts.
  // A first page opens a listing; a page token carries it on. `{ error: { status, body } }` if
  // the tokens are not acceptable.
  function openListing(cal, user, { syncToken, pageToken, showDeleted }) {
    const gone = { error: { status: 410, body: FULL_SYNC_REQUIRED } };
    const fail = (name, message) => ({ error: { status: 400, body: invalidParam(name, message) } });
    let sync;
    if (syncToken !== undefined) {
      sync = decodeToken(syncToken, 's');
      // Malformed, another user's, invalidated or from the future: a full sync is required.
      if (!sync || sync.u !== user || sync.g !== cal.generation || !isSeq(sync.s) || sync.s > cal.seq) {
        return gone;
      }
    }
    if (pageToken === undefined) {
      return {
        listing: sync
          ? { m: 'sync', e: cal.epoch, snap: cal.seq, since: sync.s, g: cal.generation, a: null }
          : { m: 'full', e: cal.epoch, snap: cal.seq, sd: showDeleted, a: null },
      };
    }
    const page = decodeToken(pageToken, 'p');
    if (!page || page.u !== user || !isSeq(page.snap) || page.snap > cal.seq
        || !Array.isArray(page.a) || typeof page.a[0] !== 'number' || typeof page.a[1] !== 'string'
        || (page.m !== 'full' && page.m !== 'sync') || (page.m === 'sync' && !isSeq(page.since))) {
      return fail('pageToken', 'Invalid page token.');
    }
    // The calendar was emptied (DELETE /__events/<user>) while the client paged through it.
    if (page.e !== cal.epoch) return gone;
    if (page.m === 'full' && sync) {
      return fail('syncToken', 'syncToken cannot be combined with a pageToken of a full listing.');
    }
    if (page.m === 'sync') {
      // Tokens were invalidated while paging through an incremental listing.
      if (page.g !== cal.generation) return gone;
      if (sync && sync.s !== page.since) {
        return fail('syncToken', 'syncToken does not match the listing of pageToken.');
      }
    }
    return { listing: page };
  }

  function listPage(cal, user, listing, maxResults) {
    // Only what existed at the snapshot: an event changed since then (seq > snap) is left out
    // of this listing and comes back in the next incremental one. Its key (updated, id) cannot
    // change while it is in, so pages never repeat or skip an item.
    const inListing = listing.m === 'sync'
      ? (e) => e.seq > listing.since && e.seq <= listing.snap
      : (e) => e.seq <= listing.snap && (listing.sd || e.status !== 'cancelled');
    const after = listing.a;
    const candidates = [...cal.events.values()]
      .filter((e) => inListing(e) && (!after || compareKey(e.updatedMs, e.id, after[0], after[1]) > 0))
      .sort((x, y) => compareKey(x.updatedMs, x.id, y.updatedMs, y.id));
    const items = candidates.slice(0, maxResults);

    const body = {
      kind: 'calendar#events',
      etag: `"${cal.updatedMs}${String(cal.seq).padStart(6, '0')}"`,
      summary: user,
      updated: rfc3339(cal.updatedMs),
      timeZone: 'UTC',
      accessRole: 'owner',
      defaultReminders: [],
    };
    if (candidates.length > maxResults) {
      const last = items[items.length - 1];
      const { m, e, snap, since, g, sd } = listing;
      body.nextPageToken = encodeToken({ v: 1, t: 'p', u: user, m, e, snap, since, g, sd, a: [last.updatedMs, last.id] });
    } else {
      // Changes up to the snapshot are in this listing; the next sync continues from there.
      body.nextSyncToken = encodeToken({ v: 1, t: 's', u: user, s: listing.snap, g: cal.generation });
    }
    body.items = items.map((e) => renderEvent(e, user));
    return body;
  }

  async function handleList(ctx) {
    const at = Date.now();
    const entry = {
      at,
      user: null,
      status: 0,
      faulted: false,
      pageToken: ctx.query.pageToken !== undefined,
      syncToken: ctx.query.syncToken !== undefined,
    };
    try {
      const fault = nextFault();
      if (fault) {
        answerWithFault(ctx, fault);
        entry.faulted = true;
        return;
      }
      const user = await authenticate(ctx);
      if (!user) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="demo-calendar", error="invalid_token"');
        ctx.body = UNAUTHENTICATED;
        return;
      }
      entry.user = user;
      const { status, body } = list(user, ctx.query);
      ctx.status = status;
      ctx.body = body;
    } finally {
      entry.status = ctx.status;
      record(entry);
    }
  }

  // ----- events.insert / get / patch / delete -----

  // Google's event resource, as far as the service writes it: `{ fields }` to apply, or
  // `{ error }`. `partial` (patch): only what is there changes.
  function eventInput(input, { partial }) {
    const fail = (message) => ({ error: { status: 400, body: googleError(400, 'invalid', message) } });
    const fields = {};
    for (const name of ['summary', 'description', 'location']) {
      if (input[name] === undefined) continue;
      if (typeof input[name] !== 'string') return fail(`Invalid value for: ${name}`);
      fields[name] = input[name];
    }
    if (input.attendees !== undefined) {
      if (!Array.isArray(input.attendees) || !input.attendees.every((a) => a && typeof a.email === 'string' && a.email.includes('@'))) {
        return fail('Invalid attendee email.');
      }
      fields.attendees = input.attendees.map((a) => a.email);
    }
    for (const side of ['start', 'end']) {
      const t = input[side];
      if (t === undefined) {
        if (!partial) return { error: { status: 400, body: googleError(400, 'required', `Missing ${side} time.`) } };
        continue;
      }
      if (!t || typeof t !== 'object') return fail(`Invalid ${side} time.`);
      if (typeof t.date === 'string' && t.dateTime === undefined && DATE.test(t.date)) {
        fields[side] = { date: t.date };
      } else if (typeof t.dateTime === 'string' && t.date === undefined && !Number.isNaN(Date.parse(t.dateTime))
          && /(Z|[+-]\d{2}:\d{2})$/.test(t.dateTime)) {
        fields[side] = { ms: Date.parse(t.dateTime), timeZone: typeof t.timeZone === 'string' ? t.timeZone : undefined };
      } else {
        return fail(`Invalid ${side} time.`);
      }
    }
    return { fields };
  }

  // Applies checked fields to a copy of a stored event; `{ error }` if its times end up empty
  // or mixed (a date on one side, a date-time on the other).
  function apply(event, fields) {
    const next = { ...event };
    for (const name of ['summary', 'description', 'location', 'attendees']) {
      if (fields[name] !== undefined) next[name] = fields[name];
    }
    for (const side of ['start', 'end']) {
      const t = fields[side];
      if (!t) continue;
      if (t.date) {
        next[`${side}Date`] = t.date;
        next[`${side}Ms`] = Date.parse(`${t.date}T00:00:00Z`);
      } else {
        next[`${side}Date`] = undefined;
        next[`${side}Ms`] = t.ms;
        if (t.timeZone) next.timeZone = t.timeZone;
      }
    }
    if (Boolean(next.startDate) !== Boolean(next.endDate)) {
      return { error: { status: 400, body: googleError(400, 'invalid', 'Start and end times must either both be date or both be dateTime.') } };
    }
    if (!(next.endMs > next.startMs)) {
      return { error: { status: 400, body: googleError(400, 'timeRangeEmpty', 'The specified time range is empty.', { domain: 'calendar' }) } };
    }
    return { event: next };
  }

  function insert(cal, user, input) {
    if (input.id !== undefined && (typeof input.id !== 'string' || !CLIENT_ID.test(input.id))) {
      return { status: 400, body: googleError(400, 'invalid', 'Invalid resource id value.') };
    }
    if (input.id !== undefined && cal.events.has(input.id)) {
      return { status: 409, body: googleError(409, 'duplicate', 'The requested identifier already exists.') };
    }
    const checked = eventInput(input, { partial: false });
    if (checked.error) return checked.error;
    const n = cal.nextNumber;
    cal.nextNumber += 1;
    const base = { id: input.id ?? `ev${String(n).padStart(6, '0')}`, number: n, status: 'confirmed', summary: '', attendees: [], sequence: 0 };
    const applied = apply(base, checked.fields);
    if (applied.error) return applied.error;
    const event = applied.event;
    cal.touch(event);
    event.createdMs = event.updatedMs;
    cal.events.set(event.id, event);
    return { status: 200, body: renderEvent(event, user, { full: true }) };
  }

  function patch(cal, user, id, input) {
    const event = cal.events.get(id);
    if (!event) return { status: 404, body: googleError(404, 'notFound', 'Not Found') };
    const checked = eventInput(input, { partial: true });
    if (checked.error) return checked.error;
    const applied = apply(event, checked.fields);
    if (applied.error) return applied.error;
    const next = applied.event;
    next.sequence += 1;
    cal.touch(next);
    cal.events.set(id, next);
    return { status: 200, body: renderEvent(next, user, { full: true }) };
  }

  function remove(cal, id) {
    const event = cal.events.get(id);
    if (!event) return { status: 404, body: googleError(404, 'notFound', 'Not Found') };
    if (event.status === 'cancelled') return { status: 410, body: googleError(410, 'deleted', 'Resource has been deleted') };
    event.status = 'cancelled';
    cal.touch(event);
    return { status: 204 };
  }

  // events.get, insert, patch and delete; writes need WRITE_SCOPE. Queued faults apply here
  // as to listings.
  async function handleOne(ctx, id) {
    const entry = { at: Date.now(), user: null, status: 0, faulted: false, method: ctx.method, id: id ?? null };
    try {
      const fault = nextFault();
      if (fault) {
        answerWithFault(ctx, fault);
        entry.faulted = true;
        return;
      }
      const token = await accessToken(ctx);
      if (!token) {
        ctx.status = 401;
        ctx.set('WWW-Authenticate', 'Bearer realm="demo-calendar", error="invalid_token"');
        ctx.body = UNAUTHENTICATED;
        return;
      }
      const user = token.accountId;
      entry.user = user;
      const cal = calendarOf(user);
      if (ctx.method === 'GET') {
        const event = cal.events.get(id);
        ctx.status = event ? 200 : 404;
        ctx.body = event ? renderEvent(event, user, { full: true }) : googleError(404, 'notFound', 'Not Found');
        return;
      }
      if (!String(token.scope || '').split(' ').includes(WRITE_SCOPE)) {
        ctx.status = 403;
        ctx.set('WWW-Authenticate', `Bearer realm="demo-calendar", error="insufficient_scope", scope="${WRITE_SCOPE}"`);
        ctx.body = INSUFFICIENT_SCOPE;
        return;
      }
      let answer;
      if (ctx.method === 'DELETE') {
        answer = remove(cal, id);
      } else {
        const input = await readJson(ctx);
        if (!input) {
          answer = { status: 400, body: googleError(400, 'parseError', 'Parse Error') };
        } else {
          answer = ctx.method === 'POST' ? insert(cal, user, input) : patch(cal, user, id, input);
        }
      }
      ctx.status = answer.status;
      if (answer.body !== undefined) ctx.body = answer.body;
    } finally {
      entry.status = ctx.status;
      record(entry);
    }
  }

  // ----- test-control routes -----

  async function readJson(ctx) {
    const text = await readBody(ctx.req);
    try {
      const value = JSON.parse(text || '{}');
      return value && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  const badRequest = (ctx, description) => {
    ctx.status = 400;
    ctx.body = { error: 'invalid_request', error_description: description };
  };
  const count = (v, max) => v === undefined || (Number.isInteger(v) && v >= 0 && v <= max);

  async function handleControl(ctx, user, action) {
    const cal = calendarOf(user);
    if (!action && ctx.method === 'GET') {
      ctx.body = { events: [...cal.events.values()].map((e) => renderEvent(e, user, { full: true })) };
      return;
    }
    if (!action && ctx.method === 'DELETE') {
      cal.clear();
      ctx.body = { events: [] };
      return;
    }
    if (ctx.method !== 'POST' || !action) {
      ctx.status = 405;
      ctx.body = { error: 'method_not_allowed' };
      return;
    }
    const input = await readJson(ctx);
    if (!input) {
      badRequest(ctx, 'body must be a JSON object');
      return;
    }
    if (action === 'seed') {
      if (!Number.isInteger(input.count) || !count(input.count, MAX_SEED)) {
        badRequest(ctx, `\`count\` must be an integer 0..${MAX_SEED}`);
        return;
      }
      if (input.longIds !== undefined && !count(input.longIds, input.count)) {
        badRequest(ctx, '`longIds` must be an integer 0..count');
        return;
      }
      cal.seed(input.count, input.longIds ?? 0);
      ctx.body = { created: input.count, total: cal.events.size, live: cal.live().length };
    } else if (action === 'change') {
      if (!count(input.update, MAX_SEED) || !count(input.delete, MAX_SEED)) {
        badRequest(ctx, '`update` and `delete` must be non-negative integers');
        return;
      }
      ctx.body = cal.change(input.update ?? 0, input.delete ?? 0);
    } else {
      cal.generation += 1;
      ctx.body = { invalidated: true };
    }
  }

  async function handleFaults(ctx) {
    if (ctx.method === 'GET') {
      ctx.body = faults;
    } else if (ctx.method === 'DELETE') {
      faults = { responses: [], repeat: false };
      ctx.body = faults;
    } else if (ctx.method === 'POST') {
      const parsed = parseFaults(await readBody(ctx.req), {
        minStatus: 400,
        stringFields: ['reason', 'message'],
      });
      if (parsed.error) {
        badRequest(ctx, parsed.error);
        return;
      }
      faults = parsed.faults;
      ctx.body = faults;
    } else {
      ctx.status = 405;
      ctx.body = { error: 'method_not_allowed' };
    }
  }

  // readBody throws (status 413) past its size limit.
  async function bodyTooLargeAs413(ctx, handler) {
    try {
      await handler();
    } catch (err) {
      if (err.status !== 413) throw err;
      ctx.status = 413;
      ctx.body = { error: 'invalid_request', error_description: err.message };
    }
  }

  const CONTROL = /^\/__events\/([^/]+)(?:\/(seed|change|invalidate-sync-tokens))?$/;

  return {
    // Answers the request and returns true if it is one of ours; false lets it through.
    async handle(ctx) {
      if (ctx.path === LIST_PATH && ctx.method === 'GET') {
        await handleList(ctx);
        return true;
      }
      if (ctx.path === LIST_PATH && ctx.method === 'POST') {
        await bodyTooLargeAs413(ctx, () => handleOne(ctx));
        return true;
      }
      const one = EVENT_PATH.exec(ctx.path);
      if (one && ['GET', 'PATCH', 'DELETE'].includes(ctx.method)) {
        let id;
        try {
          id = decodeURIComponent(one[1]);
        } catch {
          ctx.status = 404;
          ctx.body = googleError(404, 'notFound', 'Not Found');
          return true;
        }
        await bodyTooLargeAs413(ctx, () => handleOne(ctx, id));
        return true;
      }
      if (ctx.path.startsWith('/calendar/v3/')) {
        // Only events.list, insert, get, patch and delete on the primary calendar exist here.
        ctx.status = 404;
        ctx.body = googleError(404, 'notFound', 'Not Found');
        return true;
      }
      if (ctx.path === '/__faults/events') {
        await bodyTooLargeAs413(ctx, () => handleFaults(ctx));
        return true;
      }
      const control = CONTROL.exec(ctx.path);
      if (!control) {
        return false;
      }
      let user;
      try {
        user = decodeURIComponent(control[1]);
      } catch {
        badRequest(ctx, 'bad user in path');
        return true;
      }
      await bodyTooLargeAs413(ctx, () => handleControl(ctx, user, control[2]));
      return true;
    },

    stats() {
      return {
        eventsRequests: requests,
        faultedEventsRequests: faultedRequests,
        // Entries are appended when a request finishes; listed in order of arrival.
        eventsRequestLog: [...requestLog].sort((a, b) => a.at - b.at),
      };
    },

    // Counters, log and queued faults; the stored events stay.
    reset() {
      requests = 0;
      faultedRequests = 0;
      requestLog = [];
      faults = { responses: [], repeat: false };
    },
  };
}
