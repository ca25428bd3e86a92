//! What the service stores and returns.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::crypto::{Envelope, RowBinding};
use crate::ids::{IntegrationId, JobId, ProviderId, UserId};
use crate::state::StateId;

mod records;
pub use records::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IntegrationStatus {
    Pending,
    Connected,
    Expired,
    Error,
    Disconnected,
}

impl IntegrationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Connected => "connected",
            Self::Expired => "expired",
            Self::Error => "error",
            Self::Disconnected => "disconnected",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "connected" => Self::Connected,
            "expired" => Self::Expired,
            "error" => Self::Error,
            "disconnected" => Self::Disconnected,
            _ => return None,
        })
    }
}

/// What a sync fetches from the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncType {
    Calendar,
    Contacts,
}

impl SyncType {
    pub const ALL: &[Self] = &[Self::Calendar, Self::Contacts];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Calendar => "calendar",
            Self::Contacts => "contacts",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == s)
    }
}

/// How often scheduled syncs run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncFrequency {
    Hourly,
    Daily,
}

impl SyncFrequency {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Hourly, Self::Daily]
            .into_iter()
            .find(|f| f.as_str() == s)
    }
    /// Seconds between scheduled syncs.
    pub fn interval_secs(self) -> i64 {
        match self {
            Self::Hourly => 3_600,
            Self::Daily => 86_400,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSettings {
    pub enabled: bool,
    pub sync_types: Vec<SyncType>,
    pub frequency: SyncFrequency,
}

impl SyncSettings {
    /// Seconds between scheduled syncs.
    pub fn interval_secs(&self) -> i64 {
        self.frequency.interval_secs()
    }
}

impl Default for SyncSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            sync_types: vec![SyncType::Calendar],
            frequency: SyncFrequency::Hourly,
        }
    }
}

/// An integration's `metadata`: a JSON object the caller owns (labels, its own ids), stored as
/// compact JSON text and returned as given. Capped at [`Metadata::MAX_BYTES`] of that text, so a
/// row stays small whatever callers put in it (DynamoDB bills reads by the item's size).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Metadata(serde_json::Map<String, serde_json::Value>);

impl Metadata {
    pub const MAX_BYTES: usize = 4_096;

    /// The object, refused when its compact JSON text is longer than [`Self::MAX_BYTES`].
    pub fn capped(object: serde_json::Map<String, serde_json::Value>) -> Result<Self, String> {
        let metadata = Self(object);
        let size = metadata.to_json().len();
        if size > Self::MAX_BYTES {
            return Err(format!(
                "metadata is {size} bytes as compact JSON; at most {} are kept",
                Self::MAX_BYTES
            ));
        }
        Ok(metadata)
    }

    /// No keys: nothing is stored (an empty object clears the metadata).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The stored form: compact JSON text (a map of JSON values always serializes).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text).map(Self)
    }
}

/// The last failure seen for an integration (refresh or sync), as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationError {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<String>,
}

/// An integration as stored, without its tokens.
#[derive(Debug, Clone)]
pub struct Integration {
    pub id: IntegrationId,
    pub user_id: UserId,
    pub provider: ProviderId,
    pub status: IntegrationStatus,
    pub external_account_id: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// The account's picture URL, from the provider's userinfo (checked there).
    pub avatar_url: Option<String>,
    pub scopes: Vec<String>,
    pub sync_settings: SyncSettings,
    /// The caller's own object (PATCH); the service stores and returns it, never reads it.
    pub metadata: Metadata,
    pub last_sync_at: Option<String>,
    pub last_error: Option<IntegrationError>,
    /// Access-token expiry, epoch seconds.
    pub expires_at: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    /// The token version (stored as `version`): bumped by every write of the token set or the
    /// token status (connect, refresh completion, expiry, disconnect) and by nothing else. The
    /// refresh lease is taken on it and its completion fenced on it, so no other write of the
    /// row (settings, sync bookkeeping, schedules) can fence a refresh out, and a completion
    /// writes only the token attributes (docs/architecture.md, "Refresh protocol").
    pub token_version: u64,
    /// When the tokens were last obtained from the provider by a refresh, epoch seconds.
    pub refreshed_at: Option<i64>,
    /// Until when a refresh holds the integration's lease, epoch milliseconds (None: free).
    pub lease_until_ms: Option<i64>,
    /// Where the next incremental calendar sync starts (the provider's sync token / delta link).
    pub calendar_cursor: Option<String>,
    /// The calendar sync job queued or running, if any.
    pub active_sync_job: Option<JobId>,
    /// As `calendar_cursor` and `active_sync_job`, for contacts.
    pub contacts_cursor: Option<String>,
    pub active_contacts_job: Option<JobId>,
}

impl Integration {
    /// Where the next incremental sync of `sync_type` starts.
    pub fn sync_cursor(&self, sync_type: SyncType) -> Option<&str> {
        match sync_type {
            SyncType::Calendar => self.calendar_cursor.as_deref(),
            SyncType::Contacts => self.contacts_cursor.as_deref(),
        }
    }

    /// The job of `sync_type` queued or running, if any (one per type at a time).
    pub fn active_job(&self, sync_type: SyncType) -> Option<&JobId> {
        match sync_type {
            SyncType::Calendar => self.active_sync_job.as_ref(),
            SyncType::Contacts => self.active_contacts_job.as_ref(),
        }
    }

    /// What the integration's sealed token set is bound to.
    pub fn token_row(&self) -> RowBinding<'_> {
        token_row(&self.user_id, &self.id, &self.provider)
    }
}

/// The associated data of a sealed token set: the row it was sealed for, so an envelope copied
/// to another user's or integration's row does not open.
pub fn token_row<'a>(
    user: &'a UserId,
    integration: &'a IntegrationId,
    provider: &'a ProviderId,
) -> RowBinding<'a> {
    RowBinding {
        user_id: user.as_str(),
        record_id: integration.as_str(),
        provider: provider.as_str(),
    }
}

/// The associated data of a sealed PKCE verifier: the authorization (state) it belongs to.
pub fn verifier_row<'a>(
    user: &'a UserId,
    state: &'a StateId,
    provider: &'a ProviderId,
) -> RowBinding<'a> {
    RowBinding {
        user_id: user.as_str(),
        record_id: &state.0,
        provider: provider.as_str(),
    }
}

/// The API's `Integration` (docs/openapi.yaml `Integration`): tokens never appear in it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    pub id: String,
    pub provider: String,
    pub status: IntegrationStatus,
    pub external_account_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    pub scopes: Vec<String>,
    pub sync_settings: SyncSettings,
    pub metadata: Metadata,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_sync_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<IntegrationError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<&Integration> for IntegrationView {
    fn from(i: &Integration) -> Self {
        Self {
            id: i.id.to_string(),
            provider: i.provider.to_string(),
            status: i.status,
            external_account_id: i.external_account_id.clone(),
            display_name: i.display_name.clone(),
            email: i.email.clone(),
            avatar_url: i.avatar_url.clone(),
            scopes: i.scopes.clone(),
            sync_settings: i.sync_settings.clone(),
            metadata: i.metadata.clone(),
            last_sync_at: i.last_sync_at.clone(),
            last_error: i.last_error.clone(),
            expires_at: i.expires_at.and_then(epoch_to_rfc3339),
            created_at: i.created_at.clone(),
            updated_at: i.updated_at.clone(),
        }
    }
}

pub fn epoch_to_rfc3339(secs: i64) -> Option<String> {
    OffsetDateTime::from_unix_timestamp(secs)
        .ok()?
        .format(&Rfc3339)
        .ok()
}

/// A started authorization, stored under its state id until the callback consumes it.
#[derive(Debug, Clone)]
pub struct PendingAuthorization {
    pub state_id: StateId,
    pub user_id: UserId,
    pub provider: ProviderId,
    pub redirect_uri: String,
    pub return_to: Option<String>,
    pub scopes: Vec<String>,
    pub pkce_verifier: Option<Envelope>,
    /// Epoch seconds.
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    OauthInitiated,
    OauthCompleted,
    OauthFailed,
    InvalidStateDetected,
    TokenRefreshed,
    TokenRefreshFailed,
    TokenRecovered,
    TokenIssued,
    IntegrationDisconnected,
    SyncRequested,
    SyncCompleted,
    SyncFailed,
    EventCreated,
    EventUpdated,
    EventDeleted,
}

impl AuditEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OauthInitiated => "oauth_initiated",
            Self::OauthCompleted => "oauth_completed",
            Self::OauthFailed => "oauth_failed",
            Self::InvalidStateDetected => "invalid_state_detected",
            Self::TokenRefreshed => "token_refreshed",
            Self::TokenRefreshFailed => "token_refresh_failed",
            Self::TokenRecovered => "token_recovered",
            Self::TokenIssued => "token_issued",
            Self::IntegrationDisconnected => "integration_disconnected",
            Self::SyncRequested => "sync_requested",
            Self::SyncCompleted => "sync_completed",
            Self::SyncFailed => "sync_failed",
            Self::EventCreated => "event_created",
            Self::EventUpdated => "event_updated",
            Self::EventDeleted => "event_deleted",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::OauthInitiated,
            Self::OauthCompleted,
            Self::OauthFailed,
            Self::InvalidStateDetected,
            Self::TokenRefreshed,
            Self::TokenRefreshFailed,
            Self::TokenRecovered,
            Self::TokenIssued,
            Self::IntegrationDisconnected,
            Self::SyncRequested,
            Self::SyncCompleted,
            Self::SyncFailed,
            Self::EventCreated,
            Self::EventUpdated,
            Self::EventDeleted,
        ]
        .into_iter()
        .find(|e| e.as_str() == s)
    }
}

/// Where an audited action came from: an API request, or a queue message (ip and user agent None).
#[derive(Debug, Clone)]
pub struct RequestOrigin {
    pub correlation_id: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// An audit entry (docs/openapi.yaml `AuditEntry`). `user_id` None files it under the anonymous partition
/// (e.g. a forged state on the public callback, where nobody is known).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    pub event: AuditEvent,
    #[serde(skip)]
    pub user_id: Option<UserId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<IntegrationId>,
    pub at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    pub correlation_id: String,
    /// A short machine reason (`bad_mac`, `expired`, `access_denied`…), never free provider text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The backend principal a `token_issued` entry records (never the token).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// Anonymous entries are one per source, event, reason and minute: how many requests it
    /// stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
}

impl AuditEntry {
    pub fn new(event: AuditEvent, user: Option<&UserId>, origin: &RequestOrigin) -> Self {
        Self {
            event,
            user_id: user.cloned(),
            provider: None,
            integration_id: None,
            at: crate::clock::now_rfc3339(),
            ip: origin.ip.clone(),
            user_agent: origin.user_agent.clone(),
            correlation_id: origin.correlation_id.clone(),
            reason: None,
            principal: None,
            count: None,
        }
    }

    /// The entry is about this provider.
    pub fn provider(mut self, provider: &ProviderId) -> Self {
        self.provider = Some(provider.clone());
        self
    }

    /// The entry is about this integration (and its provider).
    pub fn integration(mut self, integration: &Integration) -> Self {
        self.provider = Some(integration.provider.clone());
        self.integration_id = Some(integration.id.clone());
        self
    }

    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Queued, Self::Running, Self::Succeeded, Self::Failed]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SyncCounts {
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    /// Records the provider sent that cannot be stored (an id over the key limit): left out,
    /// counted, and the job goes on.
    pub skipped: u64,
}

/// A sync job as stored: status, counts, and its checkpoint (the page to fetch next).
#[derive(Debug, Clone)]
pub struct SyncJob {
    pub job_id: JobId,
    pub user_id: UserId,
    pub integration_id: IntegrationId,
    pub sync_type: SyncType,
    pub full: bool,
    pub status: SyncStatus,
    pub counts: SyncCounts,
    pub error: Option<IntegrationError>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Pages committed so far (across cursor resets): also the replay mark of each page.
    pub page_index: u32,
    /// The page to fetch next; None: the listing's first page.
    pub page_token: Option<String>,
    /// The cursor the listing started from; None: a full listing.
    pub since_cursor: Option<String>,
    /// The last page is committed: only finishing is left (after a crash in between).
    pub listed: bool,
    /// The provider's cursor for the next incremental sync, from the last page.
    pub final_cursor: Option<String>,
}

/// The API's sync job (docs/openapi.yaml `SyncJob`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncJobView<'a> {
    pub job_id: &'a JobId,
    pub sync_type: SyncType,
    pub full: bool,
    pub status: SyncStatus,
    pub counts: SyncCounts,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<&'a IntegrationError>,
    pub created_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<&'a str>,
}

impl<'a> From<&'a SyncJob> for SyncJobView<'a> {
    fn from(j: &'a SyncJob) -> Self {
        Self {
            job_id: &j.job_id,
            sync_type: j.sync_type,
            full: j.full,
            status: j.status,
            counts: j.counts,
            error: j.error.as_ref(),
            created_at: &j.created_at,
            started_at: j.started_at.as_deref(),
            finished_at: j.finished_at.as_deref(),
        }
    }
}
