//! The token lifecycle against the local OAuth server, which rotates refresh tokens and revokes
//! the whole grant when an old one is presented again (reuse detection): one refresh at a time
//! under any race, nothing lost when the store fails, bounded retries, invalid_grant.

use std::time::Duration;

use integration_tests::browser::introspect;
use integration_tests::lifecycle::refresh_message;
use integration_tests::{CLIENT_ID, CLIENT_SECRET, Options, TestApp, request};
use lambda_http::http::Method;
use secrecy::ExposeSecret;

fn own_server() -> Options {
    Options {
        own_oauth_server: true,
        ..Options::default()
    }
}

async fn access_token(t: &TestApp, user: &str, id: &str) -> String {
    t.stored_tokens(user, id)
        .await
        .expect("stored tokens")
        .access_token
        .expose_secret()
        .to_string()
}

#[tokio::test]
async fn storm_of_concurrent_triggers_refreshes_each_integration_exactly_once() {
    let t = TestApp::with(own_server()).await;
    let users: Vec<String> = (0..20).map(|i| format!("storm{i}")).collect();
    let mut ids = Vec::new();
    for user in &users {
        ids.push(t.connected(user).await);
    }
    for (user, id) in users.iter().zip(&ids) {
        t.expire_in(user, id, 60).await;
    }
    t.reset_oauth_stats().await;

    // 100 triggers, 5 per integration, mixed across the worker, the manual refresh route and
    // the token route, all at once.
    let triggers = (0..100).map(|i| {
        let (user, id) = (&users[i % 20], &ids[i % 20]);
        let t = &t;
        async move {
            match i % 3 {
                0 => {
                    let failed = t.run_worker(&[refresh_message(user, id)]).await;
                    (i, failed.is_empty(), format!("worker failures {failed:?}"))
                }
                1 => {
                    let reply = t.manual_refresh(user, id).await;
                    (i, reply.status() == 200, reply.body().to_string())
                }
                _ => {
                    let reply = t.token_route(user, id).await;
                    (i, reply.status() == 200, reply.body().to_string())
                }
            }
        }
    });
    for (i, ok, detail) in futures_util::future::join_all(triggers).await {
        assert!(ok, "trigger {i} failed: {detail}");
    }
    let stats = t.oauth_stats().await;
    assert_eq!(
        stats.refreshes_served(),
        20,
        "exactly one refresh per integration at the token endpoint"
    );

    // Every grant survived (no refresh token was presented twice): each refreshes again.
    for (user, id) in users.iter().zip(&ids) {
        t.expire_in(user, id, 60).await;
        let reply = t.token_route(user, id).await;
        assert_eq!(reply.status(), 200, "{user}: {}", reply.body());
        let token = reply.data()["accessToken"].as_str().unwrap().to_string();
        assert!(introspect(&t.oauth_url, CLIENT_ID, CLIENT_SECRET, &token).await);
    }
    assert_eq!(t.oauth_stats().await.refreshes_served(), 40);
}

#[tokio::test]
async fn tokens_refreshed_at_the_provider_are_stored_once_the_store_answers_again() {
    let t = TestApp::with(Options {
        own_oauth_server: true,
        store_proxy: true,
        ..Options::default()
    })
    .await;
    let id = t.connected("carol").await;
    let before = access_token(&t, "carol", &id).await;
    t.expire_in("carol", &id, 60).await;
    t.reset_oauth_stats().await;

    // The fenced write of the refreshed tokens fails twice over (each time through all of the
    // SDK's own 3 attempts) after the provider has rotated the refresh token.
    let store = t.store.as_ref().unwrap();
    store.fail_next_containing("UpdateItem", "refreshedAt = :refreshed", 6);
    let reply = t.token_route("carol", &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(store.failed(), 6, "the injected faults were hit");
    assert_eq!(t.oauth_stats().await.refreshes_served(), 1);

    let handed_out = reply.data()["accessToken"].as_str().unwrap().to_string();
    assert_ne!(handed_out, before);
    assert_eq!(
        access_token(&t, "carol", &id).await,
        handed_out,
        "persisted"
    );
    assert!(introspect(&t.oauth_url, CLIENT_ID, CLIENT_SECRET, &handed_out).await);

    // The stored refresh token is the rotated one: the next refresh works (the old one would
    // have been reuse, and the server would have revoked the grant).
    t.expire_in("carol", &id, 60).await;
    let again = t.token_route("carol", &id).await;
    assert_eq!(again.status(), 200, "{}", again.body());
    assert_eq!(t.oauth_stats().await.refreshes_served(), 2);
}

#[tokio::test]
async fn a_store_that_stays_down_after_the_provider_refreshed_is_reported_and_audited() {
    let mut tuning = integration_tests::fast_tuning();
    tuning.write_retry.attempts = 2;
    let t = TestApp::with(Options {
        own_oauth_server: true,
        store_proxy: true,
        refresh_tuning: Some(tuning),
        ..Options::default()
    })
    .await;
    let id = t.connected("cleo").await;
    let before = access_token(&t, "cleo", &id).await;
    t.expire_in("cleo", &id, 60).await;
    t.reset_oauth_stats().await;
    let store = t.store.as_ref().unwrap();
    store.fail_next_containing("UpdateItem", "refreshedAt = :refreshed", 1000);

    let reply = t.token_route("cleo", &id).await;
    store.clear_faults();
    assert_eq!(reply.status(), 503, "{}", reply.body());
    assert_eq!(reply.error_code(), "DATABASE_ERROR");
    assert_eq!(reply.json()["error"]["retryable"], true);
    assert_eq!(t.oauth_stats().await.refreshes_served(), 1);
    let events = t.audit_events(Some("cleo")).await;
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "token_refresh_failed" && e["reason"] == "store_write_failed"),
        "{events:?}"
    );
    // Left for the next attempt: still connected and indexed, the old tokens in place, and the
    // lease held until it expires (no other caller refreshes in the meantime).
    let item = t.integration_item("cleo", &id).await;
    assert_eq!(item["status"].as_s().unwrap(), "connected");
    assert!(item.contains_key("GSI1PK") && item.contains_key("leaseUntil"));
    assert_eq!(access_token(&t, "cleo", &id).await, before);
}

#[tokio::test]
async fn busy_provider_is_retried_with_backoff_and_retry_after() {
    let t = TestApp::with(own_server()).await;
    let id = t.connected("dave").await;
    t.expire_in("dave", &id, 60).await;
    t.reset_oauth_stats().await;
    t.token_endpoint_faults(
        serde_json::json!([{"status": 503}, {"status": 429, "retryAfter": 1}]),
        false,
    )
    .await;

    let reply = t.token_route("dave", &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let log = t.oauth_stats().await.token_request_log;
    let statuses: Vec<u16> = log.iter().map(|l| l.status).collect();
    assert_eq!(statuses, [503, 429, 200]);
    assert!(
        log[2].at - log[1].at >= 1000,
        "Retry-After: 1 waited for ({} ms)",
        log[2].at - log[1].at
    );
}

#[tokio::test]
async fn provider_that_never_recovers_gets_bounded_attempts_then_a_retryable_error() {
    let t = TestApp::with(own_server()).await;
    let id = t.connected("erin").await;
    t.expire_in("erin", &id, 60).await;
    t.reset_oauth_stats().await;
    t.token_endpoint_faults(serde_json::json!([{"status": 503}]), true)
        .await;

    let reply = t.token_route("erin", &id).await;
    assert_eq!(reply.status(), 503, "{}", reply.body());
    assert_eq!(reply.error_code(), "TOKEN_REFRESH_ERROR");
    assert_eq!(reply.json()["error"]["retryable"], true);
    let attempts = t.app.refresh_tuning.provider_retry.attempts as u64;
    assert_eq!(t.oauth_stats().await.faulted_token_requests, attempts);

    // The worker hands the message back to the queue.
    let failed = t.run_worker(&[refresh_message("erin", &id)]).await;
    assert_eq!(failed, ["msg-0"]);

    // Still connected, the failure recorded and audited; once the provider is back, it works.
    let got = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("erin")
                .build(),
        )
        .await;
    assert_eq!(got.data()["integration"]["status"], "connected");
    assert_eq!(
        got.data()["integration"]["lastError"]["code"],
        "TOKEN_REFRESH_ERROR"
    );
    let events = t.audit_events(Some("erin")).await;
    assert!(events.iter().any(|e| e["event"] == "token_refresh_failed"));
    reqwest::Client::new()
        .delete(format!("{}/__faults/token", t.oauth_url))
        .send()
        .await
        .unwrap();
    let reply = t.token_route("erin", &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let got = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("erin")
                .build(),
        )
        .await;
    assert!(got.data()["integration"].get("lastError").is_none());
}

#[tokio::test]
async fn invalid_grant_expires_the_integration_once_and_for_all() {
    let t = TestApp::with(own_server()).await;
    let id = t.connected("frank").await;
    t.revoke_grant_at_provider("frank", &id).await;
    t.expire_in("frank", &id, 60).await;
    t.reset_oauth_stats().await;

    let failed = t.run_worker(&[refresh_message("frank", &id)]).await;
    assert!(
        failed.is_empty(),
        "a revoked grant is done with, not retried"
    );
    assert_eq!(t.oauth_stats().await.refreshes_served(), 1);

    let item = t.integration_item("frank", &id).await;
    assert_eq!(item["status"].as_s().unwrap(), "expired");
    assert!(
        !item.contains_key("GSI1PK") && !item.contains_key("GSI1SK"),
        "out of the refresh index"
    );
    let got = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("frank")
                .build(),
        )
        .await;
    assert_eq!(got.data()["integration"]["status"], "expired");
    assert_eq!(
        got.data()["integration"]["lastError"]["code"],
        "TOKEN_EXPIRED"
    );
    let events = t.audit_events(Some("frank")).await;
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "token_refresh_failed" && e["reason"] == "invalid_grant"),
        "{events:?}"
    );

    // No retry storm: more triggers reach no provider.
    assert!(
        t.run_worker(&[refresh_message("frank", &id)])
            .await
            .is_empty()
    );
    let reply = t.token_route("frank", &id).await;
    assert_eq!(
        (reply.status(), reply.error_code().as_str()),
        (409, "TOKEN_EXPIRED")
    );
    let reply = t.manual_refresh("frank", &id).await;
    assert_eq!(reply.error_code(), "TOKEN_EXPIRED");
    assert_eq!(t.oauth_stats().await.refreshes_served(), 1);
}

#[tokio::test]
async fn token_route_on_a_fresh_token_is_one_get_item_one_audit_write_and_no_kms_call() {
    let t = TestApp::with(Options {
        store_proxy: true,
        key_cache: true,
        ..Options::default()
    })
    .await;
    let id = t.connected("grace").await;
    let first = t.token_route("grace", &id).await;
    assert_eq!(first.status(), 200, "{}", first.body());
    let data = first.data();
    assert_eq!(
        data["accessToken"].as_str().unwrap(),
        access_token(&t, "grace", &id).await
    );
    assert_eq!(data["tokenType"], "Bearer");
    assert!(data["expiresAt"].as_str().unwrap().ends_with('Z'));
    assert!(
        data["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "openid")
    );
    assert_eq!(first.header("cache-control").as_deref(), Some("no-store"));

    let store = t.store.as_ref().unwrap();
    store.reset_counts();
    let kms_before = t.keys.calls();
    let second = t.token_route("grace", &id).await;
    assert_eq!(second.status(), 200);
    assert_eq!(store.count("GetItem"), 1);
    assert_eq!(store.count("PutItem"), 1, "the token_issued audit entry");
    assert_eq!(
        store.count("UpdateItem"),
        1,
        "the backend's rate-limit count"
    );
    for other in ["Query", "DeleteItem"] {
        assert_eq!(store.count(other), 0, "{other}");
    }
    assert_eq!(t.keys.calls(), kms_before, "data key cached: no KMS call");
}

#[tokio::test]
async fn token_route_needs_the_backend_and_a_real_integration() {
    let t = TestApp::new().await;
    let id = t.connected("heidi").await;
    let unsigned = t
        .send(
            request(
                Method::GET,
                &format!("/users/heidi/integrations/{id}/token"),
            )
            .user("heidi")
            .build(),
        )
        .await;
    assert_eq!(unsigned.status(), 401, "a user JWT is not the backend");
    let other_user = t.token_route("mallory", &id).await;
    assert_eq!(other_user.status(), 404);
    let bad_id = t.token_route("heidi", "not-an-id").await;
    assert_eq!(
        (bad_id.status(), bad_id.error_code().as_str()),
        (400, "VALIDATION_ERROR")
    );
    // Another principal of the account (an admin, a CI role): authenticated, not allowed.
    let mut admin = request(
        Method::GET,
        &format!("/users/heidi/integrations/{id}/token"),
    )
    .build();
    admin.backend_principal = Some("arn:aws:iam::123456789012:user/admin".into());
    let refused = t.send(admin).await;
    assert_eq!(
        (refused.status(), refused.error_code().as_str()),
        (403, "FORBIDDEN"),
        "{}",
        refused.body()
    );
    // The allowlisted backend gets the token, and the hand-out is audited (never the token).
    let issued = t.token_route("heidi", &id).await;
    assert_eq!(issued.status(), 200, "{}", issued.body());
    let events = t.audit_events(Some("heidi")).await;
    let entry = events
        .iter()
        .find(|e| e["event"] == "token_issued")
        .expect("a token_issued entry");
    assert_eq!(entry["principal"], integration_tests::BACKEND_PRINCIPAL);
    assert_eq!(entry["integrationId"], id.as_str());
    let token = issued.data()["accessToken"].as_str().unwrap().to_string();
    assert!(
        !entry.to_string().contains(&token),
        "no token in the audit entry"
    );
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "token_issued")
            .count(),
        1,
        "refused and failed hand-outs are not `token_issued`"
    );
}

#[tokio::test]
async fn manual_refresh_rotates_once_then_reuses_the_fresh_result() {
    let t = TestApp::with(own_server()).await;
    let id = t.connected("ivan").await;
    let before = access_token(&t, "ivan", &id).await;
    t.reset_oauth_stats().await;

    let reply = t.manual_refresh("ivan", &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(reply.data()["integration"]["status"], "connected");
    let after = access_token(&t, "ivan", &id).await;
    assert_ne!(after, before, "new tokens stored");

    let again = t.manual_refresh("ivan", &id).await;
    assert_eq!(again.status(), 200);
    assert_eq!(
        t.oauth_stats().await.refreshes_served(),
        1,
        "a second click within a minute reuses the first"
    );
    let events = t.audit_events(Some("ivan")).await;
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"] == "token_refreshed")
            .count(),
        1
    );

    let other = t.manual_refresh("mallory", &id).await;
    assert_eq!(other.status(), 404, "another user's integration");
}

#[tokio::test]
async fn connection_test_calls_userinfo_with_a_fresh_token() {
    let t = TestApp::new().await;
    let id = t.connected("judy").await;
    let reply = t
        .send(
            request(Method::POST, &format!("/integrations/{id}/test"))
                .user("judy")
                .build(),
        )
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(reply.data()["ok"], true);
    assert!(reply.data()["latencyMs"].is_u64());

    let other = t
        .send(
            request(Method::POST, &format!("/integrations/{id}/test"))
                .user("mallory")
                .build(),
        )
        .await;
    assert_eq!(other.status(), 404);

    // A token the provider no longer accepts: ok false, with the reason.
    let access = access_token(&t, "judy", &id).await;
    reqwest::Client::new()
        .post(format!("{}/token/revocation", t.oauth_url))
        .basic_auth(CLIENT_ID, Some(CLIENT_SECRET))
        .form(&[
            ("token", access.as_str()),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    let reply = t
        .send(
            request(Method::POST, &format!("/integrations/{id}/test"))
                .user("judy")
                .build(),
        )
        .await;
    assert_eq!(reply.status(), 200);
    assert_eq!(reply.data()["ok"], false);
    assert_eq!(reply.data()["error"], "OAUTH_CALLBACK_ERROR");
}

#[tokio::test]
async fn a_waiting_caller_reports_the_lease_holders_failure_instead_of_calling_again() {
    let t = TestApp::with(own_server()).await;
    let id = t.connected("kim").await;
    t.expire_in("kim", &id, 60).await;
    t.reset_oauth_stats().await;
    // Slow failures: every attempt answers 503 after the retries' backoff.
    t.token_endpoint_faults(serde_json::json!([{"status": 503}]), true)
        .await;
    let (a, b) = tokio::join!(t.token_route("kim", &id), async {
        tokio::time::sleep(Duration::from_millis(20)).await;
        t.token_route("kim", &id).await
    });
    assert_eq!((a.status(), b.status()), (503, 503));
    let attempts = t.app.refresh_tuning.provider_retry.attempts as u64;
    assert_eq!(
        t.oauth_stats().await.faulted_token_requests,
        attempts,
        "one caller's bounded attempts, not two callers'"
    );
}

/// The lease is counted from before the acquire is sent, and nothing starts under it that could
/// not end before it does. Here the acquire takes 3 s of a 4 s lease (a slow store): the caller
/// must not call the provider, or a second caller that takes the lapsed lease presents the
/// refresh token the first one's answer (still on its way) has just rotated, and the provider
/// revokes the grant.
#[tokio::test]
async fn a_slow_acquire_leaves_no_time_to_call_the_provider_under_the_lease() {
    let mut tuning = integration_tests::fast_tuning();
    tuning.lease = Duration::from_secs(4);
    tuning.write_reserve = Duration::from_secs(1);
    tuning.provider_attempt = Duration::from_millis(1500);
    tuning.write_attempt = Duration::from_millis(1000);
    tuning.manual_refresh_window_secs = 0;
    let t = TestApp::with(Options {
        own_oauth_server: true,
        store_proxy: true,
        refresh_tuning: Some(tuning),
        ..Options::default()
    })
    .await;
    let id = t.connected("lena").await;
    t.reset_oauth_stats().await;
    let store = t.store.as_ref().unwrap();
    store.delay_next_containing("UpdateItem", "SET leaseOwner", Duration::from_secs(3), 1);
    // Whoever reaches the provider first has its answer held 2 s after the rotation.
    t.token_endpoint_faults(serde_json::json!([{ "holdMs": 2000 }]), false)
        .await;
    let second = async {
        tokio::time::sleep(Duration::from_millis(4300)).await;
        t.manual_refresh("lena", &id).await
    };
    let (first, second) = tokio::join!(t.manual_refresh("lena", &id), second);
    assert_eq!(
        (first.status(), first.error_code().as_str()),
        (503, "TOKEN_REFRESH_ERROR"),
        "{}",
        first.body()
    );
    assert_eq!(second.status(), 200, "{}", second.body());
    assert_eq!(
        t.oauth_stats().await.refreshes_served(),
        1,
        "only the second"
    );
    let again = t.manual_refresh("lena", &id).await;
    assert_eq!(
        again.status(),
        200,
        "the grant still refreshes: {}",
        again.body()
    );
}

/// The store fails after the provider rotated the refresh token, for longer than the lease: the
/// new tokens, sealed, go to the recovery queue, and once the store answers they are applied;
/// the integration works without reconnecting (the old refresh token is spent: presenting it
/// would revoke the grant).
#[tokio::test]
async fn tokens_a_store_outage_kept_out_of_the_row_are_recovered_once_it_answers() {
    let mut tuning = integration_tests::fast_tuning();
    tuning.write_retry.attempts = 2;
    tuning.manual_refresh_window_secs = 0;
    tuning.recovery_retry_base = Duration::from_millis(200);
    // A short working lease, so the test can outlast it; the stored one adds the grace. It
    // leaves 3 s for the provider call after the lease is taken: with 1 s, a loaded machine's
    // slow moto made the refresh give up before calling the provider (0 refreshes served).
    tuning.lease = Duration::from_secs(5);
    tuning.write_reserve = Duration::from_secs(1);
    tuning.provider_attempt = Duration::from_secs(1);
    tuning.write_attempt = Duration::from_millis(500);
    tuning.request_budget = Duration::from_secs(6);
    let t = TestApp::with(Options {
        own_oauth_server: true,
        store_proxy: true,
        refresh_tuning: Some(tuning),
        recovery_queue: Some((30, 60)),
        ..Options::default()
    })
    .await;
    let id = t.connected("rhea").await;
    let before = access_token(&t, "rhea", &id).await;
    t.expire_in("rhea", &id, 60).await;
    t.reset_oauth_stats().await;
    let store = t.store.as_ref().unwrap();
    // Every token write fails: the refresh's and, while this lasts, the recovery's.
    store.fail_next_containing("UpdateItem", "refreshedAt = :refreshed", 1000);

    let reply = t.token_route("rhea", &id).await;
    assert_eq!(reply.status(), 503, "{}", reply.body());
    assert_eq!(t.oauth_stats().await.refreshes_served(), 1);
    let events = t.audit_events(Some("rhea")).await;
    assert!(
        events.iter().any(|e| e["event"] == "token_refresh_failed"
            && e["reason"] == "store_write_failed_recovery_queued"),
        "{events:?}"
    );
    // Still down: the message comes back.
    assert_eq!(t.poll_recovery_queue().await, (1, 1));
    assert_eq!(access_token(&t, "rhea", &id).await, before);
    // Past the working lease, within the grace: another caller does not refresh (it would
    // present the refresh token the provider has just rotated).
    tokio::time::sleep(Duration::from_millis(5500)).await;
    let waited = t.token_route("rhea", &id).await;
    assert_eq!(waited.status(), 503, "{}", waited.body());
    assert_eq!(
        t.oauth_stats().await.refreshes_served(),
        1,
        "no second refresh"
    );

    store.clear_faults();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(t.poll_recovery_queue().await, (1, 0));
    let events = t.audit_events(Some("rhea")).await;
    assert!(
        events.iter().any(|e| e["event"] == "token_recovered"),
        "{events:?}"
    );
    let recovered = access_token(&t, "rhea", &id).await;
    assert_ne!(recovered, before, "the provider's new tokens are stored");
    let held = t.integration_item("rhea", &id).await;
    assert!(
        !held.contains_key("leaseUntil"),
        "the failed refresh's lease is cleared"
    );

    // The integration works: the token route hands out the recovered token, and the next
    // refresh presents the recovered refresh token, which the provider accepts.
    let reply = t.token_route("rhea", &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(reply.data()["accessToken"], recovered.as_str());
    let again = t.manual_refresh("rhea", &id).await;
    assert_eq!(again.status(), 200, "{}", again.body());
    assert_eq!(t.oauth_stats().await.refreshes_served(), 2);
    let got = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("rhea")
                .build(),
        )
        .await;
    assert_eq!(got.data()["integration"]["status"], "connected");
}

/// A recovery that comes after a newer token set (here: a reconnect) is not applied.
#[tokio::test]
async fn a_recovery_older_than_the_stored_tokens_is_not_applied() {
    let mut tuning = integration_tests::fast_tuning();
    tuning.write_retry.attempts = 2;
    let t = TestApp::with(Options {
        own_oauth_server: true,
        store_proxy: true,
        refresh_tuning: Some(tuning),
        recovery_queue: Some((30, 60)),
        ..Options::default()
    })
    .await;
    let id = t.connected("tess").await;
    t.expire_in("tess", &id, 60).await;
    let store = t.store.as_ref().unwrap();
    store.fail_next_containing("UpdateItem", "refreshedAt = :refreshed", 1000);
    assert_eq!(t.token_route("tess", &id).await.status(), 503);
    store.clear_faults();
    // The user connects again: a newer token set.
    t.connect("tess").await;
    let after_reconnect = access_token(&t, "tess", &id).await;
    assert_eq!(
        t.poll_recovery_queue().await,
        (1, 0),
        "done with, not retried"
    );
    assert_eq!(access_token(&t, "tess", &id).await, after_reconnect);
    let events = t.audit_events(Some("tess")).await;
    assert!(
        !events.iter().any(|e| e["event"] == "token_recovered"),
        "{events:?}"
    );
}
