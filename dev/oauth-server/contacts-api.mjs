// A demo contacts API with the wire format and paging / sync-token / deletion semantics of the
// People API's `people.connections.list`, so the service can sync the `demo` provider's contacts
// with the same code it uses for Google. In memory, per user, never for production. See
// README.md ("Contacts API").

import { decodeToken, encodeToken, isSeq } from './tokens.mjs';

const LIST_PATH = '/v1/people/me/connections';
const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000; // People API: pageSize "must be between 1 and 1000, inclusive"
const MAX_SEED = 100_000;

// The People API's answer to an expired sync token: a 400, not a 410
// (github.com/garrytan/gbrain/issues/5127 quotes it as observed).
const EXPIRED_MESSAGE = 'Sync token is expired. Clear local cache and retry call without the sync token.';
const EXPIRED = {
  error: {
    code: 400,
    message: EXPIRED_MESSAGE,
    status: 'FAILED_PRECONDITION',
    details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'EXPIRED_SYNC_TOKEN', domain: 'people.googleapis.com' }],
  },
};
const UNAUTHENTICATED = {
  error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' },
};
const invalid = (message) => ({ error: { code: 400, message, status: 'INVALID_ARGUMENT' } });


// Per-user contacts. Every create, change and deletion takes the next `seq` and stamps the
// person: a sync token records the seq it was taken at, and `generation` voids older ones.
class Book {
  constructor() {
    this.people = new Map(); // number -> person
    this.seq = 0;
    this.generation = 0;
    this.nextNumber = 1;
  }

  touch(person) {
    this.seq += 1;
    person.seq = this.seq;
    person.updatedMs = Math.max(Date.now(), (person.updatedMs ?? 0) + 1);
  }

  seed(count) {
    for (let i = 0; i < count; i += 1) {
      const n = this.nextNumber;
      this.nextNumber += 1;
      const person = {
        number: n,
        given: `Person${n}`,
        family: ['Lovelace', 'Hopper', 'Turing', 'Noether', 'Curie'][n % 5],
        emails: [`person${n}@example.test`],
        phones: n % 2 === 0 ? [`+1 555 01${String(n % 100).padStart(2, '0')}`] : [],
        organization: n % 3 === 0 ? { name: `Company ${n % 7}`, title: 'Engineer' } : undefined,
        deleted: false,
      };
      this.touch(person);
      this.people.set(n, person);
    }
  }

  live() {
    return [...this.people.values()].filter((p) => !p.deleted);
  }

  change(update, remove) {
    const live = this.live();
    const updated = live.slice(0, update);
    const deleted = live.slice(update, update + remove);
    for (const p of updated) {
      p.given = `${p.given}*`;
      this.touch(p);
    }
    for (const p of deleted) {
      p.deleted = true;
      this.touch(p);
    }
    return { updated: updated.map(resourceName), deleted: deleted.map(resourceName) };
  }
}

const resourceName = (p) => `people/c${p.number}`;

function renderPerson(p) {
  const metadata = {
    sources: [{ type: 'CONTACT', id: String(p.number), updateTime: new Date(p.updatedMs).toISOString() }],
    objectType: 'PERSON',
  };
  // A deleted person comes with little more than its name and `deleted` (with a sync token).
  if (p.deleted) return { resourceName: resourceName(p), etag: `%${p.seq}`, metadata: { ...metadata, deleted: true } };
  const person = {
    resourceName: resourceName(p),
    etag: `%${p.seq}`,
    metadata,
    names: [{ displayName: `${p.given} ${p.family}`, givenName: p.given, familyName: p.family }],
    emailAddresses: p.emails.map((value) => ({ value })),
  };
  if (p.phones.length) person.phoneNumbers = p.phones.map((value) => ({ value }));
  if (p.organization) person.organizations = [p.organization];
  return person;
}

export function createContactsApi({ provider, readBody }) {
  const books = new Map();
  const bookOf = (user) => {
    if (!books.has(user)) books.set(user, new Book());
    return books.get(user);
  };
  let requests = 0;

  async function authenticate(ctx) {
    const match = /^Bearer +([^\s]+) *$/i.exec(ctx.get('Authorization'));
    if (!match) return undefined;
    const token = await provider.AccessToken.find(match[1]);
    return token?.isValid && token.accountId ? token.accountId : undefined;
  }

  // connections.list: `{ status, body }`. A first page opens a listing at the book's current
  // seq (`snap`): what changes later is left to the next incremental listing, so pages never
  // repeat or skip a person. Full listings leave deleted people out; incremental ones include
  // them, flagged.
  function list(book, user, query) {
    if (!query.personFields) return { status: 400, body: invalid('personFields mask is required. Please specify one or more valid paths.') };
    let pageSize = DEFAULT_PAGE;
    if (query.pageSize !== undefined) {
      if (!/^\d{1,9}$/.test(query.pageSize) || Number(query.pageSize) < 1) return { status: 400, body: invalid('Invalid pageSize.') };
      pageSize = Math.min(Number(query.pageSize), MAX_PAGE);
    }
    let since;
    if (query.syncToken !== undefined) {
      const sync = decodeToken(query.syncToken, 's');
      if (!sync || sync.u !== user || sync.g !== book.generation || !isSeq(sync.s) || sync.s > book.seq) {
        return { status: 400, body: EXPIRED };
      }
      since = sync.s;
    }
    let listing = { snap: book.seq, since, after: 0 };
    if (query.pageToken !== undefined) {
      const page = decodeToken(query.pageToken, 'p');
      if (!page || page.u !== user || !isSeq(page.snap) || page.snap > book.seq || page.since !== since) {
        return { status: 400, body: invalid('Page token is invalid or does not match the request.') };
      }
      listing = page;
    }
    const inListing = since === undefined
      ? (p) => p.seq <= listing.snap && !p.deleted
      : (p) => p.seq > listing.since && p.seq <= listing.snap;
    const candidates = [...book.people.values()]
      .filter((p) => p.number > listing.after && inListing(p))
      .sort((a, b) => a.number - b.number);
    const items = candidates.slice(0, pageSize);
    const body = { connections: items.map(renderPerson), totalPeople: book.live().length, totalItems: candidates.length };
    if (candidates.length > pageSize) {
      body.nextPageToken = encodeToken({ v: 1, t: 'p', u: user, snap: listing.snap, since, after: items[items.length - 1].number });
    } else if (query.requestSyncToken === 'true' || since !== undefined) {
      body.nextSyncToken = encodeToken({ v: 1, t: 's', u: user, s: listing.snap, g: book.generation });
    }
    return { status: 200, body };
  }

  async function readJson(ctx) {
    try {
      const value = JSON.parse((await readBody(ctx.req)) || '{}');
      return value && typeof value === 'object' && !Array.isArray(value) ? value : undefined;
    } catch {
      return undefined;
    }
  }

  const count = (v) => v === undefined || (Number.isInteger(v) && v >= 0 && v <= MAX_SEED);
  const CONTROL = /^\/__contacts\/([^/]+)(?:\/(seed|change|invalidate-sync-tokens))?$/;

  async function control(ctx, user, action) {
    const book = bookOf(user);
    if (!action && ctx.method === 'GET') {
      ctx.body = { people: [...book.people.values()].map(renderPerson) };
      return;
    }
    if (ctx.method !== 'POST' || !action) {
      ctx.status = 405;
      ctx.body = { error: 'method_not_allowed' };
      return;
    }
    const input = await readJson(ctx);
    const bad = (description) => {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: description };
    };
    if (!input) return bad('body must be a JSON object');
    if (action === 'seed') {
      if (!Number.isInteger(input.count) || !count(input.count)) return bad(`\`count\` must be an integer 0..${MAX_SEED}`);
      book.seed(input.count);
      ctx.body = { created: input.count, live: book.live().length };
    } else if (action === 'change') {
      if (!count(input.update) || !count(input.delete)) return bad('`update` and `delete` must be non-negative integers');
      ctx.body = book.change(input.update ?? 0, input.delete ?? 0);
    } else {
      book.generation += 1;
      ctx.body = { invalidated: true };
    }
  }

  return {
    // Answers the request and returns true if it is one of ours; false lets it through.
    async handle(ctx) {
      if (ctx.path === LIST_PATH && ctx.method === 'GET') {
        requests += 1;
        const user = await authenticate(ctx);
        if (!user) {
          ctx.status = 401;
          ctx.set('WWW-Authenticate', 'Bearer realm="demo-contacts", error="invalid_token"');
          ctx.body = UNAUTHENTICATED;
          return true;
        }
        const { status, body } = list(bookOf(user), user, ctx.query);
        ctx.status = status;
        ctx.body = body;
        return true;
      }
      const match = CONTROL.exec(ctx.path);
      if (!match) return false;
      let user;
      try {
        user = decodeURIComponent(match[1]);
      } catch {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'bad user in path' };
        return true;
      }
      await control(ctx, user, match[2]);
      return true;
    },

    stats() {
      return { contactsRequests: requests };
    },

    reset() {
      requests = 0;
    },
  };
}
