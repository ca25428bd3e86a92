//! How a job ends: succeeded after its last page (the sweep of a full listing first), failed
//! with a code (also the integration's `lastError`), superseded by a newer job, or abandoned on
//! its last delivery (docs/architecture.md, "Sync").

use super::{DriveError, JobRun};
use crate::app::App;
use crate::domain::{
    AuditEntry, AuditEvent, Integration, IntegrationError, RequestOrigin, SyncJob, SyncStatus,
};
use crate::ids::{IntegrationId, JobId, UserId};
use crate::publish::AppEvent;
use crate::store::{JobOutcome, StoreError};

/// Ends a running job whose message the queue will not deliver again.
pub(super) async fn abandon(
    app: &App,
    user: &UserId,
    id: &IntegrationId,
    job_id: &JobId,
    origin: &RequestOrigin,
    error: &DriveError,
) -> Result<(), StoreError> {
    let Some(job) = app.sync_jobs().get(id, job_id).await? else {
        return Ok(());
    };
    if job.status != SyncStatus::Running || job.user_id != *user {
        return Ok(());
    }
    let message = format!(
        "the sync failed on each of {} deliveries; last: {error}",
        app.settings.sync_max_receives
    );
    fail(app, &job, origin, "SYNC_ABANDONED", &message).await
}

/// Whether the integration still names `job` as its active sync.
pub(super) async fn still_active(app: &App, job: &SyncJob) -> Result<bool, StoreError> {
    let integration = app
        .integrations()
        .get(&job.user_id, &job.integration_id)
        .await?;
    Ok(integration.is_some_and(|i| i.active_job(job.sync_type) == Some(&job.job_id)))
}

pub(super) async fn superseded(
    app: &App,
    job: &SyncJob,
    origin: &RequestOrigin,
) -> Result<JobRun, DriveError> {
    tracing::info!(
        integration_id = job.integration_id.as_str(),
        job_id = job.job_id.as_str(),
        "sync job superseded by a newer one; stopped without sweeping"
    );
    fail(
        app,
        job,
        origin,
        "CONFLICT",
        "superseded by a newer sync job",
    )
    .await?;
    Ok(JobRun::Done)
}

/// After the last page: the sweep of a full listing, then the job `succeeded` with the cursor
/// and `lastSyncAt` on the integration, audited.
pub(super) async fn finish_listing(
    app: &App,
    job: &mut SyncJob,
    integration: &Integration,
    origin: &RequestOrigin,
) -> Result<(), StoreError> {
    // A full listing saw every event the provider still has (cancelled ones included): a live
    // record it did not return is gone at the provider. This is what makes the full resync
    // after a 410 equal to "wipe and reload", as Google's sync guide asks.
    let swept = if job.since_cursor.is_none() {
        app.synced_records()
            .sweep_unlisted(&job.integration_id, job.sync_type, &job.job_id)
            .await?
    } else {
        0
    };
    job.counts.deleted += swept;
    let cursor = job.final_cursor.clone();
    match app
        .sync_jobs()
        .finish(
            job,
            JobOutcome::Succeeded {
                cursor: cursor.as_deref(),
                swept,
            },
        )
        .await
    {
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(e),
    }
    let entry = AuditEntry::new(AuditEvent::SyncCompleted, Some(&job.user_id), origin);
    app.audit(entry.integration(integration)).await;
    let records = job.counts.created + job.counts.updated + job.counts.deleted;
    count_job(app, job, "succeeded", records);
    app.publish(AppEvent::sync_completed(job)).await;
    tracing::info!(
        integration_id = job.integration_id.as_str(),
        pages = job.page_index,
        created = job.counts.created,
        updated = job.counts.updated,
        deleted = job.counts.deleted,
        "sync completed"
    );
    Ok(())
}

pub(super) async fn fail(
    app: &App,
    job: &SyncJob,
    origin: &RequestOrigin,
    code: &str,
    message: &str,
) -> Result<(), StoreError> {
    let error = IntegrationError {
        code: code.into(),
        message: message.into(),
        at: Some(crate::clock::now_rfc3339()),
    };
    match app
        .sync_jobs()
        .finish(job, JobOutcome::Failed { error: &error })
        .await
    {
        Ok(()) | Err(StoreError::Conflict) => {}
        Err(e) => return Err(e),
    }
    let mut entry = AuditEntry::new(AuditEvent::SyncFailed, Some(&job.user_id), origin);
    entry.integration_id = Some(job.integration_id.clone());
    app.audit(entry.reason(code.to_ascii_lowercase())).await;
    let records = job.counts.created + job.counts.updated + job.counts.deleted;
    count_job(app, job, "failed", records);
    app.publish(AppEvent::sync_failed(job, code)).await;
    Ok(())
}

/// `SyncJobs`, `SyncDuration` (from its start, or its creation when it never started) and
/// `RecordsSynced`.
fn count_job(app: &App, job: &SyncJob, outcome: &str, records: u64) {
    let started = job.started_at.as_deref().unwrap_or(&job.created_at);
    let duration = crate::clock::elapsed_since(started).unwrap_or_default();
    app.metrics
        .sync_job(outcome, duration, records, job.job_id.as_str());
}
