// Types of connect.js (the web kit). The shapes are docs/openapi.yaml's.

export interface ConnectorOptions {
  /** The API's base URL, e.g. https://abc123.execute-api.eu-west-1.amazonaws.com */
  apiBaseUrl: string;
  /** The signed-in user's JWT (the one the API's JWT authorizer accepts). */
  getToken: () => Promise<string> | string;
  /** How long connect() waits for the sign-in window (default 5 minutes). */
  timeoutMs?: number;
  /** window.open features of the sign-in window. */
  popupFeatures?: string;
  fetch?: typeof fetch;
}

export type IntegrationStatus = "pending" | "connected" | "expired" | "error" | string;

export interface SyncSettings {
  enabled: boolean;
  syncTypes: string[];
  frequency: string;
}

export interface Integration {
  id: string;
  provider: string;
  status: IntegrationStatus;
  externalAccountId: string;
  email?: string;
  displayName?: string;
  /** The account's picture (an http(s) URL), where the provider gives one. */
  avatarUrl?: string;
  scopes: string[];
  /** The app's own object on the integration (at most 4096 bytes as JSON); see setMetadata. */
  metadata: Record<string, unknown>;
  expiresAt?: string;
  lastSyncAt?: string;
  lastError?: { code: string; message: string; at?: string };
  syncSettings: SyncSettings;
  createdAt: string;
  updatedAt: string;
}

/** An event as the API lists it (docs/openapi.yaml `Event`). */
export interface CalendarEvent {
  id: string;
  externalId: string;
  title: string;
  description?: string;
  /** RFC 3339, or YYYY-MM-DD for an all-day event. */
  startTime?: string;
  endTime?: string;
  attendees: string[];
  location?: string;
  updatedAt?: string;
  deleted: boolean;
}

/** A contact as the API lists it (docs/openapi.yaml `Contact`). */
export interface Contact {
  id: string;
  externalId: string;
  displayName?: string;
  givenName?: string;
  familyName?: string;
  emails: string[];
  phones: string[];
  organization?: string;
  jobTitle?: string;
  updatedAt?: string;
  deleted: boolean;
}

/** The writable fields (docs/openapi.yaml `EventInput`). */
export interface EventInput {
  title: string;
  startTime: string;
  endTime: string;
  timeZone?: string;
  description?: string;
  location?: string;
  attendees?: string[];
}

export interface SyncJob {
  jobId: string;
  status: "queued" | "running" | "succeeded" | "failed" | string;
  counts?: { created: number; updated: number; deleted: number; skipped?: number };
  error?: { code: string; message: string };
}

export type ConnectErrorCode =
  | "popup_blocked"
  | "popup_closed"
  | "timeout"
  | "access_denied"
  | "network_error"
  | string;

export class ConnectError extends Error {
  code: ConnectErrorCode;
  status?: number;
  correlationId?: string;
  retryable: boolean;
  /** Seconds to wait before retrying, when the API sent `Retry-After` (e.g. `RATE_LIMITED`). */
  retryAfter?: number;
  /** The provider the failure came from or concerns (e.g. on `TOKEN_EXPIRED`: which account to connect again). */
  provider?: string;
}

export interface Connector {
  /** Call from a click handler: the sign-in window opens synchronously. */
  /** `syncTypes`: what the app will sync; the scopes each needs are asked for too. */
  connect(provider: string, options?: { scopes?: string[]; returnTo?: string; syncTypes?: string[] }): Promise<Integration>;
  list(): Promise<Integration[]>;
  get(id: string): Promise<Integration>;
  test(id: string): Promise<{ ok: boolean; latencyMs: number; error?: string }>;
  refresh(id: string): Promise<unknown>;
  sync(id: string, options?: { full?: boolean; syncTypes?: string[] }): Promise<{ jobId: string; jobs: { syncType: string; jobId: string }[] }>;
  waitForSync(id: string, jobId: string, options?: { intervalMs?: number; timeoutMs?: number }): Promise<SyncJob>;
  events(id: string, page?: { limit?: number; cursor?: string }): Promise<{ events: CalendarEvent[]; nextCursor?: string }>;
  contacts(id: string, page?: { limit?: number; cursor?: string }): Promise<{ contacts: Contact[]; nextCursor?: string }>;
  updateSettings(id: string, settings: SyncSettings): Promise<Integration>;
  /** Creates the event at the provider; pass the same `idempotencyKey` when retrying, so that one event is made. */
  createEvent(id: string, event: EventInput, options?: { idempotencyKey?: string }): Promise<CalendarEvent>;
  /** Changes the fields given (`startTime` and `endTime` together); `externalId` as listed by events(). */
  updateEvent(id: string, externalId: string, changes: Partial<EventInput>): Promise<CalendarEvent>;
  deleteEvent(id: string, externalId: string): Promise<{ deleted: true }>;
  /** Replaces the integration's metadata whole; `{}` removes it. */
  setMetadata(id: string, metadata: Record<string, unknown>): Promise<Integration>;
  disconnect(id: string): Promise<{ disconnected: boolean; revoked: boolean }>;
}

export function createConnector(options: ConnectorOptions): Connector;
