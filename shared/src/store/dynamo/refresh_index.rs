//! `RefreshIndex`: the sparse, sharded GSI1 of connected integrations by renewal time (a
//! COUNT of it is the number connected); `due_on` also serves
//! the due-sync index.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::DynamoTable;
use super::codec::*;
use super::keys;
use crate::ids::{IntegrationId, UserId};
use crate::store::{DueIntegration, DueScan, RefreshIndex, StoreError};

#[async_trait]
impl RefreshIndex for DynamoTable {
    async fn due(&self, shard: u8, until: i64) -> Result<DueScan, StoreError> {
        self.due_on(
            keys::REFRESH_INDEX,
            keys::GSI1PK,
            keys::GSI1SK,
            keys::refresh_partition(shard),
            until,
        )
        .await
    }

    async fn count_connected(&self, shard: u8) -> Result<(usize, usize), StoreError> {
        // Select=COUNT: DynamoDB reads the keys-only items but sends none back; the SDK's
        // paginator follows LastEvaluatedKey.
        let mut pages = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(keys::REFRESH_INDEX)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", keys::GSI1PK)
            .expression_attribute_values(":pk", s(keys::refresh_partition(shard)))
            .select(aws_sdk_dynamodb::types::Select::Count)
            .into_paginator()
            .send();
        let (mut count, mut read) = (0, 0);
        while let Some(page) = pages.next().await {
            let page = page.map_err(service_error)?;
            count += usize::try_from(page.count).unwrap_or(0);
            read += usize::try_from(page.scanned_count).unwrap_or(0);
        }
        Ok((count, read))
    }
}

impl DynamoTable {
    /// The integrations of one shard of a sparse due-index (`{epoch}#{id}` sort keys) that are
    /// due at or before `until`: a key-condition query, so only due items are read.
    pub(super) async fn due_on(
        &self,
        index: &str,
        pk_name: &str,
        sk_name: &str,
        partition: String,
        until: i64,
    ) -> Result<DueScan, StoreError> {
        let mut scan = DueScan::default();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#pk = :pk AND #sk <= :until")
                .expression_attribute_names("#pk", pk_name)
                .expression_attribute_names("#sk", sk_name)
                .expression_attribute_values(":pk", s(partition.clone()))
                .expression_attribute_values(":until", s(keys::refresh_sort_upper(until)))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(service_error)?;
            scan.pages += 1;
            scan.items_read += usize::try_from(out.scanned_count).unwrap_or(0);
            for item in out.items() {
                let it = Item(item);
                let user = it.s(keys::PK)?;
                let sk = it.s(keys::SK)?;
                let corrupt = || StoreError::Corrupt("due-index entry keys".into());
                let user_id = user
                    .strip_prefix("USER#")
                    .and_then(|u| UserId::parse(u).ok())
                    .ok_or_else(corrupt)?;
                let integration_id = sk
                    .strip_prefix("INTEGRATION#")
                    .and_then(|i| IntegrationId::parse(i).ok())
                    .ok_or_else(corrupt)?;
                let due_at = it
                    .s(sk_name)?
                    .split('#')
                    .next()
                    .and_then(|epoch| epoch.parse().ok())
                    .ok_or_else(corrupt)?;
                scan.due.push(DueIntegration {
                    user_id,
                    integration_id,
                    due_at,
                });
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(scan)
    }
}
