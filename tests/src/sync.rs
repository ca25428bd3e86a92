//! Harness pieces for the sync tests: the demo events API's control routes, sync requests, and
//! the sync worker run the way Lambda's event source mapping runs it.

use std::time::Duration;

use lambda_http::http::Method;

use crate::{Reply, TestApp, request};

impl TestApp {
    async fn events_control(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let reply = reqwest::Client::new()
            .post(format!("{}{path}", self.oauth_url))
            .json(&body)
            .send()
            .await
            .expect("events control route");
        assert!(reply.status().is_success(), "{path}: {}", reply.status());
        reply.json().await.unwrap_or_default()
    }

    /// Creates `count` contacts in `user`'s book at the demo provider.
    pub async fn seed_contacts(&self, user: &str, count: usize) {
        self.events_control(
            &format!("/__contacts/{user}/seed"),
            serde_json::json!({ "count": count }),
        )
        .await;
    }

    /// Changes the first `update` live contacts of `user` and deletes the next `delete`.
    pub async fn change_contacts(
        &self,
        user: &str,
        update: usize,
        delete: usize,
    ) -> serde_json::Value {
        self.events_control(
            &format!("/__contacts/{user}/change"),
            serde_json::json!({ "update": update, "delete": delete }),
        )
        .await
    }

    /// Voids every contacts sync token of `user` (the next incremental sync gets 400 expired).
    pub async fn expire_contacts_sync_tokens(&self, user: &str) {
        self.events_control(
            &format!("/__contacts/{user}/invalidate-sync-tokens"),
            serde_json::json!({}),
        )
        .await;
    }

    /// Every contact of the integration as GET /integrations/{id}/contacts lists them, page by page.
    pub async fn listed_contacts(&self, user: &str, id: &str) -> Vec<serde_json::Value> {
        let mut contacts = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut req = request(Method::GET, &format!("/integrations/{id}/contacts"))
                .user(user)
                .query("limit", "200");
            if let Some(c) = &cursor {
                req = req.query("cursor", c);
            }
            let reply = self.send(req.build()).await;
            assert_eq!(reply.status(), 200, "{}", reply.body());
            let data = reply.data();
            contacts.extend(data["contacts"].as_array().cloned().unwrap_or_default());
            match data["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return contacts,
            }
        }
    }

    /// Delivers the sync message of `job` once, as Lambda's event source mapping would (the
    /// same message id each time: SQS redelivers what it already delivered).
    pub async fn deliver_sync_message(
        &self,
        user: &str,
        id: &str,
        job: &str,
        budget: Duration,
    ) -> aws_lambda_events::event::sqs::SqsBatchResponse {
        let body = serde_json::json!({"userId": user, "integrationId": id, "jobId": job});
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
        message.message_id = Some("dup".into());
        message.body = Some(body.to_string());
        event.records.push(message);
        crate::iam::as_function(
            shared::Function::SyncWorker,
            shared::jobs::sync_batch(&self.app, event, tokio::time::Instant::now() + budget),
        )
        .await
    }

    /// PATCH /integrations/{id} as `user` with `body`.
    pub async fn patch_integration(&self, user: &str, id: &str, body: serde_json::Value) -> Reply {
        self.send(
            request(Method::PATCH, &format!("/integrations/{id}"))
                .user(user)
                .json(body)
                .build(),
        )
        .await
    }

    /// Every event of `user`'s calendar at the demo provider, cancelled ones included.
    pub async fn demo_calendar(&self, user: &str) -> Vec<serde_json::Value> {
        let reply = reqwest::Client::new()
            .get(format!("{}/__events/{user}", self.oauth_url))
            .send()
            .await
            .expect("events control route");
        let body: serde_json::Value = reply.json().await.unwrap_or_default();
        body["events"].as_array().cloned().unwrap_or_default()
    }

    /// Creates `count` events in `user`'s calendar at the demo provider.
    pub async fn seed_events(&self, user: &str, count: usize) {
        self.events_control(
            &format!("/__events/{user}/seed"),
            serde_json::json!({ "count": count }),
        )
        .await;
    }

    /// As [`TestApp::seed_events`], the last `long_ids` with ids too long to store.
    pub async fn seed_events_with_long_ids(&self, user: &str, count: usize, long_ids: usize) {
        self.events_control(
            &format!("/__events/{user}/seed"),
            serde_json::json!({ "count": count, "longIds": long_ids }),
        )
        .await;
    }

    /// Updates the first `update` live events and deletes the next `delete`; their ids.
    pub async fn change_events(
        &self,
        user: &str,
        update: usize,
        delete: usize,
    ) -> (Vec<String>, Vec<String>) {
        let reply = self
            .events_control(
                &format!("/__events/{user}/change"),
                serde_json::json!({ "update": update, "delete": delete }),
            )
            .await;
        let ids = |k: &str| -> Vec<String> {
            reply[k]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        (ids("updated"), ids("deleted"))
    }

    pub async fn invalidate_sync_tokens(&self, user: &str) {
        self.events_control(
            &format!("/__events/{user}/invalidate-sync-tokens"),
            serde_json::json!({}),
        )
        .await;
    }

    /// Canned answers for the next events-API requests.
    pub async fn events_api_faults(&self, responses: serde_json::Value, repeat: bool) {
        self.events_control(
            "/__faults/events",
            serde_json::json!({ "responses": responses, "repeat": repeat }),
        )
        .await;
    }

    pub async fn request_sync(&self, user: &str, id: &str, body: serde_json::Value) -> Reply {
        self.send(
            request(Method::POST, &format!("/integrations/{id}/sync"))
                .user(user)
                .json(body)
                .build(),
        )
        .await
    }

    pub async fn sync_job(&self, user: &str, id: &str, job: &str) -> serde_json::Value {
        let reply = self
            .send(
                request(Method::GET, &format!("/integrations/{id}/sync/{job}"))
                    .user(user)
                    .build(),
            )
            .await;
        assert_eq!(reply.status(), 200, "{}", reply.body());
        reply.data()["job"].clone()
    }

    /// Every synced event of the integration, through the API's pages.
    pub async fn listed_events(&self, user: &str, id: &str) -> Vec<serde_json::Value> {
        let mut events = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut builder = request(Method::GET, &format!("/integrations/{id}/events"))
                .user(user)
                .query("limit", "200");
            if let Some(c) = &cursor {
                builder = builder.query("cursor", c);
            }
            let reply = self.send(builder.build()).await;
            assert_eq!(reply.status(), 200, "{}", reply.body());
            let data = reply.data();
            events.extend(data["events"].as_array().cloned().unwrap_or_default());
            match data["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_string()),
                None => return events,
            }
        }
    }

    /// Messages of `queue` received and not yet deleted (invisible for now).
    async fn messages_in_flight(&self, queue: &str) -> u64 {
        use aws_sdk_sqs::types::QueueAttributeName;
        let attributes = self
            .sqs
            .get_queue_attributes()
            .queue_url(queue)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .expect("queue attributes");
        attributes
            .attributes()
            .map(|a| {
                a.values()
                    .filter_map(|v| v.parse::<u64>().ok())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    }

    /// Polls the sync queue like Lambda's event source mapping and runs the worker until the
    /// queue is empty, each invocation with `budget` before its deadline. Returns the polls
    /// that received a message and how many of them reported a failure.
    pub async fn drain_sync_queue(&self, budget: Duration) -> (usize, usize) {
        let queue = &self.sync_queues.as_ref().expect("sync queue").queue_url;
        let (mut invocations, mut failures, mut empty_polls) = (0, 0, 0);
        loop {
            let outcome = devstack::poller::poll_once(&self.sqs, queue, 1, |event| {
                let deadline = tokio::time::Instant::now() + budget;
                let run = shared::jobs::sync_batch(&self.app, event, deadline);
                crate::iam::as_function(shared::Function::SyncWorker, run)
            })
            .await
            .expect("poll");
            if outcome.received == 0 {
                // Empty for now: done only if no message is in flight either (a failed one
                // comes back after the visibility timeout, which a poll can just miss).
                if self.messages_in_flight(queue).await == 0 {
                    return (invocations, failures);
                }
                empty_polls += 1;
                assert!(
                    empty_polls < 120,
                    "a message stayed in flight for two minutes"
                );
                continue;
            }
            invocations += 1;
            failures += outcome.failed;
            assert!(invocations < 200, "the sync never finished");
        }
    }
}
