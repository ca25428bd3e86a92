//! `SyncSchedules`: the sparse, sharded due-sync index (settings are saved by
//! `IntegrationRecords::save_changes`).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoTable;
use super::codec::*;
use super::keys;
use crate::store::{DueIntegration, DueScan, StoreError, SyncSchedules};

/// The due-sync index keys of integration `id`, due at `at`.
pub(super) fn sync_index_values(id: &str, at: i64) -> (AttributeValue, AttributeValue) {
    (
        s(keys::sync_partition(keys::refresh_shard(id))),
        s(keys::refresh_sort(at, id)),
    )
}

#[async_trait]
impl SyncSchedules for DynamoTable {
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
