// The web kit: connect a user's third-party account from a browser app in a few lines, and
// manage the integrations afterwards. Dependency-free ES module; types in connect.d.ts.
//
//   import { createConnector } from "./connect.js";
//   const connector = createConnector({ apiBaseUrl: "https://api.example.com", getToken: async () => jwt });
//   button.onclick = async () => { const integration = await connector.connect("google"); };
//
// connect() opens the popup synchronously (call it from the click handler, so popup blockers
// let it through), asks the API for the authorization URL, sends the popup there, and waits for
// the API's popup page to post the result back. With `app` completion (the API's default) the
// result is a code, which the kit redeems with the POST callback and the app's JWT: only the
// user who started can finish. Messages are accepted only from the API's origin and from this
// popup.

const DEFAULT_TIMEOUT_MS = 5 * 60 * 1000;

/** An error with the API's `code` (or the kit's: popup_blocked, popup_closed, timeout, access_denied). */
export class ConnectError extends Error {
  constructor(code, message, { status, correlationId, retryable, retryAfter, provider } = {}) {
    super(message);
    this.name = "ConnectError";
    this.code = code;
    this.status = status;
    this.correlationId = correlationId;
    this.retryable = Boolean(retryable);
    // Seconds to wait before retrying, when the API said (`Retry-After`, e.g. RATE_LIMITED).
    this.retryAfter = retryAfter;
    // The provider the failure came from (TOKEN_EXPIRED: which account to connect again).
    this.provider = provider;
  }
}

export function createConnector(options) {
  const apiBaseUrl = String(options.apiBaseUrl).replace(/\/+$/, "");
  const apiOrigin = new URL(apiBaseUrl).origin;
  const getToken = options.getToken;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const popupFeatures = options.popupFeatures ?? "popup,width=520,height=720";
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);

  async function call(method, path, body, extraHeaders = {}) {
    const token = await getToken();
    const headers = { ...extraHeaders, Authorization: `Bearer ${token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetchImpl(apiBaseUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      // CORS refusals and network failures look the same to a page.
      throw new ConnectError("network_error", `the API could not be reached: ${e.message}`, { retryable: true });
    }
    let envelope = null;
    try {
      envelope = await response.json();
    } catch {
      // Not JSON: an API Gateway refusal body is JSON too, so this is a proxy or an outage.
    }
    if (response.ok && envelope && envelope.success) return envelope.data;
    const error = envelope && envelope.error;
    const retryAfter = Number(response.headers.get("retry-after")) || undefined;
    if (error) {
      throw new ConnectError(error.code, error.message, {
        status: response.status,
        correlationId: envelope.correlationId,
        retryable: error.retryable,
        retryAfter,
        provider: error.provider,
      });
    }
    // API Gateway's own answers ({"message": "Unauthorized"}).
    const message = (envelope && envelope.message) || response.statusText || "request failed";
    const code = response.status === 401 ? "UNAUTHORIZED" : response.status === 429 ? "RATE_LIMITED" : "HTTP_" + response.status;
    throw new ConnectError(code, message, { status: response.status, retryable: response.status >= 500 || response.status === 429, retryAfter });
  }

  const id = (value) => encodeURIComponent(value);
  const pageQuery = ({ limit, cursor }) => {
    const query = new URLSearchParams();
    if (limit) query.set("limit", String(limit));
    if (cursor) query.set("cursor", cursor);
    return query.toString() ? `?${query}` : "";
  };

  /** Waits for the popup's one message, from the API's origin and this popup only. */
  function popupResult(popup) {
    return new Promise((resolve, reject) => {
      let settled = false;
      const finish = (fn, value) => {
        if (settled) return;
        settled = true;
        window.removeEventListener("message", onMessage);
        clearInterval(closedPoll);
        clearTimeout(timer);
        fn(value);
      };
      const onMessage = (event) => {
        if (event.origin !== apiOrigin || event.source !== popup) return;
        const data = event.data;
        if (!data || typeof data.type !== "string" || !data.type.startsWith("oauth-")) return;
        finish(resolve, data);
      };
      window.addEventListener("message", onMessage);
      // The popup page closes itself after posting; a closed popup with no message is the user's doing.
      const closedPoll = setInterval(() => {
        if (popup.closed) {
          setTimeout(() => finish(reject, new ConnectError("popup_closed", "the sign-in window was closed")), 300);
        }
      }, 250);
      const timer = setTimeout(() => {
        try { popup.close(); } catch {}
        finish(reject, new ConnectError("timeout", `no answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
    });
  }

  async function connect(provider, { scopes, returnTo, syncTypes } = {}) {
    // Synchronously, inside the user's gesture: a popup opened after an await is blocked.
    const popup = window.open("", "oauth-connect", popupFeatures);
    if (!popup) throw new ConnectError("popup_blocked", "the browser blocked the sign-in window; allow popups for this site");
    try {
      popup.document.title = "Connecting…";
    } catch {}
    let started;
    try {
      const body = {};
      if (scopes && scopes.length) body.scopes = scopes;
      if (syncTypes && syncTypes.length) body.syncTypes = syncTypes;
      if (returnTo) body.returnTo = returnTo;
      started = await call("POST", `/providers/${id(provider)}/connect`, body);
    } catch (e) {
      popup.close();
      throw e;
    }
    const result = popupResult(popup);
    popup.location.href = started.authUrl;
    const message = await result;
    if (message.type === "oauth-code") {
      const body = { code: message.code, state: message.state };
      if (message.iss) body.iss = message.iss;
      const done = await call("POST", `/providers/${id(provider)}/callback`, body);
      return done.integration;
    }
    if (message.type === "oauth-success") {
      return (await call("GET", `/integrations/${id(message.integrationId)}`)).integration ?? null;
    }
    const denied = /access_denied/.test(message.message || "");
    throw new ConnectError(denied ? "access_denied" : message.code || "OAUTH_CALLBACK_ERROR", denied ? "the account owner declined" : message.message || "the connection failed", {
      correlationId: message.correlationId,
      provider: message.provider,
    });
  }

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  return {
    connect,
    list: async () => (await call("GET", "/integrations")).integrations,
    get: async (integrationId) => (await call("GET", `/integrations/${id(integrationId)}`)).integration,
    test: (integrationId) => call("POST", `/integrations/${id(integrationId)}/test`),
    refresh: (integrationId) => call("POST", `/integrations/${id(integrationId)}/refresh`),
    sync: (integrationId, body = {}) => call("POST", `/integrations/${id(integrationId)}/sync`, body),
    /** Polls the sync job until it is no longer queued or running. */
    async waitForSync(integrationId, jobId, { intervalMs = 1000, timeoutMs: limit = 120000 } = {}) {
      const until = Date.now() + limit;
      for (;;) {
        const job = (await call("GET", `/integrations/${id(integrationId)}/sync/${id(jobId)}`)).job;
        if (job.status !== "queued" && job.status !== "running") return job;
        if (Date.now() > until) throw new ConnectError("timeout", `sync job ${jobId} still ${job.status}`);
        await sleep(intervalMs);
      }
    },
    events: (integrationId, page = {}) => call("GET", `/integrations/${id(integrationId)}/events${pageQuery(page)}`),
    contacts: (integrationId, page = {}) => call("GET", `/integrations/${id(integrationId)}/contacts${pageQuery(page)}`),
    updateSettings: async (integrationId, settings) =>
      (await call("PATCH", `/integrations/${id(integrationId)}`, { syncSettings: settings })).integration,
    /** Creates the event in the user's calendar; the same `idempotencyKey` on a retry makes one event. */
    async createEvent(integrationId, event, { idempotencyKey } = {}) {
      const headers = idempotencyKey ? { "Idempotency-Key": idempotencyKey } : {};
      return (await call("POST", `/integrations/${id(integrationId)}/events`, event, headers)).event;
    },
    updateEvent: async (integrationId, externalId, changes) =>
      (await call("PATCH", `/integrations/${id(integrationId)}/events/${id(externalId)}`, changes)).event,
    deleteEvent: (integrationId, externalId) =>
      call("DELETE", `/integrations/${id(integrationId)}/events/${id(externalId)}`),
    setMetadata: async (integrationId, metadata) =>
      (await call("PATCH", `/integrations/${id(integrationId)}`, { metadata })).integration,
    disconnect: (integrationId) => call("DELETE", `/integrations/${id(integrationId)}`),
  };
}
