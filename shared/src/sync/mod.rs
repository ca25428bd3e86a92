//! Calendar sync: jobs requested through the API or the schedule, run by the sync worker one
//! page at a time. Each page is written and then checkpointed (the job's page index and the
//! provider's next-page token, conditioned on the index read), so a crash resumes at the first
//! uncommitted page, a second delivery of a message changes nothing, and counts come out the
//! same as an uninterrupted run's: a page replayed after a crash finds its own marks on the
//! records it wrote and counts them as it did the first time.

mod answer;
pub mod contacts;
mod ending;
pub mod records;
pub mod source;
pub mod writes;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::app::App;
use crate::catalogue::{CalendarSource, ContactsSource};
use crate::clock::now_epoch;
use crate::domain::{
    Integration, IntegrationError, IntegrationStatus, RequestOrigin, SyncCounts, SyncJob,
    SyncStatus, SyncType, SyncedRecord,
};
use crate::ids::{IntegrationId, JobId, UserId};
use crate::queue::QueueError;
use crate::refresh::{RefreshError, RefreshPolicy, fresh_tokens};
use crate::store::{JobStart, StoreError};
use ending::{abandon, fail, finish_listing, still_active, superseded};
#[cfg(test)]
use records::{classify, record_id};
use records::{contact_record_of, record_of, write_page};
use source::{FetchError, PageRequest, ProviderPage, fetch_page};

/// A sync-queue message: the job to run, or to go on with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncMessage {
    pub user_id: String,
    pub integration_id: String,
    pub job_id: String,
}

impl SyncMessage {
    pub fn body(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("SYNC_QUEUE_URL is not set")]
    NoQueue,
    #[error("the integration is not connected")]
    NotConnected,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Queues a sync job of `sync_type` for the integration, or finds the one of that type already
/// queued or running (one per type at a time):
/// `(job id, created)`. The job row and the integration's active-job mark are one transaction;
/// the message goes out after it. A send lost in between is repaired by the next request, which
/// finds the job still queued and sends its message again.
pub async fn request_sync(
    app: &App,
    integration: &Integration,
    sync_type: SyncType,
    full: bool,
) -> Result<(JobId, bool), SyncError> {
    let queue = app.sync_queue.as_ref().ok_or(SyncError::NoQueue)?;
    if integration.status != IntegrationStatus::Connected {
        return Err(SyncError::NotConnected);
    }
    let job = SyncJob {
        job_id: JobId::new(),
        user_id: integration.user_id.clone(),
        integration_id: integration.id.clone(),
        sync_type,
        full,
        status: SyncStatus::Queued,
        counts: SyncCounts::default(),
        error: None,
        created_at: crate::clock::now_rfc3339(),
        started_at: None,
        finished_at: None,
        page_index: 0,
        page_token: None,
        since_cursor: None,
        listed: false,
        final_cursor: None,
    };
    let stale_before = now_epoch() - app.sync_tuning.stale_job_secs;
    let send = |job_id: &JobId| {
        let message = SyncMessage {
            user_id: integration.user_id.as_str().into(),
            integration_id: integration.id.as_str().into(),
            job_id: job_id.as_str().into(),
        };
        async move {
            match queue.send_all(&[message.body()]).await? {
                0 => Ok(()),
                _ => Err(SyncError::Queue(QueueError(
                    "the sync message was not sent".into(),
                ))),
            }
        }
    };
    match app.sync_jobs().start(integration, &job, stale_before).await {
        Ok(JobStart::Existing(id)) => {
            // Still queued: its message may have been lost after the job was written. Another
            // one is harmless (a delivery for a started or finished job changes nothing).
            let queued = app.sync_jobs().get(&integration.id, &id).await?;
            if queued.is_some_and(|j| j.status == SyncStatus::Queued) {
                send(&id).await?;
            }
            Ok((id, false))
        }
        Ok(JobStart::Created) => {
            send(&job.job_id).await?;
            Ok((job.job_id, true))
        }
        Err(StoreError::Conflict) => Err(SyncError::NotConnected),
        Err(e) => Err(e.into()),
    }
}

/// What became of one worker run of a message.
#[derive(Debug, PartialEq, Eq)]
pub enum JobRun {
    /// Finished with (succeeded, failed, handed on, or nothing to do): delete the message.
    Done,
    /// Not now (provider busy, store failing): the message goes back to the queue.
    Retry,
}

/// Runs (or goes on with) the job of `message` until it finishes, must wait, or the time
/// before `deadline` runs short. On the message's `last_delivery` (the queue's redrive limit),
/// a failure ends the job `failed` (`SYNC_ABANDONED`) instead of leaving it `running` while the
/// message goes to the dead-letter queue.
pub async fn run_job(
    app: &App,
    message: &SyncMessage,
    origin: &RequestOrigin,
    deadline: Instant,
    last_delivery: bool,
) -> JobRun {
    let (Ok(user), Ok(id), Ok(job_id)) = (
        UserId::parse(&message.user_id),
        IntegrationId::parse(&message.integration_id),
        JobId::parse(&message.job_id),
    ) else {
        tracing::error!(
            job_id = message.job_id.as_str(),
            "sync message with malformed ids"
        );
        return JobRun::Done;
    };
    match drive(app, &user, &id, &job_id, message, origin, deadline).await {
        Ok(run) => run,
        Err(e) if last_delivery => {
            tracing::error!(integration_id = id.as_str(), job_id = message.job_id.as_str(), error = %crate::report::error_chain(&e), "sync failed on its last delivery; the job is abandoned");
            match abandon(app, &user, &id, &job_id, origin, &e).await {
                Ok(()) => JobRun::Done,
                // The store is still down: the message goes to the dead-letter queue.
                Err(_) => JobRun::Retry,
            }
        }
        Err(e) => {
            tracing::warn!(integration_id = id.as_str(), job_id = message.job_id.as_str(), error = %crate::report::error_chain(&e), "sync interrupted; the message goes back to the queue");
            JobRun::Retry
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum DriveError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

#[allow(clippy::too_many_arguments)]
async fn drive(
    app: &App,
    user: &UserId,
    id: &IntegrationId,
    job_id: &JobId,
    message: &SyncMessage,
    origin: &RequestOrigin,
    deadline: Instant,
) -> Result<JobRun, DriveError> {
    let Some(mut job) = app.sync_jobs().get(id, job_id).await? else {
        return Ok(JobRun::Done);
    };
    if job.status.is_finished() || job.user_id != *user {
        return Ok(JobRun::Done);
    }
    let Some(integration) = app.integrations().get(user, id).await? else {
        return Ok(JobRun::Done);
    };
    if job.status == SyncStatus::Queued {
        let since = if job.full {
            None
        } else {
            integration.sync_cursor(job.sync_type).map(str::to_string)
        };
        app.sync_jobs().mark_running(&job, since.as_deref()).await?;
        job = match app.sync_jobs().get(id, job_id).await? {
            Some(j) => j,
            None => return Ok(JobRun::Done),
        };
        if job.status != SyncStatus::Running {
            return Ok(JobRun::Done);
        }
    }
    if integration.status != IntegrationStatus::Connected {
        fail(
            app,
            &job,
            origin,
            "CONFLICT",
            "the integration is not connected",
        )
        .await?;
        return Ok(JobRun::Done);
    }
    let provider = app.catalogue.get(integration.provider.as_str());
    let source = match job.sync_type {
        SyncType::Calendar => provider.and_then(|p| p.calendar.clone().map(Source::Calendar)),
        SyncType::Contacts => provider.and_then(|p| p.contacts.clone().map(Source::Contacts)),
    };
    let Some(source) = source else {
        let message = match job.sync_type {
            SyncType::Calendar => "the provider has no calendar to sync",
            SyncType::Contacts => "the provider has no contacts to sync",
        };
        fail(app, &job, origin, "VALIDATION_ERROR", message).await?;
        return Ok(JobRun::Done);
    };
    if job.listed {
        // An earlier run committed the last page but did not get to finish.
        if integration.active_job(job.sync_type) != Some(&job.job_id) {
            return superseded(app, &job, origin).await;
        }
        finish_listing(app, &mut job, &integration, origin).await?;
        return Ok(JobRun::Done);
    }
    // The access token for every page of this run, re-read only when it nears expiry.
    let mut token: Option<crate::oauth::TokenSet> = None;
    let mut first_page = true;
    loop {
        // A newer job replaced this one (it went stale): stop before writing anything more, so
        // two listings never sweep each other's records.
        let active = if first_page {
            integration.active_job(job.sync_type) == Some(&job.job_id)
        } else {
            still_active(app, &job).await?
        };
        if !active {
            return superseded(app, &job, origin).await;
        }
        first_page = false;
        if job.page_index >= app.settings.sync_max_pages {
            let message = format!(
                "the provider was still paging after {} pages",
                app.settings.sync_max_pages
            );
            fail(app, &job, origin, "SYNC_PAGE_LIMIT", &message).await?;
            return Ok(JobRun::Done);
        }
        let page = match fetch_with_token(
            app,
            &job,
            &integration,
            &source,
            origin,
            deadline,
            &mut token,
        )
        .await
        {
            Ok(page) => page,
            Err(Fetched::CursorInvalid) => {
                // Google 410 / Graph syncStateNotFound: start over with a full listing.
                tracing::info!(
                    integration_id = id.as_str(),
                    "sync cursor invalidated; full resync"
                );
                if !app.sync_jobs().restart_full(&job).await? {
                    return Ok(JobRun::Done);
                }
                job = match app.sync_jobs().get(id, job_id).await? {
                    Some(j) => j,
                    None => return Ok(JobRun::Done),
                };
                continue;
            }
            Err(Fetched::Expired) => {
                fail(
                    app,
                    &job,
                    origin,
                    "TOKEN_EXPIRED",
                    "the provider refuses the integration's tokens; connect again",
                )
                .await?;
                return Ok(JobRun::Done);
            }
            Err(Fetched::Refused(why)) => {
                // Not worth another try: 403 insufficient permissions, an unreadable page.
                let message = format!("the provider refused the sync: {why}");
                fail(app, &job, origin, "PROVIDER_ERROR", &message).await?;
                return Ok(JobRun::Done);
            }
            Err(Fetched::Later(e)) => return Err(e),
        };
        let counts = write_page(app, &job, page.records).await?;
        let last = page.next_page.is_none();
        if !app
            .sync_jobs()
            .commit_page(
                &job,
                counts,
                page.next_page.as_deref(),
                page.next_cursor.as_deref(),
            )
            .await?
        {
            // Another delivery of this message committed this page: it carries on.
            return Ok(JobRun::Done);
        }
        job.counts.created += counts.created;
        job.counts.updated += counts.updated;
        job.counts.deleted += counts.deleted;
        job.counts.skipped += counts.skipped;
        job.page_index += 1;
        job.page_token = page.next_page.clone();
        if last {
            job.listed = true;
            job.final_cursor = page.next_cursor.clone();
            if !still_active(app, &job).await? {
                return superseded(app, &job, origin).await;
            }
            finish_listing(app, &mut job, &integration, origin).await?;
            return Ok(JobRun::Done);
        }
        if Instant::now() + app.sync_tuning.page_reserve > deadline {
            // Too little time for another page: hand the job on and stop cleanly.
            let queue = app
                .sync_queue
                .as_ref()
                .ok_or(QueueError("SYNC_QUEUE_URL is not set".into()))?;
            if queue.send_all(&[message.body()]).await? > 0 {
                return Ok(JobRun::Retry);
            }
            tracing::info!(
                integration_id = id.as_str(),
                pages = job.page_index,
                "sync continues in a new invocation"
            );
            return Ok(JobRun::Done);
        }
    }
}

enum Fetched {
    CursorInvalid,
    /// A refusal or an answer no retry will change.
    Refused(String),
    /// The provider rejects the tokens even right after a refresh (or the grant is gone).
    Expired,
    Later(DriveError),
}

/// Where a job's records come from.
enum Source {
    Calendar(CalendarSource),
    Contacts(ContactsSource),
}

/// A fetched page, as the records it writes.
struct RecordsPage {
    records: Vec<SyncedRecord>,
    /// Where the listing goes on; None on its last page.
    next_page: Option<String>,
    /// The cursor for the next incremental sync, on the last page.
    next_cursor: Option<String>,
}

impl Source {
    /// The job's next page: from its checkpoint (the page token), else the start of a full
    /// listing or of the changes since its cursor.
    async fn fetch(
        &self,
        http: &reqwest::Client,
        token: &secrecy::SecretString,
        job: &SyncJob,
    ) -> Result<RecordsPage, FetchError> {
        let id = &job.integration_id;
        match self {
            Self::Calendar(source) => {
                let request = match (&job.page_token, &job.since_cursor) {
                    (Some(token), _) => PageRequest::Next(token),
                    (None, cursor) => PageRequest::Start {
                        cursor: cursor.as_deref(),
                    },
                };
                let page: ProviderPage = fetch_page(http, source, token, request).await?;
                Ok(RecordsPage {
                    records: page
                        .events
                        .iter()
                        .map(|e| SyncedRecord::Event(record_of(id, e)))
                        .collect(),
                    next_page: page.next_page,
                    next_cursor: page.next_cursor,
                })
            }
            Self::Contacts(source) => {
                let page = contacts::fetch_page(
                    http,
                    source,
                    token,
                    job.page_token.as_deref(),
                    job.since_cursor.as_deref(),
                )
                .await?;
                Ok(RecordsPage {
                    records: page
                        .contacts
                        .iter()
                        .map(|c| SyncedRecord::Contact(contact_record_of(id, c)))
                        .collect(),
                    next_page: page.next_page,
                    next_cursor: page.next_cursor,
                })
            }
        }
    }
}

/// The job's next page with a fresh token: retried with backoff (`Retry-After` honoured up to a
/// cap) while the provider is busy, refreshed once when the provider rejects the token.
async fn fetch_with_token(
    app: &App,
    job: &SyncJob,
    integration: &Integration,
    source: &Source,
    origin: &RequestOrigin,
    deadline: Instant,
    cached: &mut Option<crate::oauth::TokenSet>,
) -> Result<RecordsPage, Fetched> {
    let tuning = app.sync_tuning;
    let margin = RefreshPolicy::IfExpiringWithin(app.settings.refresh_margin_secs);
    let mut policy = margin;
    let mut refreshed_for_401 = false;
    let mut attempt = 0;
    loop {
        let margin_secs = app.settings.refresh_margin_secs;
        let usable = |t: &crate::oauth::TokenSet| {
            t.expires_at.is_none_or(|at| at > now_epoch() + margin_secs)
        };
        let reuse = matches!(policy, RefreshPolicy::IfExpiringWithin(_))
            && cached.as_ref().is_some_and(usable);
        if !reuse {
            *cached = match fresh_tokens(
                app,
                &job.user_id,
                &job.integration_id,
                policy,
                origin,
                deadline,
            )
            .await
            {
                Ok(t) => Some(t.tokens),
                Err(RefreshError::GrantRevoked | RefreshError::NotConnected(_)) => {
                    return Err(Fetched::Expired);
                }
                Err(e) => return Err(Fetched::Later(e.into())),
            };
        }
        let Some(tokens) = cached.as_ref() else {
            return Err(Fetched::Expired);
        };
        let http = app
            .oauth
            .http()
            .map_err(|e| Fetched::Later(FetchError::Unavailable(e.to_string()).into()))?;
        let fetched = source.fetch(http, &tokens.access_token, job).await;
        if let Err(e) = &fetched {
            app.metrics
                .provider_error(integration.provider.as_str(), &e.status_name());
        }
        match fetched {
            Ok(page) => return Ok(page),
            Err(FetchError::CursorInvalid) => return Err(Fetched::CursorInvalid),
            Err(FetchError::Unauthorized) if !refreshed_for_401 => {
                // Perhaps revoked early or expired ahead of its stated time: one refresh.
                refreshed_for_401 = true;
                policy = RefreshPolicy::UnlessRefreshedWithin(0);
            }
            Err(FetchError::Unauthorized) => {
                expire_integration(app, job, origin).await;
                return Err(Fetched::Expired);
            }
            Err(e) if e.is_transient() && attempt + 1 < tuning.provider_retry.attempts => {
                let delay = match &e {
                    FetchError::Busy {
                        retry_after: Some(asked),
                        ..
                    } if *asked > tuning.retry_after_cap => {
                        return Err(Fetched::Later(e.into()));
                    }
                    FetchError::Busy {
                        retry_after: Some(asked),
                        ..
                    } => *asked,
                    _ => tuning.provider_retry.delay(attempt),
                };
                if Instant::now() + delay + tuning.page_reserve > deadline {
                    return Err(Fetched::Later(e.into()));
                }
                tracing::info!(integration_id = job.integration_id.as_str(), attempt, delay_ms = delay.as_millis() as u64, error = %e, "events API busy; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
                policy = margin;
            }
            Err(FetchError::BadResponse(why)) => return Err(Fetched::Refused(why)),
            Err(e) => return Err(Fetched::Later(e.into())),
        }
    }
}

/// The provider refuses a token we just refreshed: the integration is `expired`.
async fn expire_integration(app: &App, job: &SyncJob, origin: &RequestOrigin) {
    let error = IntegrationError {
        code: "TOKEN_EXPIRED".into(),
        message: "the provider rejected a freshly refreshed access token; connect again".into(),
        at: Some(crate::clock::now_rfc3339()),
    };
    if let Err(e) =
        crate::refresh::expire(app, &job.user_id, &job.integration_id, &error, origin).await
    {
        tracing::warn!(integration_id = job.integration_id.as_str(), error = %e, "integration not marked expired");
    }
}

#[cfg(test)]
#[path = "../tests/sync.rs"]
mod tests;
