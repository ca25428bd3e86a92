//! Warm latency of every API route (#18), printed by `make bench`, never asserted: each
//! function's handler in-process (one warm container: clients built, data keys cached) against
//! moto and the local OAuth server, p50 and p99 of many requests, next to the floor of the AWS
//! calls it makes: their count (DynamoDB, seen at a proxy in a first pass) times a bare
//! GetItem's p50.
//!
//! Usage: scripts/bench.sh.

use std::time::{Duration, Instant};

use lambda_http::http::Method;
use serde_json::json;
use shared::handlers::dispatch;
use shared::routes::{Function, match_route};

use integration_tests::{Options, TestApp, request};

const REQUESTS: usize = 200;
const USER: &str = "route-bench";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// One request of `function`, ready to send; built fresh for each call (callback and
/// disconnect need a new state or integration each time, made before the clock starts).
async fn prepare(t: &TestApp, function: Function, id: &str) -> shared::http::ApiRequest {
    let integration = format!("/integrations/{id}");
    match function {
        Function::Health => request(Method::GET, "/health").build(),
        Function::Providers => request(Method::GET, "/providers").build(),
        Function::Connect => request(Method::POST, "/providers/demo/connect")
            .user(USER)
            .json(json!({}))
            .build(),
        Function::Callback => t.authorized(USER, json!({})).await.callback_request().build(),
        Function::ListIntegrations => request(Method::GET, "/integrations").user(USER).build(),
        Function::GetIntegration => request(Method::GET, &integration).user(USER).build(),
        Function::UpdateIntegration => request(Method::PATCH, &integration)
            .user(USER)
            .json(json!({"syncSettings": {"enabled": true, "syncTypes": ["calendar"], "frequency": "daily"}}))
            .build(),
        Function::Disconnect => {
            // A new user's integration each time: the route's work is the disconnect itself.
            let user = format!("{USER}-{}", shared::ids::random_id());
            let victim = t.connected(&user).await;
            request(Method::DELETE, &format!("/integrations/{victim}"))
                .user(&user)
                .build()
        }
        Function::Audit => request(Method::GET, "/audit").user(USER).build(),
        Function::Refresh => request(Method::POST, &format!("{integration}/refresh"))
            .user(USER)
            .build(),
        Function::TestConnection => request(Method::POST, &format!("{integration}/test"))
            .user(USER)
            .build(),
        Function::Token => request(
            Method::GET,
            &format!("/users/{USER}/integrations/{id}/token"),
        )
        .backend()
        .build(),
        Function::Sync => request(Method::POST, &format!("{integration}/sync"))
            .user(USER)
            .json(json!({}))
            .build(),
        Function::ListEvents => request(Method::GET, &format!("{integration}/events"))
            .user(USER)
            .build(),
        Function::ListContacts => request(Method::GET, &format!("{integration}/contacts"))
            .user(USER)
            .build(),
        Function::CreateEvent => create_event(id),
        // An event of its own each time, made before the clock starts.
        Function::UpdateEvent => {
            let event = created_event(t, id).await;
            request(Method::PATCH, &format!("{integration}/events/{event}"))
                .user(USER)
                .json(json!({"title": "Moved"}))
                .build()
        }
        Function::DeleteEvent => {
            let event = created_event(t, id).await;
            request(Method::DELETE, &format!("{integration}/events/{event}"))
                .user(USER)
                .build()
        }
        // Not HTTP functions: never asked for (HTTP_HANDLERS lists the HTTP ones).
        _ => request(Method::GET, "/health").build(),
    }
}

fn create_event(id: &str) -> shared::http::ApiRequest {
    request(Method::POST, &format!("/integrations/{id}/events"))
        .user(USER)
        .json(json!({"title": "Bench", "startTime": "2030-01-02T10:00:00Z", "endTime": "2030-01-02T11:00:00Z"}))
        .build()
}

/// A new event's `externalId`, through the create route.
async fn created_event(t: &TestApp, id: &str) -> String {
    let created = dispatch(&t.app, Function::CreateEvent, create_event(id)).await;
    let body: serde_json::Value = serde_json::from_str(&created.body).unwrap_or_default();
    body["data"]["event"]["externalId"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// What each route does at its provider, beside the store: said next to its figure.
fn provider_calls(function: Function) -> &'static str {
    match function {
        Function::Callback => " + code exchange and userinfo at the OAuth server",
        Function::Refresh => " + a refresh at the OAuth server",
        Function::TestConnection => " + userinfo at the OAuth server",
        Function::Disconnect => " + revocation at the OAuth server",
        Function::Sync => " + SQS SendMessage",
        Function::CreateEvent => " + events.insert at the OAuth server's events API",
        Function::UpdateEvent => " + events.patch at the OAuth server's events API",
        Function::DeleteEvent => " + events.delete at the OAuth server's events API",
        _ => "",
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let options = || Options {
        key_cache: true,
        sync_queue: Some((30, 3)),
        env: vec![integration_tests::unlimited_rate_limits()],
        ..Default::default()
    };
    // A first app behind a counting proxy (the AWS calls each route makes), then one without.
    let counting = TestApp::with(Options {
        store_proxy: true,
        ..options()
    })
    .await;
    let t = TestApp::with(options()).await;
    let counted_id = counting.connected(USER).await;
    let id = t.connected(USER).await;

    // The floor's unit: a bare GetItem on moto through the same SDK configuration.
    let mut bare = Vec::new();
    for _ in 0..REQUESTS {
        let started = Instant::now();
        t.dynamodb
            .get_item()
            .table_name(&t.table_name)
            .key(
                "PK",
                aws_sdk_dynamodb::types::AttributeValue::S("bench".into()),
            )
            .key(
                "SK",
                aws_sdk_dynamodb::types::AttributeValue::S("bench".into()),
            )
            .send()
            .await?;
        bare.push(started.elapsed());
    }
    bare.sort();
    let call = percentile(&bare, 0.5);

    println!(
        "## Warm latency per route: {REQUESTS} requests each, in-process handler against moto \
         (release build)"
    );
    println!(
        "a bare GetItem: p50 {:.2} ms, p99 {:.2} ms (the floor's unit)",
        ms(call),
        ms(percentile(&bare, 0.99))
    );
    for (function, _) in shared::handlers::HTTP_HANDLERS {
        let function = *function;
        let store = counting
            .store
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("no proxy"))?;
        let probe = prepare(&counting, function, &counted_id).await;
        store.reset_counts();
        let status = dispatch(&counting.app, function, probe)
            .await
            .status
            .as_u16();
        let calls = [
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "TransactWriteItems",
            "BatchWriteItem",
            "BatchGetItem",
            "Scan",
        ]
        .iter()
        .map(|op| store.count(op))
        .sum::<usize>();
        anyhow::ensure!(status < 400, "{}: {status}", function.name());

        let mut times = Vec::with_capacity(REQUESTS);
        for _ in 0..REQUESTS {
            let req = prepare(&t, function, &id).await;
            debug_assert!(match_route(req.method.as_str(), &req.path).is_some());
            let started = Instant::now();
            let response = dispatch(&t.app, function, req).await;
            times.push(started.elapsed());
            let status = response.status.as_u16();
            anyhow::ensure!(status < 400, "{}: {status}", function.name());
        }
        times.sort();
        let floor = call * calls as u32;
        println!(
            "{:>18}: p50 {:>6.2} ms, p99 {:>6.2} ms; floor {:>5.2} ms ({calls} DynamoDB calls{})",
            function.name(),
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(floor),
            provider_calls(function),
        );
    }
    Ok(())
}
