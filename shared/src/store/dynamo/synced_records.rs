//! `SyncedRecords`: synced calendar events at `INTEGRATION#{id}` / `EVENT#{externalId}`, written
//! in batches with a page mark, swept at the end of a full listing.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoTable;
use super::codec::*;
use super::keys;
use std::time::Duration;

use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use futures_util::StreamExt;

use crate::domain::{EventRecord, RecordChange};
use crate::ids::{IntegrationId, JobId};
use crate::store::{StoreError, StoredMark, SyncedRecords};

/// The page mark of records a full sync's final sweep marked deleted.
const SWEEP_PAGE: u32 = u32::MAX;

/// BatchGetItem takes 100 keys, BatchWriteItem 25 requests.
const BATCH_GET: usize = 100;
const BATCH_WRITE: usize = 25;
/// Rounds of retrying unprocessed items before giving up (the message goes back to the queue).
const UNPROCESSED_ROUNDS: u32 = 8;

pub(super) fn event_key(integration: &str, external_id: &str) -> HashMap<String, AttributeValue> {
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
    let backoff = crate::retry::Backoff {
        attempts: UNPROCESSED_ROUNDS,
        base: Duration::from_millis(50),
        cap: Duration::from_secs(2),
    };
    tokio::time::sleep(backoff.delay(round)).await;
}

/// At most this many attendees, each cut to an e-mail address's longest (RFC 5321: 254): an
/// item stays far below DynamoDB's 400 KB whatever the provider lists.
const MAX_ATTENDEES: usize = 500;
const MAX_ATTENDEE_BYTES: usize = 254;

fn attendees_value(attendees: &[String]) -> AttributeValue {
    AttributeValue::L(
        attendees
            .iter()
            .take(MAX_ATTENDEES)
            .map(|a| s(truncate(a, MAX_ATTENDEE_BYTES)))
            .collect(),
    )
}

/// A record's item, with the mark of what wrote it: a sync job's page, or a write route.
pub(super) fn record_item(
    integration: &IntegrationId,
    record: &EventRecord,
    written_by: &str,
    page_index: u32,
    change: RecordChange,
) -> HashMap<String, AttributeValue> {
    let mut item = event_key(integration.as_str(), &record.external_id);
    item.extend([
        ("id".to_string(), s(record.id.clone())),
        ("externalId".to_string(), s(record.external_id.clone())),
        ("title".to_string(), s(truncate(&record.title, 1024))),
        ("attendees".to_string(), attendees_value(&record.attendees)),
        ("deleted".to_string(), AttributeValue::Bool(record.deleted)),
        ("syncJob".to_string(), s(written_by)),
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
    item
}

#[async_trait]
impl SyncedRecords for DynamoTable {
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
        job_id: &JobId,
        page_index: u32,
    ) -> Result<(), StoreError> {
        let mut batches = Vec::new();
        for chunk in records.chunks(BATCH_WRITE) {
            let mut requests = Vec::with_capacity(chunk.len());
            for (record, change) in chunk {
                let item = record_item(integration, record, job_id.as_str(), page_index, *change);
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
        job_id: &JobId,
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
                .expression_attribute_values(":job", s(job_id.as_str()))
                .expression_attribute_values(":no", AttributeValue::Bool(false))
                .expression_attribute_values(":sweep", n(SWEEP_PAGE))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service_error)?;
            for item in out.items() {
                let it = Item(item);
                swept += 1;
                if it.opt_s("syncJob").as_deref() == Some(job_id.as_str()) {
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
                    .expression_attribute_values(":job", s(job_id.as_str()))
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
