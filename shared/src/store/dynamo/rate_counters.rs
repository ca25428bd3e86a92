//! `RateCounters`: one item per caller, class and fixed window, counted by one conditional
//! `UpdateItem` and deleted by TTL after its window.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::ReturnValue;

use super::DynamoTable;
use super::codec::*;
use super::keys;
use crate::store::{RateCounters, RateWindow, StoreError};

#[async_trait]
impl RateCounters for DynamoTable {
    async fn count(&self, window: &RateWindow<'_>) -> Result<Option<u32>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(keys::PK, s(keys::rate(window.class, window.caller)))
            .key(keys::SK, s(keys::rate_window(window.start)))
            .update_expression("ADD hits :one SET #ttl = :ttl")
            // Refused once full: a refused request is not counted, so the window's count stays
            // the number of admitted requests.
            .condition_expression("attribute_not_exists(hits) OR hits < :limit")
            .expression_attribute_names("#ttl", keys::TTL)
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(window.limit))
            .expression_attribute_values(":ttl", n(window.expires_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => {
                let attributes = out.attributes.unwrap_or_default();
                let hits = Item(&attributes).opt_n("hits")?.unwrap_or(1);
                Ok(Some(u32::try_from(hits).unwrap_or(u32::MAX)))
            }
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(service_error(e)),
        }
    }
}
