//! Ports to the table: one narrow trait per concern, so a handler asks only for what it uses.
//! [`DynamoTable`] implements them all against DynamoDB (and moto in tests).

mod dynamo;

pub use dynamo::{DynamoTable, decode_cursor, encode_cursor, keys};

use std::collections::HashMap;

use async_trait::async_trait;

use crate::crypto::Envelope;
use crate::domain::{
    AuditEntry, ContactRecord, EventRecord, Integration, IntegrationError, Metadata,
    PendingAuthorization, RecordChange, SyncCounts, SyncJob, SyncSettings, SyncType, SyncedRecord,
};
use crate::ids::{IntegrationId, JobId, ProviderId, UserId};
use crate::state::StateId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB request failed: {0}")]
    Service(String),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("the item changed since it was read")]
    Conflict,
}

/// Who may consume a state: the callback of its provider, and for the POST variant its user.
pub struct StateClaim<'a> {
    pub provider: &'a ProviderId,
    pub user: Option<&'a UserId>,
}

#[async_trait]
pub trait AuthorizationStates: Send + Sync {
    async fn put_pending(&self, pending: &PendingAuthorization) -> Result<(), StoreError>;
    /// Reads a pending authorization without consuming it.
    async fn peek_pending(&self, id: &StateId) -> Result<Option<PendingAuthorization>, StoreError>;
    /// Deletes and returns the pending authorization if it exists and matches the claim; a
    /// second call for the same id finds nothing (single use). A non-matching claim leaves it.
    async fn take_pending(
        &self,
        id: &StateId,
        claim: StateClaim<'_>,
    ) -> Result<Option<PendingAuthorization>, StoreError>;
}

#[async_trait]
pub trait IntegrationRecords: Send + Sync {
    /// Creates or updates the integration as connected with these sealed tokens; with a
    /// `refresh_at` (tokens the provider can renew) it enters the refresh index at that time,
    /// without one it leaves it.
    async fn save_connected(
        &self,
        integration: &Integration,
        tokens: &Envelope,
        refresh_at: Option<i64>,
    ) -> Result<Integration, StoreError>;
    async fn get(
        &self,
        user: &UserId,
        id: &IntegrationId,
    ) -> Result<Option<Integration>, StoreError>;
    /// The integration and its sealed tokens (None once disconnected).
    async fn get_with_tokens(
        &self,
        user: &UserId,
        id: &IntegrationId,
    ) -> Result<Option<(Integration, Option<Envelope>)>, StoreError>;
    async fn list(&self, user: &UserId) -> Result<Vec<Integration>, StoreError>;
    /// Marks the integration disconnected and removes its tokens in one write, bumping the
    /// token version (a refresh in flight is fenced out); returns the sealed tokens it removed,
    /// whichever those were by then. [`StoreError::Conflict`]: the row is gone.
    async fn mark_disconnected(
        &self,
        integration: &Integration,
    ) -> Result<Option<Envelope>, StoreError>;
    /// Applies a PATCH's changes in one write and returns the row. Not a token write (it
    /// neither checks nor bumps the token version). [`StoreError::Conflict`]: sync settings
    /// for an integration not connected, or any change to one disconnected meanwhile.
    async fn save_changes(
        &self,
        integration: &Integration,
        changes: &IntegrationChanges<'_>,
    ) -> Result<Integration, StoreError>;
}

/// What a PATCH of an integration changes; None leaves a field as it is.
pub struct IntegrationChanges<'a> {
    /// New sync settings, and when an enabled sync is next due (None: out of the due index).
    pub sync: Option<(&'a SyncSettings, Option<i64>)>,
    /// New metadata; an empty object removes it.
    pub metadata: Option<&'a Metadata>,
}

/// A refresh's claim on an integration: who holds it and until when (epoch milliseconds).
#[derive(Debug, Clone)]
pub struct RefreshLease {
    pub owner: String,
    pub until_ms: i64,
}

/// New tokens from a refresh, sealed, with what the refresh index needs to know about them.
pub struct RefreshedTokens<'a> {
    pub envelope: &'a Envelope,
    pub expires_at: Option<i64>,
    /// When the refresh index should offer them for renewal; None: they leave it.
    pub refresh_at: Option<i64>,
    pub refreshed_at: i64,
    /// Remove `lastError`: it was a refresh failure, which these tokens end. A sync's failure
    /// stays for the app to show until a sync succeeds.
    pub clear_error: bool,
}

/// The one-refresh-at-a-time protocol (docs/architecture.md, "Refresh protocol"). Every write after the
/// lease is fenced: it applies only while `lease.owner` still holds the lease on the `version`
/// the refresh read, so a refresh that outlived its lease can never overwrite a newer one.
#[async_trait]
pub trait RefreshLeases: Send + Sync {
    /// Takes the lease if it is free or expired at `now_ms`, the integration is connected and
    /// still at `integration.token_version`. Ok(false) when any of that does not hold.
    async fn acquire(
        &self,
        integration: &Integration,
        lease: &RefreshLease,
        now_ms: i64,
    ) -> Result<bool, StoreError>;
    /// Stores the refreshed tokens, moves the refresh-index entry, clears `lastError` and
    /// releases the lease, in one fenced write. [`StoreError::Conflict`] when fenced out.
    async fn complete(
        &self,
        integration: &Integration,
        lease: &RefreshLease,
        tokens: RefreshedTokens<'_>,
    ) -> Result<Integration, StoreError>;
    /// The grant is gone (`invalid_grant`): status `expired`, `lastError`, out of the refresh
    /// index, lease released, in one fenced write.
    async fn expire(
        &self,
        integration: &Integration,
        lease: &RefreshLease,
        error: &IntegrationError,
    ) -> Result<(), StoreError>;
    /// Applies tokens a refresh could not store in time (token recovery): the same attributes as
    /// [`RefreshLeases::complete`], and the lease cleared, if the token version is still
    /// `token_version` and the integration connected. Ok(None): a newer token set was written,
    /// or the integration is no longer connected; the tokens were not applied.
    async fn recover(
        &self,
        user: &UserId,
        id: &IntegrationId,
        token_version: u64,
        tokens: RefreshedTokens<'_>,
    ) -> Result<Option<Integration>, StoreError>;
    /// Gives the lease back without new tokens (the provider failed), recording `error`.
    async fn release(
        &self,
        integration: &Integration,
        lease: &RefreshLease,
        error: Option<&IntegrationError>,
    ) -> Result<(), StoreError>;
}

/// An integration the refresh index lists as due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueIntegration {
    pub user_id: UserId,
    pub integration_id: IntegrationId,
    /// When it is due (the index's sort key: the token's expiry, or the next sync).
    pub due_at: i64,
}

/// One shard's due integrations and what reading them cost.
#[derive(Debug, Default)]
pub struct DueScan {
    pub due: Vec<DueIntegration>,
    /// Index items DynamoDB read (its ScannedCount): what the query is billed for.
    pub items_read: usize,
    pub pages: usize,
}

#[async_trait]
pub trait RefreshIndex: Send + Sync {
    /// Integrations of `shard` whose tokens expire at or before `until` (epoch seconds).
    async fn due(&self, shard: u8, until: i64) -> Result<DueScan, StoreError>;
    /// How many integrations of `shard` are connected (every one is in the index), and the
    /// index items read to count them.
    async fn count_connected(&self, shard: u8) -> Result<(usize, usize), StoreError>;
}

#[async_trait]
pub trait AuditTrail: Send + Sync {
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first; `cursor` from a previous page.
    async fn page(
        &self,
        user: Option<&UserId>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError>;
}

/// One caller's window of one rate-limit class (crate::rate_limit).
pub struct RateWindow<'a> {
    pub class: &'a str,
    /// The user id, backend principal or source IP whose budget it is.
    pub caller: &'a str,
    /// Epoch seconds, a multiple of the window's length.
    pub start: i64,
    pub limit: u32,
    /// When the counter may be deleted (TTL): after the window ended.
    pub expires_at: i64,
}

/// Fixed-window request counters for the rate limiter.
#[async_trait]
pub trait RateCounters: Send + Sync {
    /// Counts one request in `window` unless `limit` were counted there already: the count
    /// with this one, or None (refused, not counted). One conditional write, no read.
    async fn count(&self, window: &RateWindow<'_>) -> Result<Option<u32>, StoreError>;
}

/// What starting a sync job found.
#[derive(Debug, PartialEq, Eq)]
pub enum JobStart {
    Created,
    /// A job of that type is already queued or running: its id.
    Existing(JobId),
}

/// How a job ended.
pub enum JobOutcome<'a> {
    /// `swept`: records a full listing no longer returned, now marked deleted (added to the
    /// job's `deleted` count).
    Succeeded {
        cursor: Option<&'a str>,
        swept: u64,
    },
    Failed {
        error: &'a IntegrationError,
    },
}

/// Sync jobs and their checkpoints. Every checkpoint write is conditioned on the page index the
/// worker read, so two deliveries of one message never both commit a page.
#[async_trait]
pub trait SyncJobs: Send + Sync {
    /// Writes `job` (queued) and makes it the integration's active sync, in one transaction,
    /// unless another job is active and younger than `stale_before` (epoch seconds).
    async fn start(
        &self,
        integration: &Integration,
        job: &SyncJob,
        stale_before: i64,
    ) -> Result<JobStart, StoreError>;
    async fn get(
        &self,
        integration: &IntegrationId,
        job_id: &JobId,
    ) -> Result<Option<SyncJob>, StoreError>;
    /// queued → running, remembering the cursor the listing starts from. Ok(false): not queued.
    async fn mark_running(&self, job: &SyncJob, since: Option<&str>) -> Result<bool, StoreError>;
    /// Adds a page's counts and moves the checkpoint to `next_page`; after the last page
    /// (`next_page` None) records the listing as done with the provider's `final_cursor`.
    /// Ok(false): the checkpoint is no longer at `job.page_index` (another delivery got there).
    async fn commit_page(
        &self,
        job: &SyncJob,
        counts: SyncCounts,
        next_page: Option<&str>,
        final_cursor: Option<&str>,
    ) -> Result<bool, StoreError>;
    /// The provider dropped the cursor: the listing starts over as a full one.
    async fn restart_full(&self, job: &SyncJob) -> Result<bool, StoreError>;
    /// Ends the job, and on the integration saves the new cursor and `lastSyncAt` (on success)
    /// and clears the active job, in one transaction.
    async fn finish(&self, job: &SyncJob, outcome: JobOutcome<'_>) -> Result<(), StoreError>;
}

/// A stored record's state as a page finds it: what it counts as, and whether this very page
/// (job and page index) already wrote it, in which case its recorded change is reused.
#[derive(Debug, Clone)]
pub struct StoredMark {
    pub updated_at: Option<String>,
    pub deleted: bool,
    pub written_by: Option<(String, u32)>,
    pub change: Option<RecordChange>,
}

#[async_trait]
pub trait SyncedRecords: Send + Sync {
    /// The marks of the records of `sync_type` with these external ids.
    async fn marks(
        &self,
        integration: &IntegrationId,
        sync_type: SyncType,
        external_ids: &[String],
    ) -> Result<HashMap<String, StoredMark>, StoreError>;
    /// Upserts the records with this page's marks (BatchWriteItem, unprocessed items retried).
    async fn put_page(
        &self,
        integration: &IntegrationId,
        records: &[(SyncedRecord, RecordChange)],
        job_id: &JobId,
        page_index: u32,
    ) -> Result<(), StoreError>;
    /// After a full listing: marks deleted every live record of `sync_type` this job did not
    /// write (the provider no longer lists it), and returns how many records this job's sweep
    /// has marked, counting those of an earlier, interrupted attempt at the same sweep.
    async fn sweep_unlisted(
        &self,
        integration: &IntegrationId,
        sync_type: SyncType,
        job_id: &JobId,
    ) -> Result<u64, StoreError>;
    /// Events in external-id order; `cursor` from a previous page.
    async fn page(
        &self,
        integration: &IntegrationId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<EventRecord>, Option<String>), StoreError>;
    /// Contacts in external-id order; `cursor` from a previous page.
    async fn contacts_page(
        &self,
        integration: &IntegrationId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<ContactRecord>, Option<String>), StoreError>;
}

/// What an `Idempotency-Key` is to a create that brings it (`EventWrites::claim_key`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyClaim {
    /// Not seen before (or seen longer ago than the key is kept): this request owns it.
    First,
    /// Seen with the same request body: a retry, to be answered with the same event.
    Repeat,
    /// Seen with another body: refused, the key names another request.
    Reused,
}

/// The event write routes' records: an event as its create, change or deletion at the
/// provider left it, and the idempotency keys of creates.
#[async_trait]
pub trait EventWrites: Send + Sync {
    /// Stores the event as the provider answered a write, marked as written outside any sync
    /// job (so a full listing's sweep still applies to it).
    async fn put_written(
        &self,
        integration: &IntegrationId,
        record: &EventRecord,
    ) -> Result<(), StoreError>;
    /// Marks the stored event deleted; false when none is stored.
    async fn mark_deleted(
        &self,
        integration: &IntegrationId,
        external_id: &str,
    ) -> Result<bool, StoreError>;
    /// Claims `key_hash` for a create with this body `fingerprint`, kept until `expires_at`
    /// (epoch seconds; an expired claim counts as none at `now`).
    async fn claim_key(
        &self,
        integration: &IntegrationId,
        key_hash: &str,
        fingerprint: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<KeyClaim, StoreError>;
}

#[async_trait]
pub trait SyncSchedules: Send + Sync {
    /// Integrations of `shard` whose next sync is at or before `until`.
    async fn due_syncs(&self, shard: u8, until: i64) -> Result<DueScan, StoreError>;
    /// Moves an integration's next sync (it was just enqueued).
    async fn reschedule(&self, due: &DueIntegration, next_sync_at: i64) -> Result<(), StoreError>;
}
