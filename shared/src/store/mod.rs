//! Ports to the table: one narrow trait per concern, so a handler asks only for what it uses.
//! [`DynamoTable`] implements them all against DynamoDB (and moto in tests).

mod dynamo;

pub use dynamo::{DynamoTable, decode_cursor, encode_cursor, keys};

use async_trait::async_trait;

use crate::crypto::Envelope;
use crate::domain::{AuditEntry, Integration, PendingAuthorization};
use crate::ids::{IntegrationId, ProviderId, UserId};
use crate::state::StateId;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DynamoDB request failed: {0}")]
    Service(String),
    #[error("stored item is malformed: {0}")]
    Corrupt(String),
    #[error("the item changed since it was read")]
    Conflict,
}

/// Who may consume a state: the callback of its provider, and for the POST variant its user.
pub struct StateClaim<'a> {
    pub provider: &'a ProviderId,
    pub user: Option<&'a UserId>,
}

#[async_trait]
pub trait AuthorizationStates: Send + Sync {
    async fn put_pending(&self, pending: &PendingAuthorization) -> Result<(), StoreError>;
    /// Reads a pending authorization without consuming it.
    async fn peek_pending(&self, id: &StateId) -> Result<Option<PendingAuthorization>, StoreError>;
    /// Deletes and returns the pending authorization if it exists and matches the claim; a
    /// second call for the same id finds nothing (single use). A non-matching claim leaves it.
    async fn take_pending(
        &self,
        id: &StateId,
        claim: StateClaim<'_>,
    ) -> Result<Option<PendingAuthorization>, StoreError>;
}

#[async_trait]
pub trait IntegrationRecords: Send + Sync {
    /// Creates or updates the integration as connected with these sealed tokens.
    async fn save_connected(
        &self,
        integration: &Integration,
        tokens: &Envelope,
    ) -> Result<Integration, StoreError>;
    async fn get(
        &self,
        user: &UserId,
        id: &IntegrationId,
    ) -> Result<Option<Integration>, StoreError>;
    /// The integration and its sealed tokens (None once disconnected).
    async fn get_with_tokens(
        &self,
        user: &UserId,
        id: &IntegrationId,
    ) -> Result<Option<(Integration, Option<Envelope>)>, StoreError>;
    async fn list(&self, user: &UserId) -> Result<Vec<Integration>, StoreError>;
    /// Marks the integration disconnected and removes its tokens in one write, if `version`
    /// still matches (else [`StoreError::Conflict`]); returns the sealed tokens it removed.
    async fn mark_disconnected(
        &self,
        integration: &Integration,
    ) -> Result<Option<Envelope>, StoreError>;
}

#[async_trait]
pub trait AuditTrail: Send + Sync {
    async fn append(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Newest first; `cursor` from a previous page.
    async fn page(
        &self,
        user: Option<&UserId>,
        limit: u32,
        cursor: Option<&str>,
    ) -> Result<(Vec<AuditEntry>, Option<String>), StoreError>;
}
