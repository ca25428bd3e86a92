//! Sync jobs, synced events and the due-sync index on the same table (architecture.md, "Data"):
//! jobs at `INTEGRATION#{id}` / `SYNCJOB#{jobId}`, events at `INTEGRATION#{id}` / `EVENT#{externalId}`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeValue, KeysAndAttributes, PutRequest, ReturnValue, TransactWriteItem, Update,
    WriteRequest,
};
use futures_util::StreamExt;

use super::{
    Item, applied, integration_from, is_condition_failure, keys, list, n, s, service_error,
    truncate,
};
use crate::domain::{
    EventRecord, Integration, IntegrationError, IntegrationStatus, RecordChange, SyncCounts,
    SyncJob, SyncSettings, SyncStatus,
};
use crate::ids::{IntegrationId, UserId};
use crate::store::{
    DueIntegration, DueScan, DynamoTable, JobOutcome, JobStart, StoreError, StoredMark, SyncJobs,
    SyncSchedules, SyncedEvents,
};

/// The page mark of records a full sync's final sweep marked deleted.
const SWEEP_PAGE: u32 = u32::MAX;

/// Jobs are kept for a month, then TTL removes them.
const JOB_RETENTION_SECS: i64 = 30 * 24 * 3600;
/// BatchGetItem takes 100 keys, BatchWriteItem 25 requests.
const BATCH_GET: usize = 100;
const BATCH_WRITE: usize = 25;
/// Rounds of retrying unprocessed items before giving up (the message goes back to the queue).
const UNPROCESSED_ROUNDS: u32 = 8;

fn job_key(integration: &str, job_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_string(), s(keys::integration(integration))),
        (keys::SK.to_string(), s(keys::sync_job(job_id))),
    ])
}

fn error_value(e: &IntegrationError) -> AttributeValue {
    super::integration_error_value(e)
}

fn job_from(item: &HashMap<String, AttributeValue>) -> Result<SyncJob, StoreError> {
    let it = Item(item);
    let corrupt = |what: &str| StoreError::Corrupt(format!("sync job {what}"));
    let count =
        |name: &str| -> Result<u64, StoreError> { Ok(it.opt_n(name)?.unwrap_or(0).max(0) as u64) };
    Ok(SyncJob {
        job_id: it.s("jobId")?,
        user_id: UserId::parse(&it.s("userId")?).map_err(|_| corrupt("userId"))?,
        integration_id: IntegrationId::parse(&it.s("integrationId")?)
            .map_err(|_| corrupt("integrationId"))?,
        sync_type: it.s("syncType")?,
        full: matches!(item.get("full"), Some(AttributeValue::Bool(true))),
        status: SyncStatus::parse(&it.s("status")?).ok_or_else(|| corrupt("status"))?,
        counts: SyncCounts {
            created: count("created")?,
            updated: count("updated")?,
            deleted: count("deleted")?,
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

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Service(format!("request not built: {e}")))
}

#[async_trait]
impl SyncJobs for DynamoTable {
    async fn start(
        &self,
        integration: &Integration,
        job: &SyncJob,
        stale_before: i64,
    ) -> Result<JobStart, StoreError> {
        let now = crate::domain::now_epoch();
        let mut item = job_key(job.integration_id.as_str(), &job.job_id);
        item.extend([
            ("jobId".to_string(), s(job.job_id.clone())),
            ("userId".to_string(), s(job.user_id.as_str())),
            ("integrationId".to_string(), s(job.integration_id.as_str())),
            ("syncType".to_string(), s(job.sync_type.clone())),
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
        let claim = build(
            Update::builder()
                .table_name(&self.table)
                .key(keys::PK, s(keys::user(integration.user_id.as_str())))
                .key(keys::SK, s(keys::integration(integration.id.as_str())))
                .update_expression("SET activeSyncJob = :job, activeSyncAt = :now")
                .condition_expression(
                    "#status = :connected AND (attribute_not_exists(activeSyncJob) OR activeSyncAt < :stale)",
                )
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":job", s(job.job_id.clone()))
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
                let current =
                    super::IntegrationRecords::get(self, &integration.user_id, &integration.id)
                        .await?
                        .ok_or(StoreError::Conflict)?;
                match current.active_sync_job {
                    Some(active) if current.status == IntegrationStatus::Connected => {
                        Ok(JobStart::Existing(active))
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
        job_id: &str,
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
            .expression_attribute_values(":now", s(crate::http::now_rfc3339()));
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
            .expression_attribute_values(":d", n(counts.deleted));
        let add = "ADD created :c, updated :u, deleted :d";
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
        let now = crate::http::now_rfc3339();
        let mut job_update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(job_key(job.integration_id.as_str(), &job.job_id)))
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":running", s(SyncStatus::Running.as_str()))
            .expression_attribute_values(":now", s(now.clone()));
        let mut integration_update = Update::builder()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(job.user_id.as_str())))
            .key(keys::SK, s(keys::integration(job.integration_id.as_str())))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":job", s(job.job_id.clone()));
        match outcome {
            JobOutcome::Succeeded { cursor, swept } => {
                job_update = job_update
                    .update_expression(
                        "SET #status = :done, finishedAt = :now ADD deleted :swept REMOVE pageToken",
                    )
                    .expression_attribute_values(":done", s(SyncStatus::Succeeded.as_str()))
                    .expression_attribute_values(":swept", n(swept));
                let clear = "REMOVE activeSyncJob, activeSyncAt";
                integration_update = integration_update
                    .expression_attribute_values(":now", s(now))
                    // The active job is cleared only if it is this one.
                    .update_expression(match cursor {
                        Some(_) => {
                            format!("SET lastSyncAt = :now, calendarCursor = :cursor {clear}")
                        }
                        None => format!("SET lastSyncAt = :now {clear}"),
                    });
                if let Some(cursor) = cursor {
                    integration_update =
                        integration_update.expression_attribute_values(":cursor", s(cursor));
                }
            }
            JobOutcome::Failed { error } => {
                job_update = job_update
                    .update_expression("SET #status = :failed, finishedAt = :now, #error = :error")
                    .expression_attribute_names("#error", "error")
                    .expression_attribute_values(":failed", s(SyncStatus::Failed.as_str()))
                    .expression_attribute_values(":error", error_value(error));
                integration_update =
                    integration_update.update_expression("REMOVE activeSyncJob, activeSyncAt");
            }
        }
        // Clear the active job only when it is this one (a stale job may have been replaced).
        integration_update = integration_update
            .condition_expression("attribute_exists(PK) AND (attribute_not_exists(activeSyncJob) OR activeSyncJob = :job)");
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

fn event_key(integration: &str, external_id: &str) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_string(), s(keys::integration(integration))),
        (keys::SK.to_string(), s(keys::event(external_id))),
    ])
}

fn event_from(item: &HashMap<String, AttributeValue>) -> Result<EventRecord, StoreError> {
    let it = Item(item);
    Ok(EventRecord {
        id: it.s("id")?,
        external_id: it.s("externalId")?,
        title: it.opt_s("title").unwrap_or_default(),
        description: it.opt_s("description"),
        start_time: it.opt_s("startTime"),
        end_time: it.opt_s("endTime"),
        attendees: it.strings("attendees"),
        location: it.opt_s("location"),
        updated_at: it.opt_s("updatedAt"),
        deleted: matches!(item.get("deleted"), Some(AttributeValue::Bool(true))),
    })
}

/// Waits before retrying unprocessed items: 50 ms doubling, with full jitter.
async fn unprocessed_pause(round: u32) {
    let backoff = crate::refresh::Backoff {
        attempts: UNPROCESSED_ROUNDS,
        base: Duration::from_millis(50),
        cap: Duration::from_secs(2),
    };
    tokio::time::sleep(backoff.delay(round)).await;
}

#[async_trait]
impl SyncedEvents for DynamoTable {
    async fn marks(
        &self,
        integration: &IntegrationId,
        external_ids: &[String],
    ) -> Result<HashMap<String, StoredMark>, StoreError> {
        // A page's chunks in parallel, as its writes.
        let chunks = futures_util::future::join_all(
            external_ids
                .chunks(BATCH_GET)
                .map(|chunk| self.read_marks(integration, chunk)),
        )
        .await;
        let mut marks = HashMap::new();
        for chunk in chunks {
            marks.extend(chunk?);
        }
        Ok(marks)
    }

    async fn put_page(
        &self,
        integration: &IntegrationId,
        records: &[(EventRecord, RecordChange)],
        job_id: &str,
        page_index: u32,
    ) -> Result<(), StoreError> {
        let mut batches = Vec::new();
        for chunk in records.chunks(BATCH_WRITE) {
            let mut requests = Vec::with_capacity(chunk.len());
            for (record, change) in chunk {
                let mut item = event_key(integration.as_str(), &record.external_id);
                item.extend([
                    ("id".to_string(), s(record.id.clone())),
                    ("externalId".to_string(), s(record.external_id.clone())),
                    ("title".to_string(), s(truncate(&record.title, 1024))),
                    ("attendees".to_string(), list(&record.attendees)),
                    ("deleted".to_string(), AttributeValue::Bool(record.deleted)),
                    ("syncJob".to_string(), s(job_id)),
                    ("syncPage".to_string(), n(page_index)),
                    ("syncChange".to_string(), s(change.as_str())),
                ]);
                for (name, value) in [
                    ("description", &record.description),
                    ("startTime", &record.start_time),
                    ("endTime", &record.end_time),
                    ("location", &record.location),
                    ("updatedAt", &record.updated_at),
                ] {
                    if let Some(v) = value {
                        item.insert(name.to_string(), s(truncate(v, 8 * 1024)));
                    }
                }
                requests.push(
                    WriteRequest::builder()
                        .put_request(build(PutRequest::builder().set_item(Some(item)).build())?)
                        .build(),
                );
            }
            batches.push(requests);
        }
        // A page's batches in parallel: their latencies overlap instead of adding up.
        let results: Vec<Result<(), StoreError>> = futures_util::stream::iter(batches)
            .map(|batch| self.write_batch(batch))
            .buffer_unordered(BATCHES_IN_FLIGHT)
            .collect()
            .await;
        results.into_iter().collect()
    }

    async fn sweep_unlisted(
        &self,
        integration: &IntegrationId,
        job_id: &str,
    ) -> Result<u64, StoreError> {
        let pk = keys::integration(integration.as_str());
        let mut swept = 0;
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                // Live records another job wrote, and the ones this job's sweep already marked.
                .filter_expression(
                    "(syncJob <> :job AND #deleted = :no) OR (syncJob = :job AND syncPage = :sweep)",
                )
                .projection_expression("SK, syncJob")
                .expression_attribute_names("#deleted", "deleted")
                .expression_attribute_values(":pk", s(pk.clone()))
                .expression_attribute_values(":prefix", s("EVENT#"))
                .expression_attribute_values(":job", s(job_id))
                .expression_attribute_values(":no", AttributeValue::Bool(false))
                .expression_attribute_values(":sweep", n(SWEEP_PAGE))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service_error)?;
            for item in out.items() {
                let it = Item(item);
                swept += 1;
                if it.opt_s("syncJob").as_deref() == Some(job_id) {
                    continue;
                }
                self.client
                    .update_item()
                    .table_name(&self.table)
                    .key(keys::PK, s(pk.clone()))
                    .key(keys::SK, s(it.s(keys::SK)?))
                    .update_expression(
                        "SET #deleted = :yes, syncJob = :job, syncPage = :sweep, syncChange = :change",
                    )
                    .expression_attribute_names("#deleted", "deleted")
                    .expression_attribute_values(":yes", AttributeValue::Bool(true))
                    .expression_attribute_values(":job", s(job_id))
                    .expression_attribute_values(":sweep", n(SWEEP_PAGE))
                    .expression_attribute_values(":change", s(RecordChange::Deleted.as_str()))
                    .send()
                    .await
                    .map_err(service_error)?;
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(swept),
            }
        }
    }

    async fn page(
        &self,
        integration: &IntegrationId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<EventRecord>, Option<String>), StoreError> {
        let pk = keys::integration(integration.as_str());
        // The cursor carries only the sort key; the partition always comes from the caller.
        let start = cursor.map(|c| {
            HashMap::from([
                (keys::PK.to_string(), s(pk.clone())),
                (keys::SK.to_string(), s(c)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
            .expression_attribute_values(":pk", s(pk))
            .expression_attribute_values(":prefix", s("EVENT#"))
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(service_error)?;
        let events = out
            .items()
            .iter()
            .map(event_from)
            .collect::<Result<_, _>>()?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| Item(k).opt_s(keys::SK));
        Ok((events, next))
    }
}

/// BatchWriteItem calls of one page in flight at once.
const BATCHES_IN_FLIGHT: usize = 4;

impl DynamoTable {
    /// One BatchGetItem of up to 100 records' marks, unprocessed keys retried with backoff.
    async fn read_marks(
        &self,
        integration: &IntegrationId,
        chunk: &[String],
    ) -> Result<HashMap<String, StoredMark>, StoreError> {
        let mut marks = HashMap::new();
        let keys_list: Vec<_> = chunk
            .iter()
            .map(|e| event_key(integration.as_str(), e))
            .collect();
        let mut pending = Some(build(
            KeysAndAttributes::builder()
                .set_keys(Some(keys_list))
                .consistent_read(true)
                .projection_expression(
                    "externalId, updatedAt, #deleted, syncJob, syncPage, syncChange",
                )
                .expression_attribute_names("#deleted", "deleted")
                .build(),
        )?);
        let mut round = 0;
        while let Some(request) = pending.take() {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(service_error)?;
            for item in out
                .responses
                .as_ref()
                .and_then(|r| r.get(&self.table))
                .into_iter()
                .flatten()
            {
                let it = Item(item);
                let written_by = match (it.opt_s("syncJob"), it.opt_n("syncPage")?) {
                    (Some(job), Some(page)) => Some((job, page.max(0) as u32)),
                    _ => None,
                };
                marks.insert(
                    it.s("externalId")?,
                    StoredMark {
                        updated_at: it.opt_s("updatedAt"),
                        deleted: matches!(item.get("deleted"), Some(AttributeValue::Bool(true))),
                        written_by,
                        change: it.opt_s("syncChange").and_then(|c| RecordChange::parse(&c)),
                    },
                );
            }
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .filter(|k| !k.keys().is_empty());
            if pending.is_some() {
                round += 1;
                if round >= UNPROCESSED_ROUNDS {
                    return Err(StoreError::Service(
                        "BatchGetItem kept keys unprocessed".into(),
                    ));
                }
                unprocessed_pause(round).await;
            }
        }
        Ok(marks)
    }

    /// One BatchWriteItem, its unprocessed items retried with backoff.
    async fn write_batch(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let mut pending = requests;
        let mut round = 0;
        while !pending.is_empty() {
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(service_error)?;
            pending = out
                .unprocessed_items
                .and_then(|mut u| u.remove(&self.table))
                .unwrap_or_default();
            if !pending.is_empty() {
                round += 1;
                if round >= UNPROCESSED_ROUNDS {
                    return Err(StoreError::Service(
                        "BatchWriteItem kept items unprocessed".into(),
                    ));
                }
                unprocessed_pause(round).await;
            }
        }
        Ok(())
    }
}

fn sync_index_values(id: &str, at: i64) -> (AttributeValue, AttributeValue) {
    (
        s(keys::sync_partition(keys::refresh_shard(id))),
        s(keys::refresh_sort(at, id)),
    )
}

fn sync_settings_value(settings: &SyncSettings) -> AttributeValue {
    super::sync_settings_value(settings)
}

#[async_trait]
impl SyncSchedules for DynamoTable {
    async fn save_sync_settings(
        &self,
        i: &Integration,
        settings: &SyncSettings,
        next_sync_at: Option<i64>,
    ) -> Result<Integration, StoreError> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(i.user_id.as_str())))
            .key(keys::SK, s(keys::integration(i.id.as_str())))
            .condition_expression("version = :version AND #status = :connected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":version", n(i.version))
            .expression_attribute_values(":connected", s(IntegrationStatus::Connected.as_str()))
            .expression_attribute_values(":settings", sync_settings_value(settings))
            .expression_attribute_values(":now", s(crate::http::now_rfc3339()))
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::AllNew);
        let base = "SET syncSettings = :settings, updatedAt = :now, version = version + :one";
        request = match next_sync_at {
            Some(at) => {
                let (pk, sk) = sync_index_values(i.id.as_str(), at);
                request
                    .update_expression(format!(
                        "{base}, nextSyncAt = :at, GSI2PK = :pk2, GSI2SK = :sk2"
                    ))
                    .expression_attribute_values(":at", n(at))
                    .expression_attribute_values(":pk2", pk)
                    .expression_attribute_values(":sk2", sk)
            }
            None => request.update_expression(format!("{base} REMOVE nextSyncAt, GSI2PK, GSI2SK")),
        };
        match request.send().await {
            Ok(out) => integration_from(
                out.attributes
                    .as_ref()
                    .ok_or_else(|| StoreError::Corrupt("no attributes returned".into()))?,
            ),
            Err(e) if is_condition_failure(&e) => Err(StoreError::Conflict),
            Err(e) => Err(service_error(e)),
        }
    }

    async fn due_syncs(&self, shard: u8, until: i64) -> Result<DueScan, StoreError> {
        self.due_on(
            keys::SYNC_INDEX,
            "GSI2PK",
            "GSI2SK",
            keys::sync_partition(shard),
            until,
        )
        .await
    }

    async fn reschedule(&self, due: &DueIntegration, next_sync_at: i64) -> Result<(), StoreError> {
        let (pk, sk) = sync_index_values(due.integration_id.as_str(), next_sync_at);
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::user(due.user_id.as_str())))
            .key(keys::SK, s(keys::integration(due.integration_id.as_str())))
            // Only while still scheduled: a concurrent PATCH that disabled it wins.
            .update_expression("SET nextSyncAt = :at, GSI2PK = :pk2, GSI2SK = :sk2")
            .condition_expression("attribute_exists(GSI2PK)")
            .expression_attribute_values(":at", n(next_sync_at))
            .expression_attribute_values(":pk2", pk)
            .expression_attribute_values(":sk2", sk)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(service_error(e)),
        }
    }
}
