//! The functions that are not HTTP routes: the refresh scheduler (an EventBridge schedule) and
//! the refresh worker (the refresh queue's SQS event source). Plain async fns, like the HTTP
//! handlers; `lambda.rs` wires them to the runtime and `make dev` to a timer and a poller.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::Serialize;
use tokio::time::Instant;

use crate::app::App;
use crate::domain::RequestOrigin;
use crate::queue::{QueueError, RefreshRequest, TokenRecovery};
use crate::refresh::{RefreshError, RefreshPolicy, fresh_tokens};
use crate::store::{StoreError, keys};

/// What one scheduler run did; the Lambda's result, and the figures its tests check.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SchedulerReport {
    /// Integrations whose scheduled sync is due, and the jobs queued for them (an integration
    /// with a sync already queued or running gets none).
    pub syncs_due: usize,
    pub syncs_queued: usize,
    /// Integrations the refresh index lists as expiring within the margin.
    pub due: usize,
    pub sent: usize,
    /// Messages SQS did not take even on a second try; the next run finds them due again.
    pub unsent: usize,
    /// Index items DynamoDB read for this run's due queries: what scheduling costs.
    pub items_read: usize,
    pub pages: usize,
    /// Connected integrations (every one is in the refresh index), for the dashboard; None
    /// when counting failed (the run goes on).
    pub connected: Option<usize>,
    /// Index items read to count them: every connected integration's, once a run.
    pub count_items_read: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SchedulerError {
    #[error("REFRESH_QUEUE_URL is not set: the scheduler has nowhere to send refreshes")]
    NoQueue,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// Finds every integration whose token expires within the margin, reading only those (all
/// shards of the sparse refresh index, in parallel), and sends one refresh message for each.
pub async fn schedule_refreshes(app: &App, now: i64) -> Result<SchedulerReport, SchedulerError> {
    let queue = app.refresh_queue.as_ref().ok_or(SchedulerError::NoQueue)?;
    let until = now + app.settings.refresh_margin_secs;
    let scans = futures_util::future::join_all(
        (0..keys::REFRESH_SHARDS).map(|shard| app.refresh_index().due(shard, until)),
    )
    .await;
    let mut report = SchedulerReport::default();
    let mut requests = Vec::new();
    let mut oldest_due: Option<i64> = None;
    for scan in scans {
        let scan = scan?;
        report.items_read += scan.items_read;
        report.pages += scan.pages;
        oldest_due = scan.due.iter().map(|d| d.due_at).chain(oldest_due).min();
        requests.extend(
            scan.due
                .iter()
                .map(|d| RefreshRequest::new(&d.user_id, &d.integration_id).body()),
        );
    }
    report.due = requests.len();
    report.unsent = queue.send_all(&requests).await?;
    report.sent = report.due - report.unsent;
    if app.sync_queue.is_some() {
        schedule_syncs(app, now, &mut report).await?;
    }
    count_connected(app, &mut report).await;
    // How far past its due time the most overdue token is: above zero, refreshes fall behind.
    let lag = oldest_due.map_or(0, |due| now - due);
    app.metrics
        .scheduler_run(report.due, lag, report.syncs_queued, report.connected);
    tracing::info!(
        due = report.due,
        sent = report.sent,
        unsent = report.unsent,
        items_read = report.items_read,
        syncs_due = report.syncs_due,
        syncs_queued = report.syncs_queued,
        "refresh scheduler run"
    );
    Ok(report)
}

/// The dashboard's count of connected integrations: a COUNT query of each refresh-index shard,
/// which holds every connected integration. A failure is logged and leaves the count out; the
/// run's real work is done by then.
async fn count_connected(app: &App, report: &mut SchedulerReport) {
    let counts = futures_util::future::join_all(
        (0..keys::REFRESH_SHARDS).map(|shard| app.refresh_index().count_connected(shard)),
    )
    .await;
    let mut connected = 0;
    for count in counts {
        match count {
            Ok((shard_count, read)) => {
                connected += shard_count;
                report.count_items_read += read;
            }
            Err(e) => {
                tracing::warn!(error = %e, "connected integrations not counted");
                return;
            }
        }
    }
    report.connected = Some(connected);
}

/// Queues a sync job for every integration whose scheduled sync is due (the sparse due-sync
/// index, every shard), and moves each one's next sync by its frequency.
async fn schedule_syncs(
    app: &App,
    now: i64,
    report: &mut SchedulerReport,
) -> Result<(), SchedulerError> {
    let scans = futures_util::future::join_all(
        (0..keys::REFRESH_SHARDS).map(|shard| app.sync_schedules().due_syncs(shard, now)),
    )
    .await;
    for scan in scans {
        let scan = scan?;
        report.items_read += scan.items_read;
        report.pages += scan.pages;
        for due in scan.due {
            report.syncs_due += 1;
            let Some(integration) = app
                .integrations()
                .get(&due.user_id, &due.integration_id)
                .await?
            else {
                continue;
            };
            let every = integration.sync_settings.interval_secs();
            // A job per type the settings name (each its own, at most one of a type at a time).
            for sync_type in &integration.sync_settings.sync_types {
                match crate::sync::request_sync(app, &integration, *sync_type, false).await {
                    Ok((_, true)) => report.syncs_queued += 1,
                    Ok((_, false)) | Err(crate::sync::SyncError::NotConnected) => {}
                    Err(crate::sync::SyncError::Store(e)) => return Err(e.into()),
                    Err(crate::sync::SyncError::Queue(e)) => return Err(e.into()),
                    Err(crate::sync::SyncError::NoQueue) => return Err(SchedulerError::NoQueue),
                }
            }
            app.sync_schedules().reschedule(&due, now + every).await?;
        }
    }
    Ok(())
}

/// The sync worker: one job per message (the event source's batch size is 1, a sync being long),
/// messages of a larger batch one after another. A message whose job must wait is reported
/// back; its job keeps its checkpoint.
pub async fn sync_batch(app: &App, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let parsed = message
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<crate::sync::SyncMessage>(b).ok());
        let done = match parsed {
            None => {
                tracing::error!(
                    message_id = id.as_str(),
                    "malformed sync message; left for the dead-letter queue"
                );
                false
            }
            Some(sync) => {
                let origin = RequestOrigin {
                    correlation_id: id.clone(),
                    ip: None,
                    user_agent: None,
                };
                let last_delivery = receives(message) >= app.settings.sync_max_receives;
                crate::sync::run_job(app, &sync, &origin, deadline, last_delivery).await
                    == crate::sync::JobRun::Done
            }
        };
        if !done {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// Refreshes the integration of each message, concurrently, through the one refresh path. A
/// message whose integration is fresh, gone, disconnected or just expired is done; a malformed
/// one, or one whose refresh failed for now, is reported back (partial batch response), so SQS
/// retries it alone and moves it to the dead-letter queue after the redrive policy's receives.
pub async fn refresh_batch(app: &App, event: SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let outcomes = futures_util::future::join_all(event.records.iter().map(|message| async move {
        let id = message.message_id.clone().unwrap_or_default();
        let outcome = refresh_one(app, &id, message.body.as_deref(), deadline).await;
        if let (MessageOutcome::Retry(Some(after)), Some(queue), Some(receipt)) =
            (&outcome, &app.refresh_queue, &message.receipt_handle)
        {
            let tuning = &app.refresh_tuning;
            let backoff =
                doubling_delay(message, tuning.queue_retry_base, tuning.queue_retry_cap);
            let delay = (*after).max(backoff);
            if let Err(e) = queue.redeliver_after(receipt, delay).await {
                // The queue's own visibility timeout brings it back instead.
                tracing::warn!(message_id = id.as_str(), error = %e, "could not shorten the retry delay");
            }
        }
        (id, outcome)
    }))
    .await;
    let mut response = SqsBatchResponse::default();
    for (id, outcome) in outcomes {
        if outcome != MessageOutcome::Done {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            response.batch_item_failures.push(failure);
        }
    }
    response
}

/// The token-recovery consumer: applies each message's sealed tokens (see
/// [`crate::refresh::recover`]). A message whose store write failed comes back soon
/// (`recovery_retry_base`, 1 s, doubling per receive, at most a minute): until it is applied,
/// the next refresh of that integration would present a spent refresh token. A malformed one is
/// left for the dead-letter queue.
pub async fn recovery_batch(app: &App, event: SqsEvent, _deadline: Instant) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for message in &event.records {
        let id = message.message_id.clone().unwrap_or_default();
        let origin = RequestOrigin {
            correlation_id: id.clone(),
            ip: None,
            user_agent: None,
        };
        let parsed = message
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<TokenRecovery>(b).ok());
        let outcome = match &parsed {
            Some(recovery) => crate::refresh::recover(app, recovery, &origin).await,
            None => Err(RefreshError::Malformed),
        };
        let counted = match &outcome {
            Ok(crate::refresh::Recovery::Applied) => "applied",
            Ok(crate::refresh::Recovery::Obsolete) => "obsolete",
            Err(RefreshError::Malformed) => "malformed",
            Err(_) => "retry",
        };
        app.metrics.token_recovery(counted);
        let retry_after = match outcome {
            Ok(_) => continue,
            Err(RefreshError::Malformed) => {
                tracing::error!(
                    message_id = id.as_str(),
                    "malformed recovery message; left for the dead-letter queue"
                );
                None
            }
            Err(e) => {
                tracing::warn!(message_id = id.as_str(), error = %e, "tokens not recovered yet; the message comes back");
                let tuning = &app.refresh_tuning;
                Some(doubling_delay(
                    message,
                    tuning.recovery_retry_base,
                    tuning.recovery_retry_cap,
                ))
            }
        };
        if let (Some(delay), Some(queue), Some(receipt)) =
            (retry_after, &app.recovery_queue, &message.receipt_handle)
            && let Err(e) = queue.redeliver_after(receipt, delay).await
        {
            tracing::warn!(message_id = id.as_str(), error = %e, "could not shorten the retry delay");
        }
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = id;
        response.batch_item_failures.push(failure);
    }
    response
}

#[derive(Debug, PartialEq, Eq)]
enum MessageOutcome {
    /// Finished with: delete it.
    Done,
    /// Deliver it again: after at least this long when known (`Some(0)`: our own backoff),
    /// else after the queue's visibility timeout (a malformed message, bound for the DLQ).
    Retry(Option<std::time::Duration>),
}

async fn refresh_one(
    app: &App,
    message_id: &str,
    body: Option<&str>,
    deadline: Instant,
) -> MessageOutcome {
    let Some((user, id)) = body.and_then(RefreshRequest::parse) else {
        tracing::error!(
            message_id,
            "malformed refresh message; left for the dead-letter queue"
        );
        return MessageOutcome::Retry(None);
    };
    let origin = RequestOrigin {
        correlation_id: message_id.to_string(),
        ip: None,
        user_agent: None,
    };
    let policy = RefreshPolicy::IfExpiringWithin(app.settings.refresh_margin_secs);
    match fresh_tokens(app, &user, &id, policy, &origin, deadline).await {
        Ok(_) => MessageOutcome::Done,
        // Nothing left to refresh: the integration went away, was disconnected, or its grant
        // was found revoked (now `expired`, audited, out of the refresh index).
        Err(
            RefreshError::NotFound | RefreshError::NotConnected(_) | RefreshError::GrantRevoked,
        ) => MessageOutcome::Done,
        Err(e) => {
            tracing::warn!(message_id, integration_id = id.as_str(), error = %e, transient = e.is_transient(), "refresh not done; the message goes back to the queue");
            let asked = match &e {
                RefreshError::ProviderUnavailable { source } => source.retry_after(),
                _ => None,
            };
            MessageOutcome::Retry(Some(asked.unwrap_or_default()))
        }
    }
}

/// How many times SQS has handed this message out (1 on the first delivery).
fn receives(message: &aws_lambda_events::event::sqs::SqsMessage) -> u32 {
    message
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// `base`, doubling with each receive of `message`, at most `cap`.
fn doubling_delay(
    message: &aws_lambda_events::event::sqs::SqsMessage,
    base: std::time::Duration,
    cap: std::time::Duration,
) -> std::time::Duration {
    base.saturating_mul(2u32.saturating_pow(receives(message).saturating_sub(1)))
        .min(cap)
}
