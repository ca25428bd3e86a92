//! Contacts sync through the same job machinery as calendar events (SQS, checkpoints, exact
//! counts, idempotent replays, sweeps after full listings), against the demo server's contacts
//! API with the People API's semantics.

use std::time::Duration;

use integration_tests::{Options, TestApp, request};
use lambda_http::http::Method;
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);

fn options() -> Options {
    Options {
        own_oauth_server: true,
        sync_queue: Some((1, 3)),
        ..Options::default()
    }
}

/// Requests a contacts sync, runs the worker until the queue is empty; the finished job.
async fn sync_contacts(t: &TestApp, user: &str, id: &str, full: bool) -> Value {
    let reply = t
        .request_sync(user, id, json!({"syncTypes": ["contacts"], "full": full}))
        .await;
    assert_eq!(reply.status(), 202, "{}", reply.body());
    assert_eq!(reply.data()["jobs"][0]["syncType"], "contacts");
    let job_id = reply.data()["jobId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    t.drain_sync_queue(LONG).await;
    t.sync_job(user, id, &job_id).await
}

fn counts(job: &Value) -> (u64, u64, u64) {
    let n = |k: &str| job["counts"][k].as_u64().unwrap_or(u64::MAX);
    (n("created"), n("updated"), n("deleted"))
}

#[tokio::test]
async fn contacts_sync_in_full_then_only_their_changes_and_deletions() {
    let t = TestApp::with(options()).await;
    let id = t.connected("ida").await;
    // 1,200 contacts: two pages of the People API's largest (1,000).
    t.seed_contacts("ida", 1200).await;
    let job = sync_contacts(&t, "ida", &id, false).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["syncType"], "contacts");
    assert_eq!(counts(&job), (1200, 0, 0));
    let listed = t.listed_contacts("ida", &id).await;
    assert_eq!(listed.len(), 1200);
    let first = listed
        .iter()
        .find(|c| c["externalId"] == "people/c3")
        .cloned()
        .unwrap_or_default();
    assert_eq!(first["givenName"], "Person3");
    assert_eq!(first["emails"], json!(["person3@example.test"]));
    assert_eq!(first["organization"], "Company 3");
    assert_eq!(first["deleted"], false);
    // The events were not touched: contacts are their own records.
    assert!(t.listed_events("ida", &id).await.is_empty());

    let changed = t.change_contacts("ida", 10, 5).await;
    let job = sync_contacts(&t, "ida", &id, false).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (0, 10, 5), "only the changes: {job}");
    let listed = t.listed_contacts("ida", &id).await;
    assert_eq!(listed.len(), 1200, "deleted ones stay, flagged");
    let deleted: Vec<&Value> = listed.iter().filter(|c| c["deleted"] == true).collect();
    assert_eq!(deleted.len(), 5);
    let renamed = changed["updated"][0].as_str().unwrap_or_default();
    let contact = listed.iter().find(|c| c["externalId"] == renamed);
    assert!(
        contact.is_some_and(|c| c["givenName"].as_str().is_some_and(|g| g.ends_with('*'))),
        "{contact:?}"
    );

    // Nothing changed since: an incremental sync finds nothing.
    let job = sync_contacts(&t, "ida", &id, false).await;
    assert_eq!(counts(&job), (0, 0, 0));
    let integration = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("ida")
                .build(),
        )
        .await;
    assert!(integration.data()["integration"]["lastSyncAt"].is_string());
}

#[tokio::test]
async fn an_expired_sync_token_means_a_full_resync_that_sweeps_what_is_gone() {
    let t = TestApp::with(options()).await;
    let id = t.connected("jo").await;
    t.seed_contacts("jo", 50).await;
    assert_eq!(
        counts(&sync_contacts(&t, "jo", &id, false).await),
        (50, 0, 0)
    );
    // Three deleted while the sync token expired: the full listing no longer has them.
    t.change_contacts("jo", 0, 3).await;
    t.expire_contacts_sync_tokens("jo").await;
    let job = sync_contacts(&t, "jo", &id, false).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (0, 0, 3), "the sweep marks the three: {job}");
    let listed = t.listed_contacts("jo", &id).await;
    assert_eq!(listed.iter().filter(|c| c["deleted"] == true).count(), 3);
    // The new token works: the next incremental sync finds nothing.
    assert_eq!(
        counts(&sync_contacts(&t, "jo", &id, false).await),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn the_same_contacts_message_twice_changes_nothing() {
    let t = TestApp::with(options()).await;
    let id = t.connected("kim").await;
    t.seed_contacts("kim", 1100).await;
    let reply = t
        .request_sync("kim", &id, json!({"syncTypes": ["contacts"]}))
        .await;
    let job_id = reply.data()["jobId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let deliver = || t.deliver_sync_message("kim", &id, &job_id, LONG);
    // Two deliveries at once (SQS is at-least-once), then a third after the job finished.
    let _ = tokio::join!(deliver(), deliver());
    t.drain_sync_queue(LONG).await;
    let job = t.sync_job("kim", &id, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (1100, 0, 0), "no page counted twice");
    assert!(deliver().await.batch_item_failures.is_empty());
    assert_eq!(counts(&t.sync_job("kim", &id, &job_id).await), (1100, 0, 0));
    assert_eq!(
        t.listed_contacts("kim", &id).await.len(),
        1100,
        "no duplicates"
    );
}

#[tokio::test]
async fn both_types_sync_side_by_side_each_with_its_own_job() {
    let t = TestApp::with(options()).await;
    let id = t.connected("lou").await;
    t.seed_contacts("lou", 20).await;
    t.seed_events("lou", 30).await;
    let reply = t
        .request_sync("lou", &id, json!({"syncTypes": ["calendar", "contacts"]}))
        .await;
    assert_eq!(reply.status(), 202, "{}", reply.body());
    let jobs = reply.data()["jobs"].as_array().cloned().unwrap_or_default();
    assert_eq!(jobs.len(), 2);
    assert_eq!(reply.data()["jobId"], jobs[0]["jobId"]);
    // Asked again while queued: the same two jobs, one per type.
    let again = t
        .request_sync("lou", &id, json!({"syncTypes": ["contacts", "calendar"]}))
        .await;
    let again_ids: Vec<Value> = again.data()["jobs"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|j| j["jobId"].clone())
        .collect();
    assert!(
        jobs.iter().all(|j| again_ids.contains(&j["jobId"])),
        "{again_ids:?}"
    );
    t.drain_sync_queue(LONG).await;
    for job in &jobs {
        let finished = t
            .sync_job("lou", &id, job["jobId"].as_str().unwrap_or_default())
            .await;
        assert_eq!(finished["status"], "succeeded", "{finished}");
        let expected = if job["syncType"] == "contacts" {
            20
        } else {
            30
        };
        assert_eq!(counts(&finished).0, expected, "{finished}");
    }
    assert_eq!(t.listed_contacts("lou", &id).await.len(), 20);
    assert_eq!(t.listed_events("lou", &id).await.len(), 30);

    // Settings naming both make a request without syncTypes, and the schedule, sync both.
    let settings = json!({"syncSettings": {"enabled": false, "syncTypes": ["calendar", "contacts"], "frequency": "daily"}});
    let patched = t
        .send(
            request(Method::PATCH, &format!("/integrations/{id}"))
                .user("lou")
                .json(settings)
                .build(),
        )
        .await;
    assert_eq!(patched.status(), 200, "{}", patched.body());
    let both = t.request_sync("lou", &id, json!({})).await;
    assert_eq!(both.data()["jobs"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn another_users_contacts_are_not_found_and_bad_cursors_refused() {
    let t = TestApp::new().await;
    let id = t.connected("max").await;
    let theirs = t
        .send(
            request(Method::GET, &format!("/integrations/{id}/contacts"))
                .user("mallory")
                .build(),
        )
        .await;
    assert_eq!(
        (theirs.status(), theirs.error_code().as_str()),
        (404, "ACCOUNT_NOT_FOUND")
    );
    let mine = t
        .send(
            request(Method::GET, &format!("/integrations/{id}/contacts"))
                .user("max")
                .build(),
        )
        .await;
    assert_eq!(mine.data()["contacts"], json!([]));
    // An events cursor is not a contacts cursor.
    let events_cursor = shared::store::encode_cursor("EVENT#ev000001");
    let bad = t
        .send(
            request(Method::GET, &format!("/integrations/{id}/contacts"))
                .user("max")
                .query("cursor", &events_cursor)
                .build(),
        )
        .await;
    assert_eq!(bad.error_code(), "VALIDATION_ERROR");
}

#[tokio::test]
async fn connect_asks_for_the_scopes_of_the_sync_types_the_app_names() {
    let t = TestApp::new().await;
    let scope_of = |auth_url: &str| {
        url::Url::parse(auth_url)
            .ok()
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "scope")
                    .map(|(_, v)| v.into_owned())
            })
            .unwrap_or_default()
    };
    let plain = t.start_connect("ned", json!({})).await;
    assert!(!scope_of(&plain).contains("contacts.readonly"), "{plain}");
    let with_contacts = t
        .start_connect("ned", json!({"syncTypes": ["contacts"]}))
        .await;
    assert!(
        scope_of(&with_contacts)
            .split(' ')
            .any(|s| s == "contacts.readonly"),
        "{with_contacts}"
    );
    // The grant carries it: the integration lists the scope.
    let redirect = integration_tests::browser::authorize(&with_contacts, "ned").await;
    let reply = t.send(redirect.callback_request().build()).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let listed = t
        .send(request(Method::GET, "/integrations").user("ned").build())
        .await;
    let scopes = listed.data()["integrations"][0]["scopes"].clone();
    assert!(
        scopes
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s == "contacts.readonly")),
        "{scopes}"
    );
    // A type the provider cannot sync is refused before anything is stored.
    let refused = t
        .send(
            request(Method::POST, "/providers/demo/connect")
                .user("ned")
                .json(json!({"syncTypes": ["tasks"]}))
                .build(),
        )
        .await;
    assert_eq!(refused.error_code(), "VALIDATION_ERROR");
}
