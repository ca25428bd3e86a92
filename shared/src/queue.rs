//! The queues: the scheduler's fan-out to the refresh workers, sync jobs to the sync workers,
//! and tokens in flight to the token-recovery function. One narrow port, and its SQS adapter (tested against moto's SQS, the real wire
//! protocol).

use async_trait::async_trait;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::crypto::Envelope;
use crate::ids::{IntegrationId, UserId};

/// One refresh to do: the body of a refresh-queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshRequest {
    pub user_id: String,
    pub integration_id: String,
}

impl RefreshRequest {
    pub fn new(user: &UserId, id: &IntegrationId) -> Self {
        Self {
            user_id: user.as_str().to_string(),
            integration_id: id.as_str().to_string(),
        }
    }

    pub fn body(&self) -> String {
        // Two plain strings: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses a message body; None for anything that is not a well-formed request (poison).
    pub fn parse(body: &str) -> Option<(UserId, IntegrationId)> {
        let request: Self = serde_json::from_str(body).ok()?;
        Some((
            UserId::parse(&request.user_id).ok()?,
            IntegrationId::parse(&request.integration_id).ok()?,
        ))
    }
}

/// Tokens a refresh obtained from the provider but could not store before its lease ended: the
/// body of a token-recovery message. The token set travels sealed (the envelope as stored, bound
/// to its row), never as plaintext; `token_version` is the one the refresh read, so the tokens
/// are applied only if no other token set was written since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TokenRecovery {
    pub user_id: String,
    pub integration_id: String,
    pub token_version: u64,
    pub envelope: SealedEnvelope,
    pub expires_at: Option<i64>,
    pub refresh_at: Option<i64>,
    pub refreshed_at: i64,
}

/// An [`Envelope`] as JSON (its byte fields in base64).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SealedEnvelope {
    pub v: u8,
    pub key_id: String,
    pub edk: String,
    pub nonce: String,
    pub ct: String,
}

impl From<&Envelope> for SealedEnvelope {
    fn from(e: &Envelope) -> Self {
        Self {
            v: e.version,
            key_id: e.key_id.clone(),
            edk: STANDARD.encode(&e.encrypted_data_key),
            nonce: STANDARD.encode(&e.nonce),
            ct: STANDARD.encode(&e.ciphertext),
        }
    }
}

impl SealedEnvelope {
    pub fn envelope(&self) -> Option<Envelope> {
        Some(Envelope {
            version: self.v,
            key_id: self.key_id.clone(),
            encrypted_data_key: STANDARD.decode(&self.edk).ok()?,
            nonce: STANDARD.decode(&self.nonce).ok()?,
            ciphertext: STANDARD.decode(&self.ct).ok()?,
        })
    }
}

impl TokenRecovery {
    pub fn body(&self) -> String {
        // Strings and numbers: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[derive(Debug, thiserror::Error)]
#[error("SQS request failed: {0}")]
pub struct QueueError(pub String);

#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Sends every message body; returns how many could not be sent (after one retry of those).
    async fn send_all(&self, bodies: &[String]) -> Result<usize, QueueError>;
    /// A received message that failed comes back after `after` instead of the queue's
    /// visibility timeout (ChangeMessageVisibility).
    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        after: std::time::Duration,
    ) -> Result<(), QueueError>;
}

/// SendMessageBatch takes at most 10 entries.
const SQS_BATCH: usize = 10;
/// Batches in flight at once: enough to hide latency, few enough not to be throttled.
const SQS_BATCHES_IN_FLIGHT: usize = 8;

pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// One SendMessageBatch; returns the entries SQS did not accept.
    async fn send_batch(&self, batch: Vec<String>) -> Result<Vec<String>, QueueError> {
        let mut entries = Vec::with_capacity(batch.len());
        for (i, body) in batch.iter().enumerate() {
            entries.push(
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body.clone())
                    .build()
                    .map_err(|e| QueueError(e.to_string()))?,
            );
        }
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(out
            .failed()
            .iter()
            .filter_map(|f| f.id().parse::<usize>().ok())
            .filter_map(|i| batch.get(i).cloned())
            .collect())
    }
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send_all(&self, bodies: &[String]) -> Result<usize, QueueError> {
        let results: Vec<Result<Vec<String>, QueueError>> =
            futures_util::stream::iter(bodies.chunks(SQS_BATCH).map(<[_]>::to_vec))
                .map(|chunk| self.send_batch(chunk))
                .buffer_unordered(SQS_BATCHES_IN_FLIGHT)
                .collect()
                .await;
        let mut unsent = Vec::new();
        let mut first_error = None;
        for result in results {
            match result {
                Ok(failed) => unsent.extend(failed),
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        // Entries SQS refused one by one (throttling, an internal error): one more try.
        let mut still_unsent = 0;
        for chunk in unsent.chunks(SQS_BATCH) {
            still_unsent += self.send_batch(chunk.to_vec()).await?.len();
        }
        Ok(still_unsent)
    }

    async fn redeliver_after(
        &self,
        receipt_handle: &str,
        after: std::time::Duration,
    ) -> Result<(), QueueError> {
        // SQS takes 0 to 43,200 seconds.
        let secs = after.as_secs().min(43_200) as i32;
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(secs)
            .send()
            .await
            .map_err(|e| QueueError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
