//! The refresh scheduler and worker on moto's DynamoDB and SQS: the scheduler reads only due
//! integrations from the sparse refresh index, and the worker's partial batch responses send a
//! poison message to the dead-letter queue without holding back its batch.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use integration_tests::lifecycle::refresh_message;
use integration_tests::{Options, TestApp, request};
use lambda_http::http::Method;
use shared::clock::now_epoch;

use shared::ids::{IntegrationId, ProviderId, UserId};
use shared::store::keys;

fn with_queue(visibility_secs: u32) -> Options {
    Options {
        refresh_queue: Some((visibility_secs, 3)),
        ..Options::default()
    }
}

/// Every message now on a queue (received and deleted), by body.
async fn drain(t: &TestApp, queue_url: &str) -> Vec<String> {
    let mut bodies = Vec::new();
    loop {
        let out = t
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            // Short polls sample a subset of SQS's servers and may come back empty early.
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            return bodies;
        }
        for m in messages {
            bodies.push(m.body.unwrap_or_default());
            t.sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle.unwrap_or_default())
                .send()
                .await
                .unwrap();
        }
    }
}

/// Integration rows as the service writes them (refresh-index keys included), written straight
/// to the table: 2,000 connects through the OAuth server would only slow the test down.
async fn seed_integrations(t: &TestApp, expiries: &[i64]) -> Vec<(String, String)> {
    let provider = ProviderId::parse("demo").unwrap();
    let mut rows = Vec::new();
    let mut requests = Vec::new();
    for (i, expires_at) in expiries.iter().enumerate() {
        let user = format!("user{i}");
        let id = IntegrationId::derive(&UserId::parse(&user).unwrap(), &provider, &user);
        let id = id.as_str().to_string();
        let item = HashMap::from([
            (keys::PK.to_string(), AttributeValue::S(keys::user(&user))),
            (
                keys::SK.to_string(),
                AttributeValue::S(keys::integration(&id)),
            ),
            ("id".into(), AttributeValue::S(id.clone())),
            ("userId".into(), AttributeValue::S(user.clone())),
            ("provider".into(), AttributeValue::S("demo".into())),
            ("status".into(), AttributeValue::S("connected".into())),
            (
                "expiresAt".into(),
                AttributeValue::N(expires_at.to_string()),
            ),
            (
                keys::GSI1PK.into(),
                AttributeValue::S(keys::refresh_partition(keys::refresh_shard(&id))),
            ),
            (
                keys::GSI1SK.into(),
                AttributeValue::S(keys::refresh_sort(*expires_at, &id)),
            ),
        ]);
        requests.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                .build(),
        );
        rows.push((user, id));
    }
    for chunk in requests.chunks(25) {
        let mut pending = HashMap::from([(t.table_name.clone(), chunk.to_vec())]);
        while !pending.is_empty() {
            let out = t
                .dynamodb
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .unwrap();
            pending = out.unprocessed_items.unwrap_or_default();
            pending.retain(|_, v| !v.is_empty());
        }
    }
    rows
}

#[tokio::test]
async fn scheduler_sends_exactly_the_due_integrations_reading_only_those() {
    let t = TestApp::with(with_queue(30)).await;
    let now = now_epoch();
    let margin = t.app.settings.refresh_margin_secs;
    // 100 due (some already past expiry), 1,900 not yet.
    let expiries: Vec<i64> = (0..2000)
        .map(|i| match i % 20 {
            0 => now - 30 + i / 20,
            _ => now + margin + 60 + i,
        })
        .collect();
    let rows = seed_integrations(&t, &expiries).await;
    let due: BTreeSet<String> = rows
        .iter()
        .zip(&expiries)
        .filter(|(_, at)| **at <= now + margin)
        .map(|((user, id), _)| refresh_message(user, id))
        .collect();
    assert_eq!(due.len(), 100);

    let report = t.schedule(now).await.unwrap();
    assert_eq!((report.due, report.sent, report.unsent), (100, 100, 0));
    let shards = usize::from(keys::REFRESH_SHARDS);
    assert!(
        report.items_read <= 100 + shards,
        "read {} index items for 100 due",
        report.items_read
    );
    assert!(report.pages >= shards, "every shard queried");
    // The dashboard's count: every connected integration, once, apart from the due queries.
    assert_eq!(report.connected, Some(2000));
    assert_eq!(report.count_items_read, 2000);

    let sent: Vec<String> = drain(&t, &t.queues.as_ref().unwrap().queue_url).await;
    assert_eq!(sent.len(), 100, "one message per due integration");
    assert_eq!(sent.into_iter().collect::<BTreeSet<_>>(), due);
}

#[tokio::test]
async fn the_refresh_index_follows_connect_refresh_and_disconnect() {
    let t = TestApp::with(with_queue(30)).await;
    let id = t.connected("lena").await;
    let item = t.integration_item("lena", &id).await;
    assert!(
        item.contains_key(keys::GSI1PK),
        "refreshable: indexed on connect"
    );
    let queue = t.queues.as_ref().unwrap().queue_url.clone();

    let report = t.schedule(now_epoch()).await.unwrap();
    assert_eq!(report.due, 0, "an hour-long token is not due");
    assert_eq!(report.connected, Some(1));
    t.expire_in("lena", &id, 60).await;
    let report = t.schedule(now_epoch()).await.unwrap();
    assert_eq!(report.due, 1);
    let messages = drain(&t, &queue).await;
    assert_eq!(messages, [refresh_message("lena", &id)]);

    // The worker refreshes it: the index entry moves to the new expiry, out of the due range.
    assert!(t.run_worker(&messages).await.is_empty());
    let report = t.schedule(now_epoch()).await.unwrap();
    assert_eq!(report.due, 0);
    // A message for a fresh integration is a no-op success.
    assert!(t.run_worker(&messages).await.is_empty());

    let reply = t
        .send(
            request(Method::DELETE, &format!("/integrations/{id}"))
                .user("lena")
                .build(),
        )
        .await;
    assert_eq!(reply.status(), 200);
    let item = t.integration_item("lena", &id).await;
    assert!(!item.contains_key(keys::GSI1PK) && !item.contains_key(keys::GSI1SK));
    let report = t.schedule(now_epoch()).await.unwrap();
    assert_eq!(
        report.connected,
        Some(0),
        "a disconnected integration is not counted"
    );
    assert!(
        t.run_worker(&messages).await.is_empty(),
        "disconnected: done"
    );
}

#[tokio::test]
async fn poison_message_is_retried_then_dead_lettered_while_its_batch_succeeds() {
    let t = TestApp::with(with_queue(1)).await;
    let id = t.connected("mia").await;
    let queues = t.queues.as_ref().unwrap();
    let bodies = [
        refresh_message("mia", &id),
        "{\"userId\": 42}".to_string(),
        refresh_message("nobody", &"0".repeat(32)),
    ];
    for body in &bodies {
        t.sqs
            .send_message()
            .queue_url(&queues.queue_url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let mut polls = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let outcome = devstack::poller::poll_once(&t.sqs, &queues.queue_url, 1, |event| {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            integration_tests::iam::as_function(
                shared::Function::RefreshWorker,
                shared::jobs::refresh_batch(&t.app, event, deadline),
            )
        })
        .await
        .unwrap();
        if outcome.received > 0 {
            polls.push(outcome);
        }
        let dead = t
            .sqs
            .get_queue_attributes()
            .queue_url(&queues.dead_letter_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap_or_default();
        let dead = dead
            .get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(0);
        if dead > 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no dead letter after {polls:?}"
        );
    }
    assert_eq!(
        (polls[0].received, polls[0].failed),
        (3, 1),
        "the batch: two done, the poison reported"
    );
    assert_eq!(
        polls.len(),
        3,
        "the poison was delivered 3 times (maxReceiveCount)"
    );
    assert!(polls[1..].iter().all(|p| p.received == 1 && p.failed == 1));
    assert_eq!(
        drain(&t, &queues.dead_letter_url).await,
        [bodies[1].clone()]
    );
    assert!(drain(&t, &queues.queue_url).await.is_empty());
}

#[tokio::test]
async fn a_refresh_that_failed_for_now_comes_back_before_the_visibility_timeout() {
    let mut tuning = integration_tests::fast_tuning();
    tuning.queue_retry_base = Duration::from_secs(1);
    let t = TestApp::with(Options {
        own_oauth_server: true,
        // 30 s of visibility: a retry within seconds can only be the worker's doing.
        refresh_queue: Some((30, 3)),
        refresh_tuning: Some(tuning),
        ..Options::default()
    })
    .await;
    let id = t.connected("nora").await;
    t.expire_in("nora", &id, 60).await;
    t.token_endpoint_faults(serde_json::json!([{"status": 503}]), true)
        .await;
    let queue = t.queues.as_ref().unwrap().queue_url.clone();
    t.sqs
        .send_message()
        .queue_url(&queue)
        .message_body(refresh_message("nora", &id))
        .send()
        .await
        .unwrap();
    let run = || {
        devstack::poller::poll_once(&t.sqs, &queue, 1, |event| {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
            integration_tests::iam::as_function(
                shared::Function::RefreshWorker,
                shared::jobs::refresh_batch(&t.app, event, deadline),
            )
        })
    };
    let first = run().await.unwrap();
    assert_eq!((first.received, first.failed), (1, 1));
    let failed_at = tokio::time::Instant::now();
    let mut again = run().await.unwrap();
    while again.received == 0 && failed_at.elapsed() < Duration::from_secs(10) {
        again = run().await.unwrap();
    }
    assert_eq!(again.received, 1, "redelivered");
    assert!(
        failed_at.elapsed() < Duration::from_secs(10),
        "back after {:?}, not the queue's 30 s",
        failed_at.elapsed()
    );
}
