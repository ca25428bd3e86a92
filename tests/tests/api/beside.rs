//! Every writer of an integration row, run while a refresh is in flight after the provider
//! rotated the refresh token (a `holdMs` fault at the local OAuth server, which revokes the
//! whole grant when an old refresh token comes back): the write applies, the refresh still
//! stores what the provider issued, and the grant still refreshes afterwards
//! (docs/architecture.md, "Refresh protocol").

use std::future::Future;
use std::time::Duration;

use integration_tests::browser::introspect;
use integration_tests::{CLIENT_ID, CLIENT_SECRET, Options, Reply, TestApp, fast_tuning, request};
use lambda_http::http::Method;

fn options() -> Options {
    let mut tuning = fast_tuning();
    // Every manual refresh goes to the provider, so "still refreshes" is a real refresh.
    tuning.manual_refresh_window_secs = 0;
    Options {
        own_oauth_server: true,
        sync_queue: Some((1, 3)),
        refresh_tuning: Some(tuning),
        ..Options::default()
    }
}

/// How long the provider's answer to the refresh is held, and when the write starts within it.
const HOLD_MS: u64 = 1_500;
const WRITE_AFTER_MS: u64 = 500;

/// Runs `write` while a manual refresh of `id` is in flight: by the time the write starts, the
/// provider has rotated the refresh token and its answer is on the way.
async fn beside_a_refresh<T>(
    t: &TestApp,
    user: &str,
    id: &str,
    write: impl Future<Output = T>,
) -> (Reply, T) {
    t.token_endpoint_faults(serde_json::json!([{ "holdMs": HOLD_MS }]), false)
        .await;
    let before = t.oauth_stats().await;
    let (served_before, held_before) = (before.refreshes_served(), before.held_answers.len());
    let write = async {
        tokio::time::sleep(Duration::from_millis(WRITE_AFTER_MS)).await;
        let stats = t.oauth_stats().await;
        assert_eq!(
            (stats.refreshes_served(), stats.held_answers.len()),
            (served_before + 1, held_before + 1),
            "the provider has answered the refresh before the write starts"
        );
        write.await
    };
    tokio::join!(t.manual_refresh(user, id), write)
}

/// After the race: one more refresh reaches the provider and succeeds (a spent refresh token
/// would have revoked the grant: `invalid_grant`, status `expired`).
async fn still_refreshes(t: &TestApp, user: &str, id: &str) {
    let served = t.oauth_stats().await.refreshes_served();
    let reply = t.manual_refresh(user, id).await;
    assert_eq!(reply.status(), 200, "later refresh: {}", reply.body());
    assert_eq!(t.oauth_stats().await.refreshes_served(), served + 1);
    let reply = t.token_route(user, id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
}

async fn integration(t: &TestApp, user: &str, id: &str) -> serde_json::Value {
    let reply = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user(user)
                .build(),
        )
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    reply.data()["integration"].clone()
}

fn settings(enabled: bool, frequency: &str) -> serde_json::Value {
    serde_json::json!({"syncSettings": {"enabled": enabled, "syncTypes": ["calendar"], "frequency": frequency}})
}

#[tokio::test]
async fn a_settings_change_beside_a_refresh_keeps_both() {
    let t = TestApp::with(options()).await;
    let id = t.connected("ada").await;
    let (refresh, patched) = beside_a_refresh(
        &t,
        "ada",
        &id,
        t.patch_integration("ada", &id, settings(true, "daily")),
    )
    .await;
    assert_eq!(patched.status(), 200, "PATCH: {}", patched.body());
    assert_eq!(refresh.status(), 200, "refresh: {}", refresh.body());
    let got = integration(&t, "ada", &id).await;
    assert_eq!(got["status"], "connected");
    assert_eq!(got["syncSettings"]["frequency"], "daily", "{got}");
    assert_eq!(got["syncSettings"]["enabled"], true);
    still_refreshes(&t, "ada", &id).await;
}

#[tokio::test]
async fn a_metadata_change_beside_a_refresh_keeps_both() {
    let t = TestApp::with(options()).await;
    let id = t.connected("abe").await;
    let metadata = serde_json::json!({"seat": 7});
    let (refresh, patched) = beside_a_refresh(
        &t,
        "abe",
        &id,
        t.patch_integration("abe", &id, serde_json::json!({ "metadata": metadata })),
    )
    .await;
    assert_eq!(patched.status(), 200, "PATCH: {}", patched.body());
    assert_eq!(refresh.status(), 200, "refresh: {}", refresh.body());
    let got = integration(&t, "abe", &id).await;
    assert_eq!(got["status"], "connected");
    assert_eq!(got["metadata"], metadata, "{got}");
    still_refreshes(&t, "abe", &id).await;
}

#[tokio::test]
async fn a_sync_request_and_its_job_beside_a_refresh_keep_both() {
    let t = TestApp::with(options()).await;
    let id = t.connected("bea").await;
    t.seed_events("bea", 5).await;
    let (refresh, requested) = beside_a_refresh(
        &t,
        "bea",
        &id,
        t.request_sync("bea", &id, serde_json::json!({})),
    )
    .await;
    assert_eq!(requested.status(), 202, "{}", requested.body());
    assert_eq!(refresh.status(), 200, "refresh: {}", refresh.body());
    // The job's run writes the cursor, lastSyncAt and the active-job mark: beside another
    // refresh held in flight.
    let job_id = requested.data()["jobId"].as_str().unwrap().to_string();
    let (refresh, _) =
        beside_a_refresh(&t, "bea", &id, t.drain_sync_queue(Duration::from_secs(50))).await;
    assert_eq!(refresh.status(), 200, "refresh: {}", refresh.body());
    let job = t.sync_job("bea", &id, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(integration(&t, "bea", &id).await["lastSyncAt"].is_string());
    still_refreshes(&t, "bea", &id).await;
}

#[tokio::test]
async fn a_contacts_sync_and_its_job_beside_a_refresh_keep_both() {
    let t = TestApp::with(options()).await;
    let id = t.connected("cal").await;
    t.seed_contacts("cal", 5).await;
    let contacts = serde_json::json!({"syncTypes": ["contacts"]});
    let (refresh, requested) =
        beside_a_refresh(&t, "cal", &id, t.request_sync("cal", &id, contacts)).await;
    assert_eq!(requested.status(), 202, "{}", requested.body());
    assert_eq!(refresh.status(), 200, "refresh: {}", refresh.body());
    // The job writes the contacts' cursor and active-job mark: beside another refresh.
    let job_id = requested.data()["jobId"].as_str().unwrap().to_string();
    let (refresh, _) =
        beside_a_refresh(&t, "cal", &id, t.drain_sync_queue(Duration::from_secs(50))).await;
    assert_eq!(refresh.status(), 200, "refresh: {}", refresh.body());
    let job = t.sync_job("cal", &id, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(t.listed_contacts("cal", &id).await.len(), 5);
    still_refreshes(&t, "cal", &id).await;
}

#[tokio::test]
async fn a_scheduled_sync_beside_a_refresh_keeps_both() {
    let t = TestApp::with(Options {
        refresh_queue: Some((30, 3)),
        ..options()
    })
    .await;
    let id = t.connected("cyd").await;
    let patched = t
        .patch_integration("cyd", &id, settings(true, "hourly"))
        .await;
    assert_eq!(patched.status(), 200, "{}", patched.body());
    // The scheduler queues the due sync and moves the integration's next sync (its own write).
    let (refresh, report) =
        beside_a_refresh(&t, "cyd", &id, t.schedule(shared::clock::now_epoch())).await;
    assert_eq!(report.expect("scheduler run").syncs_queued, 1);
    assert_eq!(refresh.status(), 200, "refresh: {}", refresh.body());
    still_refreshes(&t, "cyd", &id).await;
}

#[tokio::test]
async fn a_reconnect_beside_a_refresh_leaves_the_new_connection_working() {
    let t = TestApp::with(options()).await;
    let id = t.connected("dot").await;
    let (refresh, reconnected) = beside_a_refresh(&t, "dot", &id, t.connect("dot")).await;
    assert_eq!(
        reconnected["id"],
        id.as_str(),
        "the same account, the same row"
    );
    // The refresh's tokens belong to the grant the reconnect replaced: it answers with the
    // connection as it now stands.
    assert_eq!(refresh.status(), 200, "refresh: {}", refresh.body());
    assert_eq!(integration(&t, "dot", &id).await["status"], "connected");
    still_refreshes(&t, "dot", &id).await;
}

#[tokio::test]
async fn a_disconnect_beside_a_refresh_revokes_what_the_refresh_obtained() {
    let t = TestApp::with(options()).await;
    let id = t.connected("eve").await;
    let disconnect = t.send(
        request(Method::DELETE, &format!("/integrations/{id}"))
            .user("eve")
            .build(),
    );
    let (refresh, disconnected) = beside_a_refresh(&t, "eve", &id, disconnect).await;
    assert_eq!(disconnected.status(), 200, "{}", disconnected.body());
    // Disconnected meanwhile: gone from the API, for the refresh as for any later request.
    assert_eq!(
        (refresh.status(), refresh.error_code().as_str()),
        (404, "ACCOUNT_NOT_FOUND"),
        "refresh: {}",
        refresh.body()
    );
    let gone = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("eve")
                .build(),
        )
        .await;
    assert_eq!(gone.status(), 404, "{}", gone.body());
    assert!(
        t.stored_tokens("eve", &id).await.is_none(),
        "no tokens kept"
    );
    let held = &t.oauth_stats().await.held_answers[0];
    let mut asked = held.revocation_requested.clone();
    asked.sort();
    assert_eq!(
        asked,
        ["access", "refresh"],
        "the refresh's own tokens revoked"
    );
    for token in [&held.access_token, &held.refresh_token] {
        let token = token.as_deref().expect("the provider issued it");
        assert!(
            !introspect(&t.oauth_url, CLIENT_ID, CLIENT_SECRET, token).await,
            "a token the refresh obtained is still active at the provider"
        );
    }
}
