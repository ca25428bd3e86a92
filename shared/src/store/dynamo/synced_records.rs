//! `SyncedRecords`: synced events and contacts under `INTEGRATION#{id}` (record_codec.rs),
//! written in batches with a page mark, swept at the end of a full listing.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoTable;
use super::codec::*;
use super::keys;
use super::record_codec::{contact_from, event_from, record_item, record_key};
use std::time::Duration;

use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use futures_util::StreamExt;

use crate::domain::{ContactRecord, EventRecord, RecordChange, SyncType, SyncedRecord};
use crate::ids::{IntegrationId, JobId};
use crate::store::{StoreError, StoredMark, SyncedRecords};

/// The page mark of records a full sync's final sweep marked deleted.
const SWEEP_PAGE: u32 = u32::MAX;

/// BatchGetItem takes 100 keys, BatchWriteItem 25 requests.
const BATCH_GET: usize = 100;
const BATCH_WRITE: usize = 25;
/// Rounds of retrying unprocessed items before giving up (the message goes back to the queue).
const UNPROCESSED_ROUNDS: u32 = 8;

/// Waits before retrying unprocessed items: 50 ms doubling, with full jitter.
async fn unprocessed_pause(round: u32) {
    let backoff = crate::retry::Backoff {
        attempts: UNPROCESSED_ROUNDS,
        base: Duration::from_millis(50),
        cap: Duration::from_secs(2),
    };
    tokio::time::sleep(backoff.delay(round)).await;
}

#[async_trait]
impl SyncedRecords for DynamoTable {
    async fn marks(
        &self,
        integration: &IntegrationId,
        sync_type: SyncType,
        external_ids: &[String],
    ) -> Result<HashMap<String, StoredMark>, StoreError> {
        // A page's chunks in parallel, as its writes.
        let chunks = futures_util::future::join_all(
            external_ids
                .chunks(BATCH_GET)
                .map(|chunk| self.read_marks(integration, sync_type, chunk)),
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
        records: &[(SyncedRecord, RecordChange)],
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
        sync_type: SyncType,
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
                .expression_attribute_values(":prefix", s(keys::record_prefix(sync_type)))
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
        let (items, next) = self
            .records_page(integration, SyncType::Calendar, limit, cursor)
            .await?;
        let events = items.iter().map(event_from).collect::<Result<_, _>>()?;
        Ok((events, next))
    }

    async fn contacts_page(
        &self,
        integration: &IntegrationId,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<ContactRecord>, Option<String>), StoreError> {
        let (items, next) = self
            .records_page(integration, SyncType::Contacts, limit, cursor)
            .await?;
        let contacts = items.iter().map(contact_from).collect::<Result<_, _>>()?;
        Ok((contacts, next))
    }
}

/// One Query page of items: the items, and the sort key to go on from.
type ItemsPage = (Vec<HashMap<String, AttributeValue>>, Option<String>);

impl DynamoTable {
    /// Records of `sync_type` in external-id order, from after `cursor` (a sort key).
    async fn records_page(
        &self,
        integration: &IntegrationId,
        sync_type: SyncType,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<ItemsPage, StoreError> {
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
            .expression_attribute_values(":prefix", s(keys::record_prefix(sync_type)))
            .limit(limit as i32)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(service_error)?;
        let next = out
            .last_evaluated_key
            .as_ref()
            .and_then(|k| Item(k).opt_s(keys::SK));
        Ok((out.items.unwrap_or_default(), next))
    }
}

/// BatchWriteItem calls of one page in flight at once.
const BATCHES_IN_FLIGHT: usize = 4;

impl DynamoTable {
    /// One BatchGetItem of up to 100 records' marks, unprocessed keys retried with backoff.
    async fn read_marks(
        &self,
        integration: &IntegrationId,
        sync_type: SyncType,
        chunk: &[String],
    ) -> Result<HashMap<String, StoredMark>, StoreError> {
        let mut marks = HashMap::new();
        let keys_list: Vec<_> = chunk
            .iter()
            .map(|e| record_key(integration.as_str(), sync_type, e))
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
