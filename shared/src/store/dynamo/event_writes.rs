//! `EventWrites`: the records the event write routes leave, beside the synced ones at
//! `INTEGRATION#{id}` / `EVENT#{externalId}`, and create idempotency keys at
//! `INTEGRATION#{id}` / `IDEMPOTENCY#{sha256(key)}`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoTable;
use super::codec::*;
use super::keys;
use super::record_codec::{event_key, record_item};
use crate::domain::{EventRecord, RecordChange, SyncedRecord};
use crate::ids::IntegrationId;
use crate::store::{EventWrites, KeyClaim, StoreError};

/// The write mark of a record no sync job wrote. No job id looks like it, so a full listing's
/// sweep treats the record as any other it did not list.
const WRITTEN_BY_ROUTE: &str = "write-route";

#[async_trait]
impl EventWrites for DynamoTable {
    async fn put_written(
        &self,
        integration: &IntegrationId,
        record: &EventRecord,
    ) -> Result<(), StoreError> {
        let change = if record.deleted {
            RecordChange::Deleted
        } else {
            RecordChange::Updated
        };
        let record = SyncedRecord::Event(record.clone());
        let item = record_item(integration, &record, WRITTEN_BY_ROUTE, 0, change);
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(service_error)?;
        Ok(())
    }

    async fn mark_deleted(
        &self,
        integration: &IntegrationId,
        external_id: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(event_key(integration.as_str(), external_id)))
            .condition_expression("attribute_exists(PK)")
            .update_expression(
                "SET #deleted = :yes, syncJob = :by, syncPage = :zero, syncChange = :change",
            )
            .expression_attribute_names("#deleted", "deleted")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":by", s(WRITTEN_BY_ROUTE))
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":change", s(RecordChange::Deleted.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(service_error(e)),
        }
    }

    async fn claim_key(
        &self,
        integration: &IntegrationId,
        key_hash: &str,
        fingerprint: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<KeyClaim, StoreError> {
        let key = HashMap::from([
            (
                keys::PK.to_string(),
                s(keys::integration(integration.as_str())),
            ),
            (keys::SK.to_string(), s(keys::idempotency(key_hash))),
        ]);
        let mut item = key.clone();
        item.extend([
            ("fingerprint".to_string(), s(fingerprint)),
            (keys::TTL.to_string(), n(expires_at)),
        ]);
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            // TTL deletion lags: a claim past its time is treated as gone.
            .condition_expression("attribute_not_exists(PK) OR #ttl < :now")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":now", n(now))
            .send()
            .await;
        match put {
            Ok(_) => Ok(KeyClaim::First),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                let out = self
                    .client
                    .get_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .consistent_read(true)
                    .send()
                    .await
                    .map_err(service_error)?;
                let stored = out.item.as_ref().and_then(|i| Item(i).opt_s("fingerprint"));
                Ok(if stored.as_deref() == Some(fingerprint) {
                    KeyClaim::Repeat
                } else {
                    KeyClaim::Reused
                })
            }
            Err(e) => Err(service_error(e)),
        }
    }
}
