//! Harness pieces for the token-lifecycle tests: time travel for token expiry, the OAuth
//! server's counters and injected faults, and messages for the refresh worker.

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::http::Method;
use shared::store::keys;

use crate::{Reply, TestApp, request};

/// The OAuth server's `/__stats` (dev/oauth-server/README.md).
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthStats {
    pub token_requests: HashMap<String, u64>,
    pub faulted_token_requests: u64,
    pub token_request_log: Vec<TokenRequestLog>,
    /// The tokens of answers a `holdMs` fault held back (dev/oauth-server/README.md).
    #[serde(default)]
    pub held_answers: Vec<HeldAnswer>,
    /// Requests to the demo events API (dev/oauth-server/events-api.mjs).
    #[serde(default)]
    pub events_requests: u64,
    #[serde(default)]
    pub events_request_log: Vec<EventsRequestLog>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeldAnswer {
    pub access_token: Option<String>,
    pub refresh_token: Option<String>,
    /// `access` / `refresh`: a revocation request presented that token.
    #[serde(default)]
    pub revocation_requested: Vec<String>,
}

#[derive(Debug, serde::Deserialize)]
pub struct EventsRequestLog {
    /// Epoch milliseconds when the request arrived.
    pub at: u64,
    pub status: u16,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRequestLog {
    /// Epoch milliseconds when the request arrived.
    pub at: u64,
    pub grant_type: Option<String>,
    pub status: u16,
    #[serde(default)]
    pub faulted: bool,
}

impl OAuthStats {
    /// Refresh requests the real authorization server handled (faulted ones never reach it).
    pub fn refreshes_served(&self) -> u64 {
        let all = self
            .token_requests
            .get("refresh_token")
            .copied()
            .unwrap_or(0);
        let faulted = self
            .token_request_log
            .iter()
            .filter(|l| l.faulted && l.grant_type.as_deref() == Some("refresh_token"))
            .count() as u64;
        all - faulted
    }
}

impl TestApp {
    pub async fn oauth_stats(&self) -> OAuthStats {
        reqwest::get(format!("{}/__stats", self.oauth_url))
            .await
            .expect("stats")
            .json()
            .await
            .expect("stats JSON")
    }

    pub async fn reset_oauth_stats(&self) {
        reqwest::Client::new()
            .post(format!("{}/__stats/reset", self.oauth_url))
            .send()
            .await
            .expect("stats reset");
    }

    /// Queues canned answers for the next token requests, e.g. `[{"status":503}]`.
    pub async fn token_endpoint_faults(&self, responses: serde_json::Value, repeat: bool) {
        let reply = reqwest::Client::new()
            .post(format!("{}/__faults/token", self.oauth_url))
            .json(&serde_json::json!({ "responses": responses, "repeat": repeat }))
            .send()
            .await
            .expect("faults");
        assert!(reply.status().is_success(), "faults refused: {reply:?}");
    }

    /// The user revokes the app at the provider: the stored refresh token, revoked at the OAuth
    /// server (RFC 7009), which ends the grant.
    pub async fn revoke_grant_at_provider(&self, user: &str, id: &str) {
        use secrecy::ExposeSecret;
        let tokens = self.stored_tokens(user, id).await.expect("stored tokens");
        let refresh = tokens.refresh_token.expect("a refresh token");
        let revoked = reqwest::Client::new()
            .post(format!("{}/token/revocation", self.oauth_url))
            .basic_auth(crate::CLIENT_ID, Some(crate::CLIENT_SECRET))
            .form(&[("token", refresh.expose_secret())])
            .send()
            .await
            .expect("revocation");
        assert!(revoked.status().is_success(), "revocation: {revoked:?}");
    }

    /// Time travel: the stored access token now expires in `secs` seconds, as far as the service
    /// can tell (the expiry it schedules by, and the refresh index entry), so the refresh path
    /// runs without waiting an hour. The OAuth server's own token is untouched.
    pub async fn expire_in(&self, user: &str, id: &str, secs: i64) {
        let at = shared::clock::now_epoch() + secs;
        self.dynamodb
            .update_item()
            .table_name(&self.table_name)
            .key(keys::PK, AttributeValue::S(keys::user(user)))
            .key(keys::SK, AttributeValue::S(keys::integration(id)))
            .update_expression("SET expiresAt = :at, GSI1SK = :sk")
            .condition_expression("attribute_exists(GSI1PK)")
            .expression_attribute_values(":at", AttributeValue::N(at.to_string()))
            .expression_attribute_values(":sk", AttributeValue::S(keys::refresh_sort(at, id)))
            .send()
            .await
            .expect("expiry moved (the integration is in the refresh index)");
    }

    /// The raw item of an integration, straight from moto.
    pub async fn integration_item(&self, user: &str, id: &str) -> HashMap<String, AttributeValue> {
        self.dynamodb
            .get_item()
            .table_name(&self.table_name)
            .key(keys::PK, AttributeValue::S(keys::user(user)))
            .key(keys::SK, AttributeValue::S(keys::integration(id)))
            .consistent_read(true)
            .send()
            .await
            .expect("get item")
            .item
            .unwrap_or_default()
    }

    pub async fn token_route(&self, user: &str, id: &str) -> Reply {
        self.send(
            request(
                Method::GET,
                &format!("/users/{user}/integrations/{id}/token"),
            )
            .backend()
            .build(),
        )
        .await
    }

    pub async fn manual_refresh(&self, user: &str, id: &str) -> Reply {
        self.send(
            request(Method::POST, &format!("/integrations/{id}/refresh"))
                .user(user)
                .build(),
        )
        .await
    }

    /// One poll of the token-recovery queue through the token-recovery handler, as Lambda's
    /// event source mapping would: (messages received, messages reported failed).
    pub async fn poll_recovery_queue(&self) -> (usize, usize) {
        let queue = &self
            .recovery_queues
            .as_ref()
            .expect("recovery queue")
            .queue_url;
        let outcome = devstack::poller::poll_once(&self.sqs, queue, 2, |event| {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(8);
            let run = shared::jobs::recovery_batch(&self.app, event, deadline);
            crate::iam::as_function(shared::Function::TokenRecovery, run)
        })
        .await
        .expect("poll");
        (outcome.received, outcome.failed)
    }

    /// One refresh-worker invocation with these message bodies; the ids of the failed messages.
    pub async fn run_worker(&self, bodies: &[String]) -> Vec<String> {
        let mut event = SqsEvent::default();
        for (i, body) in bodies.iter().enumerate() {
            let mut message = SqsMessage::default();
            message.message_id = Some(format!("msg-{i}"));
            message.body = Some(body.clone());
            event.records.push(message);
        }
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(55);
        let run = shared::jobs::refresh_batch(&self.app, event, deadline);
        crate::iam::as_function(shared::Function::RefreshWorker, run)
            .await
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect()
    }
}

/// A refresh-queue message body.
pub fn refresh_message(user: &str, id: &str) -> String {
    let request = shared::queue::RefreshRequest {
        user_id: user.into(),
        integration_id: id.into(),
    };
    serde_json::to_string(&request).unwrap_or_default()
}
