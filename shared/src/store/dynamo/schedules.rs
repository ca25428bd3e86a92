//! `SyncSchedules`: sync settings on the integration item and the sparse, sharded due-sync index.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};

use super::DynamoTable;
use super::codec::*;
use super::keys;
use crate::domain::{Integration, IntegrationStatus, SyncSettings};
use crate::store::{DueIntegration, DueScan, StoreError, SyncSchedules};

fn sync_index_values(id: &str, at: i64) -> (AttributeValue, AttributeValue) {
    (
        s(keys::sync_partition(keys::refresh_shard(id))),
        s(keys::refresh_sort(at, id)),
    )
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
            // Not a token write: neither conditioned on the token version nor bumping it, so a
            // refresh in flight is not fenced out by it (docs/architecture.md, "Refresh protocol").
            .condition_expression("#status = :connected")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":connected", s(IntegrationStatus::Connected.as_str()))
            .expression_attribute_values(":settings", sync_settings_value(settings))
            .expression_attribute_values(":now", s(crate::clock::now_rfc3339()))
            .return_values(ReturnValue::AllNew);
        let base = "SET syncSettings = :settings, updatedAt = :now";
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
