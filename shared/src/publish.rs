//! Lifecycle events to the application: each change of an integration or a sync job, published
//! to an EventBridge bus, from which the application's rules deliver them (to its webhook
//! through an API destination, a queue, a function). One narrow port and its EventBridge
//! adapter, tested against moto's EventBridge (the real wire protocol). Shapes:
//! docs/events.md; JSON Schemas: docs/events/.
//!
//! An event carries ids, the user, the provider, times, codes and counts, never a token.

use async_trait::async_trait;
use serde::Serialize;

use crate::clock::now_rfc3339;
use crate::domain::{Integration, SyncCounts, SyncJob, epoch_to_rfc3339};

/// The `source` of every event: rules match on it.
pub const SOURCE: &str = "oauth-connector";

/// One lifecycle event: its `detail-type` and `detail`.
#[derive(Debug, Clone, PartialEq)]
pub struct AppEvent {
    pub detail_type: &'static str,
    pub detail: serde_json::Value,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IntegrationDetail<'a> {
    integration_id: &'a str,
    user_id: &'a str,
    provider: &'a str,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retryable: Option<bool>,
    /// When the access token in hand stops working (a failed refresh's outlook).
    #[serde(skip_serializing_if = "Option::is_none")]
    access_token_expires_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SyncDetail<'a> {
    integration_id: &'a str,
    user_id: &'a str,
    job_id: &'a str,
    sync_type: &'a str,
    full: bool,
    at: String,
    counts: Counts,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
}

#[derive(Serialize)]
struct Counts {
    created: u64,
    updated: u64,
    deleted: u64,
}

impl From<&SyncCounts> for Counts {
    fn from(c: &SyncCounts) -> Self {
        Self {
            created: c.created,
            updated: c.updated,
            deleted: c.deleted,
        }
    }
}

fn integration_event(
    detail_type: &'static str,
    integration: &Integration,
    code: Option<&str>,
    retryable: Option<bool>,
) -> AppEvent {
    let detail = IntegrationDetail {
        integration_id: integration.id.as_str(),
        user_id: integration.user_id.as_str(),
        provider: integration.provider.as_str(),
        at: now_rfc3339(),
        code,
        retryable,
        access_token_expires_at: retryable
            .and(integration.expires_at)
            .and_then(epoch_to_rfc3339),
    };
    AppEvent {
        detail_type,
        detail: serde_json::to_value(detail).unwrap_or_default(),
    }
}

impl AppEvent {
    pub fn connected(integration: &Integration) -> Self {
        integration_event("integration.connected", integration, None, None)
    }

    pub fn disconnected(integration: &Integration) -> Self {
        integration_event("integration.disconnected", integration, None, None)
    }

    /// The grant is dead (`invalid_grant`, or no refresh token left): the user must connect again.
    pub fn expired(integration: &Integration, code: &str) -> Self {
        integration_event("integration.expired", integration, Some(code), None)
    }

    /// A refresh failed and the integration stays connected: `retryable` says whether the
    /// scheduler's next attempts may succeed (provider down) or not (our client credentials).
    pub fn refresh_failed(integration: &Integration, code: &str, retryable: bool) -> Self {
        integration_event(
            "integration.refresh_failed",
            integration,
            Some(code),
            Some(retryable),
        )
    }

    pub fn sync_completed(job: &SyncJob) -> Self {
        sync_event("sync.completed", job, None)
    }

    pub fn sync_failed(job: &SyncJob, code: &str) -> Self {
        sync_event("sync.failed", job, Some(code))
    }
}

fn sync_event(detail_type: &'static str, job: &SyncJob, code: Option<&str>) -> AppEvent {
    let detail = SyncDetail {
        integration_id: job.integration_id.as_str(),
        user_id: job.user_id.as_str(),
        job_id: job.job_id.as_str(),
        sync_type: job.sync_type.as_str(),
        full: job.full,
        at: now_rfc3339(),
        counts: Counts::from(&job.counts),
        code,
    };
    AppEvent {
        detail_type,
        detail: serde_json::to_value(detail).unwrap_or_default(),
    }
}

#[derive(Debug, thiserror::Error)]
#[error("events not published: {0}")]
pub struct PublishError(pub String);

/// Where lifecycle events go.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    async fn publish(&self, event: &AppEvent) -> Result<(), PublishError>;
}

/// PutEvents to one bus (`EVENT_BUS_NAME`). The SDK retries throttling and 5xx; an entry the
/// bus refused is sent once more.
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
        }
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    async fn publish(&self, event: &AppEvent) -> Result<(), PublishError> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.detail_type)
            .detail(event.detail.to_string())
            .build();
        let mut last = String::new();
        for _ in 0..2 {
            match self.client.put_events().entries(entry.clone()).send().await {
                Ok(out) if out.failed_entry_count == 0 => return Ok(()),
                Ok(out) => {
                    last = out
                        .entries()
                        .iter()
                        .filter_map(|e| e.error_code())
                        .collect::<Vec<_>>()
                        .join(", ");
                }
                Err(e) => {
                    last = aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string();
                }
            }
        }
        Err(PublishError(last))
    }
}
