//! Lifecycle events to the application (docs/events.md): published to EventBridge (moto) once
//! per change, in the documented shapes, with no token in them; a failed publish never fails
//! the operation it reports.

use std::time::Duration;

use integration_tests::{Options, TestApp, request};
use lambda_http::http::Method;
use secrecy::ExposeSecret;

fn options() -> Options {
    Options {
        own_oauth_server: true,
        sync_queue: Some((1, 3)),
        events: true,
        ..Options::default()
    }
}

/// Each event's `detail` against its JSON Schema in docs/events/ (Python's jsonschema, from
/// the venv `make bootstrap` builds), and the envelope's source and detail-type.
fn assert_documented(events: &[serde_json::Value]) {
    for event in events {
        assert_eq!(event["source"], shared::publish::SOURCE, "{event}");
        let kind = event["detail-type"].as_str().unwrap();
        let schema = devstack::repo_root().join(format!("docs/events/{kind}.schema.json"));
        assert!(schema.exists(), "no schema for {kind}");
        let checked = std::process::Command::new(devstack::repo_root().join(".venv/bin/python"))
            .args([
                "-c",
                "import json, sys, jsonschema; \
                 jsonschema.validate(json.loads(sys.argv[2]), json.load(open(sys.argv[1])), \
                 format_checker=jsonschema.FormatChecker())",
            ])
            .arg(&schema)
            .arg(event["detail"].to_string())
            .output()
            .expect("the venv's python (make bootstrap)");
        assert!(
            checked.status.success(),
            "{kind} does not match its schema: {}\n{event}",
            String::from_utf8_lossy(&checked.stderr)
        );
    }
}

fn kinds(events: &[serde_json::Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn connect_sync_and_disconnect_each_publish_one_event() {
    let t = TestApp::with(options()).await;
    let id = t.connected("olga").await;
    let tokens = t.stored_tokens("olga", &id).await.unwrap();
    let connected = t.published_events().await;
    assert_eq!(kinds(&connected), ["integration.connected"]);
    let detail = &connected[0]["detail"];
    assert_eq!(detail["integrationId"], id.as_str());
    assert_eq!(detail["userId"], "olga");
    assert_eq!(detail["provider"], "demo");

    t.seed_events("olga", 5).await;
    let reply = t
        .request_sync("olga", &id, serde_json::json!({ "full": true }))
        .await;
    assert_eq!(reply.status(), 202);
    let job_id = reply.data()["jobId"].as_str().unwrap().to_string();
    t.drain_sync_queue(Duration::from_secs(60)).await;
    let synced = t.published_events().await;
    assert_eq!(kinds(&synced), ["sync.completed"]);
    assert_eq!(synced[0]["detail"]["jobId"], job_id.as_str());
    assert_eq!(
        synced[0]["detail"]["counts"],
        serde_json::json!({"created": 5, "updated": 0, "deleted": 0})
    );
    // A contacts sync tells its type.
    t.seed_contacts("olga", 3).await;
    let reply = t
        .request_sync(
            "olga",
            &id,
            serde_json::json!({ "syncTypes": ["contacts"] }),
        )
        .await;
    assert_eq!(reply.status(), 202);
    t.drain_sync_queue(Duration::from_secs(60)).await;
    let contacts = t.published_events().await;
    assert_eq!(kinds(&contacts), ["sync.completed"]);
    assert_eq!(contacts[0]["detail"]["syncType"], "contacts");
    assert_eq!(contacts[0]["detail"]["counts"]["created"], 3);

    let gone = t
        .send(
            request(Method::DELETE, &format!("/integrations/{id}"))
                .user("olga")
                .build(),
        )
        .await;
    assert_eq!(gone.status(), 200, "{}", gone.body());
    // Again: the same answer, and no second event for a change that did not happen.
    let again = t
        .send(
            request(Method::DELETE, &format!("/integrations/{id}"))
                .user("olga")
                .build(),
        )
        .await;
    assert_eq!(again.status(), 200);
    let disconnected = t.published_events().await;
    assert_eq!(kinds(&disconnected), ["integration.disconnected"]);

    let all: Vec<_> = [connected, synced, contacts, disconnected].concat();
    assert_documented(&all);
    let text = serde_json::to_string(&all).unwrap();
    assert!(!text.contains(tokens.access_token.expose_secret()));
    assert!(!text.contains(tokens.refresh_token.unwrap().expose_secret()));
}

#[tokio::test]
async fn a_refresh_storm_publishes_nothing_and_a_dead_grant_one_expired_event() {
    let t = TestApp::with(options()).await;
    let id = t.connected("pia").await;
    let _ = t.published_events().await;

    // Eight callers at once, each wanting a refresh: one refreshes, seven reuse its result.
    t.expire_in("pia", &id, 30).await;
    let storm = futures_util::future::join_all((0..8).map(|_| t.token_route("pia", &id))).await;
    assert!(storm.iter().all(|r| r.status() == 200));
    assert_eq!(t.published_events().await, Vec::<serde_json::Value>::new());

    // The user revokes the app at the provider; the next storm finds the grant dead.
    t.revoke_grant_at_provider("pia", &id).await;
    t.expire_in("pia", &id, 30).await;
    let storm = futures_util::future::join_all((0..8).map(|_| t.token_route("pia", &id))).await;
    assert!(storm.iter().all(|r| r.status() != 200));
    let expired = t.published_events().await;
    assert_eq!(kinds(&expired), ["integration.expired"], "{expired:?}");
    assert_eq!(expired[0]["detail"]["code"], "invalid_grant");
    assert_documented(&expired);
}

#[tokio::test]
async fn a_provider_outage_publishes_refresh_failed_with_its_outlook() {
    let t = TestApp::with(options()).await;
    let id = t.connected("quinn").await;
    let _ = t.published_events().await;
    t.token_endpoint_faults(serde_json::json!([{ "status": 503 }]), true)
        .await;
    t.expire_in("quinn", &id, 30).await;
    let reply = t.manual_refresh("quinn", &id).await;
    assert_eq!(reply.status(), 503, "{}", reply.body());
    let failed = t.published_events().await;
    assert_eq!(kinds(&failed), ["integration.refresh_failed"]);
    let detail = &failed[0]["detail"];
    assert_eq!(detail["code"], "provider_unavailable");
    assert_eq!(detail["retryable"], true);
    assert!(detail["accessTokenExpiresAt"].is_string(), "{detail}");
    assert_documented(&failed);
}

#[tokio::test]
async fn a_failed_publish_is_logged_and_counted_and_the_connect_succeeds() {
    let t = TestApp::with(options()).await;
    // The bus goes away (its rule first, as EventBridge requires): every publish now fails.
    let events = aws_sdk_eventbridge::Client::new(&t.stack.aws);
    let bus = format!("{}-events", t.table_name);
    events
        .remove_targets()
        .rule("app-events")
        .event_bus_name(&bus)
        .ids("app-events-queue")
        .send()
        .await
        .unwrap();
    events
        .delete_rule()
        .name("app-events")
        .event_bus_name(&bus)
        .send()
        .await
        .unwrap();
    events.delete_event_bus().name(&bus).send().await.unwrap();

    let integration = t.connect("rosa").await;
    assert_eq!(integration["status"], "connected");
    let unpublished: Vec<_> = t
        .metric_lines()
        .into_iter()
        .filter(|l| l["EventsUnpublished"] == 1.0)
        .collect();
    assert_eq!(unpublished.len(), 1, "{unpublished:?}");
    assert_eq!(unpublished[0]["detailType"], "integration.connected");
}
