//! Every store port against one DynamoDB table (docs/architecture.md, "The single table"): the key schema,
//! the item codec, and one file per port.

use aws_sdk_dynamodb::Client;

mod audit;
mod codec;
mod event_writes;
mod integrations;
pub mod keys;
mod leases;
mod rate_counters;
mod record_codec;
mod refresh_index;
mod schedules;
mod states;
mod sync_jobs;
mod synced_records;

pub use codec::{decode_cursor, encode_cursor};

/// Every store port against one DynamoDB table.
#[derive(Clone)]
pub struct DynamoTable {
    client: Client,
    table: String,
}

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
    pub fn client(&self) -> &Client {
        &self.client
    }
    pub fn table_name(&self) -> &str {
        &self.table
    }
}
