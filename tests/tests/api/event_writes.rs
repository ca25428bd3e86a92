//! Writing events back to the provider (the demo server's events API, with Google's
//! semantics): create, change, delete; a retried create makes one event; a token without the
//! write scope gets INSUFFICIENT_SCOPE; the next sync finds the written events, not twice.

use std::time::Duration;

use integration_tests::{Options, Reply, TestApp, request};
use lambda_http::http::Method;
use serde_json::{Value, json};

fn options() -> Options {
    Options {
        own_oauth_server: true,
        sync_queue: Some((1, 3)),
        ..Options::default()
    }
}

fn planning() -> Value {
    json!({
        "title": "Planning",
        "description": "Quarterly",
        "startTime": "2030-01-02T10:00:00+01:00",
        "endTime": "2030-01-02T11:00:00+01:00",
        "timeZone": "Europe/Paris",
        "location": "Room 4",
        "attendees": ["bob@example.com", "cy@example.org"],
    })
}

async fn create(t: &TestApp, user: &str, id: &str, body: Value, key: Option<&str>) -> Reply {
    let mut req = request(Method::POST, &format!("/integrations/{id}/events"))
        .user(user)
        .json(body)
        .build();
    if let Some(key) = key {
        req.headers
            .insert("idempotency-key", key.parse().expect("a header value"));
    }
    t.send(req).await
}

async fn sync(t: &TestApp, user: &str, id: &str) -> Value {
    let reply = t.request_sync(user, id, json!({})).await;
    assert_eq!(reply.status(), 202, "{}", reply.body());
    let job = reply.data()["jobId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    t.drain_sync_queue(Duration::from_secs(60)).await;
    t.sync_job(user, id, &job).await
}

#[tokio::test]
async fn an_event_is_created_changed_and_deleted_at_the_provider_and_synced_once() {
    let t = TestApp::with(options()).await;
    let id = t.connected("ann").await;
    t.seed_events("ann", 3).await;

    let created = create(&t, "ann", &id, planning(), None).await;
    assert_eq!(created.status(), 201, "{}", created.body());
    let event = created.data()["event"].clone();
    let external = event["externalId"].as_str().unwrap_or_default().to_string();
    assert_eq!(event["title"], "Planning");
    assert_eq!(event["startTime"], "2030-01-02T09:00:00.000Z", "{event}");
    assert_eq!(
        event["attendees"],
        json!(["bob@example.com", "cy@example.org"])
    );
    assert_eq!(event["deleted"], false);
    let at_provider = t.demo_calendar("ann").await;
    let mine: Vec<&Value> = at_provider
        .iter()
        .filter(|e| e["id"] == external.as_str())
        .collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["location"], "Room 4");
    assert_eq!(mine[0]["start"]["timeZone"], "Europe/Paris");

    // The next sync lists it among the seeded ones: stored once, counted as no change.
    let job = sync(&t, "ann", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["counts"]["created"], 3,
        "only the seeded ones are new: {job}"
    );
    let stored = t.listed_events("ann", &id).await;
    assert_eq!(stored.len(), 4);
    assert_eq!(
        stored
            .iter()
            .filter(|e| e["externalId"] == external.as_str())
            .count(),
        1
    );

    let path = format!("/integrations/{id}/events/{external}");
    let changed = t
        .send(
            request(Method::PATCH, &path)
                .user("ann")
                .json(json!({"title": "Planning (moved)", "startTime": "2030-01-03", "endTime": "2030-01-04"}))
                .build(),
        )
        .await;
    assert_eq!(changed.status(), 200, "{}", changed.body());
    assert_eq!(changed.data()["event"]["title"], "Planning (moved)");
    assert_eq!(changed.data()["event"]["startTime"], "2030-01-03");
    assert_eq!(
        changed.data()["event"]["location"],
        "Room 4",
        "untouched fields stay"
    );
    let job = sync(&t, "ann", &id).await;
    assert_eq!(
        (
            job["counts"]["created"].as_u64(),
            job["counts"]["updated"].as_u64()
        ),
        (Some(0), Some(0)),
        "the change is stored already: {job}"
    );

    for _ in 0..2 {
        // A repeated delete answers the same.
        let deleted = t
            .send(request(Method::DELETE, &path).user("ann").build())
            .await;
        assert_eq!(deleted.status(), 200, "{}", deleted.body());
        assert_eq!(deleted.data()["deleted"], true);
    }
    let cancelled = t.demo_calendar("ann").await;
    assert!(
        cancelled
            .iter()
            .any(|e| e["id"] == external.as_str() && e["status"] == "cancelled")
    );
    let stored = t.listed_events("ann", &id).await;
    let record = stored.iter().find(|e| e["externalId"] == external.as_str());
    assert_eq!(record.map(|e| e["deleted"].clone()), Some(json!(true)));

    let unknown = t
        .send(
            request(
                Method::DELETE,
                &format!("/integrations/{id}/events/nosuchevent"),
            )
            .user("ann")
            .build(),
        )
        .await;
    assert_eq!(
        (unknown.status(), unknown.error_code().as_str()),
        (404, "EVENT_NOT_FOUND")
    );
    let audit = t.audit_events(Some("ann")).await;
    for kind in ["event_created", "event_updated", "event_deleted"] {
        assert!(audit.iter().any(|e| e["event"] == kind), "{kind}");
    }
}

#[tokio::test]
async fn a_retried_create_with_its_idempotency_key_makes_one_event() {
    let t = TestApp::with(options()).await;
    let id = t.connected("ben").await;
    // The first attempt fails at the provider; the retries go through, then repeat.
    t.events_api_faults(json!([{"status": 503}]), false).await;
    let failed = create(&t, "ben", &id, planning(), Some("order-1042")).await;
    assert_eq!(failed.status(), 502, "{}", failed.body());
    assert_eq!(failed.json()["error"]["retryable"], true);
    let first = create(&t, "ben", &id, planning(), Some("order-1042")).await;
    let again = create(&t, "ben", &id, planning(), Some("order-1042")).await;
    assert_eq!(
        (first.status(), again.status()),
        (201, 201),
        "{}",
        again.body()
    );
    assert_eq!(first.data()["event"]["id"], again.data()["event"]["id"]);
    assert_eq!(
        t.demo_calendar("ben").await.len(),
        1,
        "one event at the provider"
    );

    // The same key for another event is refused; a new key makes a new one.
    let mut other = planning();
    other["title"] = "Retro".into();
    let reused = create(&t, "ben", &id, other.clone(), Some("order-1042")).await;
    assert_eq!(
        (reused.status(), reused.error_code().as_str()),
        (422, "IDEMPOTENCY_KEY_REUSED")
    );
    let fresh = create(&t, "ben", &id, other, Some("order-1043")).await;
    assert_eq!(fresh.status(), 201, "{}", fresh.body());
    assert_eq!(t.demo_calendar("ben").await.len(), 2);
    let bad_key = create(&t, "ben", &id, planning(), Some("has space")).await;
    assert_eq!(bad_key.error_code(), "VALIDATION_ERROR");
}

/// The embedded catalogue with the demo entry's default scopes lacking its write scope.
fn read_only_demo_catalogue() -> String {
    let embedded = include_str!("../../../shared/providers.toml");
    let scopes = r#"scopes = ["openid", "email", "profile", "offline_access", "calendar.events"]"#;
    assert!(embedded.contains(scopes), "the demo entry's scopes");
    embedded.replacen(
        scopes,
        r#"scopes = ["openid", "email", "profile", "offline_access"]"#,
        1,
    )
}

#[tokio::test]
async fn without_the_write_scope_a_create_says_which_scope_to_connect_with() {
    let t = TestApp::with(Options {
        catalogue: Some(read_only_demo_catalogue()),
        ..options()
    })
    .await;
    let id = t.connected("cam").await;
    let refused = create(&t, "cam", &id, planning(), None).await;
    assert_eq!(
        (refused.status(), refused.error_code().as_str()),
        (403, "INSUFFICIENT_SCOPE"),
        "{}",
        refused.body()
    );
    assert_eq!(refused.json()["error"]["provider"], "demo");
    let message = refused.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("calendar.events"), "{message}");
    assert!(t.demo_calendar("cam").await.is_empty());

    // Connecting again with the scope the answer named makes the same create work.
    let redirect = t
        .authorized("cam", json!({"scopes": ["calendar.events"]}))
        .await;
    let reply = t.send(redirect.callback_request().build()).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let created = create(&t, "cam", &id, planning(), None).await;
    assert_eq!(created.status(), 201, "{}", created.body());
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_first_through_the_one_refresh_path() {
    let t = TestApp::with(options()).await;
    let id = t.connected("dan").await;
    t.expire_in("dan", &id, 0).await;
    let served = t.oauth_stats().await.refreshes_served();
    let created = create(&t, "dan", &id, planning(), None).await;
    assert_eq!(created.status(), 201, "{}", created.body());
    assert_eq!(t.oauth_stats().await.refreshes_served(), served + 1);
}

#[tokio::test]
async fn bad_events_are_refused_before_the_provider_is_asked() {
    let t = TestApp::with(options()).await;
    let id = t.connected("eve").await;
    let with = |change: Value| {
        let mut body = planning();
        for (k, v) in change.as_object().cloned().unwrap_or_default() {
            body[k] = v;
        }
        body
    };
    for (what, body) in [
        (
            "no title",
            json!({"startTime": "2030-01-02T10:00:00Z", "endTime": "2030-01-02T11:00:00Z"}),
        ),
        ("null title", with(json!({"title": null}))),
        ("blank title", with(json!({"title": "  "}))),
        (
            "end before start",
            with(json!({"endTime": "2030-01-02T08:00:00Z"})),
        ),
        (
            "no offset",
            with(json!({"startTime": "2030-01-02T10:00:00", "endTime": "2030-01-02T11:00:00"})),
        ),
        (
            "a date and a date-time",
            with(json!({"startTime": "2030-01-02"})),
        ),
        ("a bad time zone", with(json!({"timeZone": "Paris; drop"}))),
        ("a bad attendee", with(json!({"attendees": ["bob"]}))),
        (
            "too many attendees",
            with(json!({"attendees": vec!["a@example.com"; 101]})),
        ),
        ("a long title", with(json!({"title": "x".repeat(1025)}))),
        ("an unknown field", with(json!({"color": "red"}))),
    ] {
        let reply = create(&t, "eve", &id, body, None).await;
        assert_eq!(
            (reply.status(), reply.error_code().as_str()),
            (400, "VALIDATION_ERROR"),
            "{what}: {}",
            reply.body()
        );
    }
    let nothing = t
        .send(
            request(
                Method::PATCH,
                &format!("/integrations/{id}/events/ev000001"),
            )
            .user("eve")
            .json(json!({}))
            .build(),
        )
        .await;
    assert_eq!(nothing.error_code(), "VALIDATION_ERROR");
    // A time zone is sent with the times it applies to; alone it would change nothing.
    let zone_only = t
        .send(
            request(
                Method::PATCH,
                &format!("/integrations/{id}/events/ev000001"),
            )
            .user("eve")
            .json(json!({"timeZone": "Europe/Paris"}))
            .build(),
        )
        .await;
    assert_eq!(
        zone_only.error_code(),
        "VALIDATION_ERROR",
        "{}",
        zone_only.body()
    );
    assert!(
        t.demo_calendar("eve").await.is_empty(),
        "nothing reached the provider"
    );
    assert_eq!(t.oauth_stats().await.events_requests, 0);
}
