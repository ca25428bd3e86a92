//! `SyncJobs`: jobs at `INTEGRATION#{id}` / `SYNCJOB#{jobId}`, started and finished in one
//! transaction with the integration's active-job mark.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoTable;
use super::codec::*;
use super::keys;
use aws_sdk_dynamodb::types::{TransactWriteItem, Update};

use crate::domain::{Integration, IntegrationStatus, SyncCounts, SyncJob, SyncStatus, SyncType};
use crate::ids::{IntegrationId, JobId, UserId};
use crate::store::{JobOutcome, JobStart, StoreError, SyncJobs};

/// Jobs are kept for a month, then TTL removes them.
const JOB_RETENTION_SECS: i64 = 30 * 24 * 3600;

fn job_key(integration: &str, job_id: &JobId) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_string(), s(keys::integration(integration))),
        (keys::SK.to_string(), s(keys::sync_job(job_id.as_str()))),
    ])
}

fn job_from(item: &HashMap<String, AttributeValue>) -> Result<SyncJob, StoreError> {
    let it = Item(item);
    let corrupt = |what: &str| StoreError::Corrupt(format!("sync job {what}"));
    let count =
        |name: &str| -> Result<u64, StoreError> { Ok(it.opt_n(name)?.unwrap_or(0).max(0) as u64) };
    Ok(SyncJob {
        job_id: parse_job_id(&it.s("jobId")?)?,
        user_id: UserId::parse(&it.s("userId")?).map_err(|_| corrupt("userId"))?,
        integration_id: IntegrationId::parse(&it.s("integrationId")?)
            .map_err(|_| corrupt("integrationId"))?,
        sync_type: SyncType::parse(&it.s("syncType")?)
            .ok_or_else(|| StoreError::Corrupt("sync type".into()))?,
        full: matches!(item.get("full"), Some(AttributeValue::Bool(true))),
        status: SyncStatus::parse(&it.s("status")?).ok_or_else(|| corrupt("status"))?,
        counts: SyncCounts {
            created: count("created")?,
            updated: count("updated")?,
            deleted: count("deleted")?,
            skipped: count("skipped")?,
        },
        error: it.integration_error("error")?,
        created_at: it.s("createdAt")?,
        started_at: it.opt_s("startedAt"),
        finished_at: it.opt_s("finishedAt"),
        page_index: it.opt_n("pageIndex")?.unwrap_or(0).max(0) as u32,
        page_token: it.opt_s("pageToken"),
        since_cursor: it.opt_s("sinceCursor"),
        listed: matches!(item.get("listed"), Some(AttributeValue::Bool(true))),
        final_cursor: it.opt_s("finalCursor"),
    })
}

#[async_trait]
impl SyncJobs for DynamoTable {
    async fn start(
        &self,
        integration: &Integration,
        job: &SyncJob,
        stale_before: i64,
    ) -> Result<JobStart, StoreError> {
        let now = crate::clock::now_epoch();
        let mut item = job_key(job.integration_id.as_str(), &job.job_id);
        item.extend([
            ("jobId".to_string(), s(job.job_id.as_str())),
            ("userId".to_string(), s(job.user_id.as_str())),
            ("integrationId".to_string(), s(job.integration_id.as_str())),
            ("syncType".to_string(), s(job.sync_type.as_str())),
            ("full".to_string(), AttributeValue::Bool(job.full)),
            ("status".to_string(), s(SyncStatus::Queued.as_str())),
            ("createdAt".to_string(), s(job.created_at.clone())),
            ("pageIndex".to_string(), n(0)),
            (keys::TTL.to_string(), n(now + JOB_RETENTION_SECS)),
        ]);
        let put = build(
            aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build(),
        )?;
        // One job of a type at a time: the integration names it, per type.
        let (active, active_at, _) = keys::sync_attributes(job.sync_type);
        let claim = build(
            Update::builder()
                .table_name(&self.table)
                .key(keys::PK, s(keys::user(integration.user_id.as_str())))
                .key(keys::SK, s(keys::integration(integration.id.as_str())))
                .update_expression("SET #active = :job, #activeAt = :now")
                .condition_expression(
                    "#status = :connected AND (attribute_not_exists(#active) OR #activeAt < :stale)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_names("#active", active)
                .expression_attribute_names("#activeAt", active_at)
                .expression_attribute_values(":job", s(job.job_id.as_str()))
                .expression_attribute_values(":now", n(now))
                .expression_attribute_values(":stale", n(stale_before))
                .expression_attribute_values(
                    ":connected",
                    s(IntegrationStatus::Connected.as_str()),
                )
                .build(),
        )?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(claim).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(JobStart::Created),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                // The integration's condition failed: another job is active, or it is not connected.
                let current = crate::store::IntegrationRecords::get(
                    self,
                    &integration.user_id,
                    &integration.id,
                )
                .await?
                .ok_or(StoreError::Conflict)?;
                match current.active_job(job.sync_type) {
                    Some(active) if current.status == IntegrationStatus::Connected => {
                        Ok(JobStart::Existing(active.clone()))
                    }
                    _ => Err(StoreError::Conflict),
                }
            }
            Err(e) => Err(service_error(e)),
        }
    }

    async fn get(
        &self,
        integration: &IntegrationId,
        job_id: &JobId,
    ) -> Result<Option<SyncJob>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(job_key(integration.as_str(), job_id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(service_error)?;
        out.item.as_ref().map(job_from).transpose()
    }

    async fn mark_running(&self, job: &SyncJob, since: Option<&str>) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(job.integration_id.as_str(), &job.job_id)))
            .condition_expression("#status = :queued")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":queued", s(SyncStatus::Queued.as_str()))
            .expression_attribute_values(":running", s(SyncStatus::Running.as_str()))
            .expression_attribute_values(":now", s(crate::clock::now_rfc3339()));
        request = match since {
            Some(cursor) => request
                .update_expression("SET #status = :running, startedAt = :now, sinceCursor = :since")
                .expression_attribute_values(":since", s(cursor)),
            None => request.update_expression("SET #status = :running, startedAt = :now"),
        };
        applied(request.send().await)
    }

    async fn commit_page(
        &self,
        job: &SyncJob,
        counts: SyncCounts,
        next_page: Option<&str>,
        final_cursor: Option<&str>,
    ) -> Result<bool, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(job.integration_id.as_str(), &job.job_id)))
            .condition_expression("pageIndex = :expected AND #status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(SyncStatus::Running.as_str()))
            .expression_attribute_values(":expected", n(job.page_index))
            .expression_attribute_values(":next", n(job.page_index + 1))
            .expression_attribute_values(":c", n(counts.created))
            .expression_attribute_values(":u", n(counts.updated))
            .expression_attribute_values(":d", n(counts.deleted))
            .expression_attribute_values(":k", n(counts.skipped));
        let add = "ADD created :c, updated :u, deleted :d, skipped :k";
        request = match (next_page, final_cursor) {
            (Some(token), _) => request
                .update_expression(format!("SET pageIndex = :next, pageToken = :token {add}"))
                .expression_attribute_values(":token", s(token)),
            (None, Some(cursor)) => request
                .update_expression(format!(
                    "SET pageIndex = :next, listed = :yes, finalCursor = :cursor {add} REMOVE pageToken"
                ))
                .expression_attribute_values(":yes", AttributeValue::Bool(true))
                .expression_attribute_values(":cursor", s(cursor)),
            (None, None) => request
                .update_expression(format!(
                    "SET pageIndex = :next, listed = :yes {add} REMOVE pageToken"
                ))
                .expression_attribute_values(":yes", AttributeValue::Bool(true)),
        };
        applied(request.send().await)
    }

    async fn restart_full(&self, job: &SyncJob) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(job_key(job.integration_id.as_str(), &job.job_id)))
            .update_expression("SET #full = :yes REMOVE pageToken, sinceCursor")
            .condition_expression("pageIndex = :expected AND #status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#full", "full")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":running", s(SyncStatus::Running.as_str()))
            .expression_attribute_values(":expected", n(job.page_index))
            .send()
            .await;
        applied(result)
    }

    async fn finish(&self, job: &SyncJob, outcome: JobOutcome<'_>) -> Result<(), StoreError> {
        let now = crate::clock::now_rfc3339();
        let mut job_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(job_key(job.integration_id.as_str(), &job.job_id)))
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(SyncStatus::Running.as_str()))
            .expression_attribute_values(":now", s(now.clone()));
        let (active, active_at, cursor_attribute) = keys::sync_attributes(job.sync_type);
        let mut integration_update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(job.user_id.as_str())))
            .key(keys::SK, s(keys::integration(job.integration_id.as_str())))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#active", active)
            .expression_attribute_names("#activeAt", active_at)
            .expression_attribute_values(":job", s(job.job_id.as_str()));
        match outcome {
            JobOutcome::Succeeded { cursor, swept } => {
                job_update = job_update
                    .update_expression(
                        "SET #status = :done, finishedAt = :now ADD deleted :swept REMOVE pageToken",
                    )
                    .expression_attribute_values(":done", s(SyncStatus::Succeeded.as_str()))
                    .expression_attribute_values(":swept", n(swept));
                // A success clears the failure a job left for the app to show.
                let clear = "REMOVE #active, #activeAt, lastError";
                integration_update = integration_update
                    .expression_attribute_values(":now", s(now))
                    // The active job is cleared only if it is this one.
                    .update_expression(match cursor {
                        Some(_) => format!("SET lastSyncAt = :now, #cursor = :cursor {clear}"),
                        None => format!("SET lastSyncAt = :now {clear}"),
                    });
                if let Some(cursor) = cursor {
                    integration_update = integration_update
                        .expression_attribute_names("#cursor", cursor_attribute)
                        .expression_attribute_values(":cursor", s(cursor));
                }
            }
            JobOutcome::Failed { error } => {
                job_update = job_update
                    .update_expression("SET #status = :failed, finishedAt = :now, #error = :error")
                    .expression_attribute_names("#error", "error")
                    .expression_attribute_values(":failed", s(SyncStatus::Failed.as_str()))
                    .expression_attribute_values(":error", integration_error_value(error));
                // The failure is the integration's `lastError` too, for the app to show.
                integration_update = integration_update
                    .update_expression("SET lastError = :error REMOVE #active, #activeAt")
                    .expression_attribute_values(":error", integration_error_value(error));
            }
        }
        // Clear the active job only when it is this one (a stale job may have been replaced).
        integration_update = integration_update.condition_expression(
            "attribute_exists(PK) AND (attribute_not_exists(#active) OR #active = :job)",
        );
        let job_update = build(job_update.build())?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder()
                    .update(job_update.clone())
                    .build(),
            )
            .transact_items(
                TransactWriteItem::builder()
                    .update(build(integration_update.build())?)
                    .build(),
            )
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                // The integration names another active job (this one went stale and was
                // replaced), or this job is no longer running: end this job alone, if running.
                let alone = self
                    .client
                    .update_item()
                    .table_name(&self.table)
                    .set_key(Some(job_update.key().clone()))
                    .update_expression(job_update.update_expression())
                    .set_condition_expression(job_update.condition_expression().map(str::to_string))
                    .set_expression_attribute_names(
                        job_update.expression_attribute_names().cloned(),
                    )
                    .set_expression_attribute_values(
                        job_update.expression_attribute_values().cloned(),
                    )
                    .send()
                    .await;
                if applied(alone)? {
                    Ok(())
                } else {
                    Err(StoreError::Conflict)
                }
            }
            Err(e) => Err(service_error(e)),
        }
    }
}
