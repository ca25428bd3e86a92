//! `state` is unforgeable, single use, short-lived, and bound to its user and provider; every
//! refusal is INVALID_STATE and leaves an `invalid_state_detected` audit entry.

use integration_tests::browser::state_of;
use integration_tests::{Options, TestApp, request};
use lambda_http::http::Method;

/// connect as `user`; the authUrl's state and the provider's redirect (code + state) after login.
async fn started(t: &TestApp, user: &str) -> integration_tests::browser::ProviderRedirect {
    t.authorized(user, serde_json::json!({})).await
}

async fn get_callback(
    t: &TestApp,
    provider: &str,
    code: &str,
    state: &str,
) -> integration_tests::Reply {
    let req = request(Method::GET, &format!("/providers/{provider}/callback"))
        .query("code", code)
        .query("state", state)
        .build();
    t.send(req).await
}

async fn assert_refused_and_audited(
    t: &TestApp,
    reply: &integration_tests::Reply,
    audit_user: Option<&str>,
    reason: &str,
) {
    assert_eq!(reply.status(), 400, "{}", reply.body());
    assert_eq!(reply.error_code(), "INVALID_STATE");
    let events = t.audit_events(audit_user).await;
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "invalid_state_detected" && e["reason"] == reason),
        "no invalid_state_detected ({reason}) for {audit_user:?} in {events:?}"
    );
}

#[tokio::test]
async fn a_forged_state_is_refused_before_any_lookup() {
    let t = TestApp::new().await;
    let reply = get_callback(&t, "demo", "some-code", "forged-state-value").await;
    assert_refused_and_audited(&t, &reply, None, "malformed").await;
    // Well-formed but signed with another key.
    let other = shared::state::StateKey::new(vec![9; 32])
        .unwrap()
        .issue(&shared::ids::ProviderId::parse("demo").unwrap(), i64::MAX);
    let reply = get_callback(&t, "demo", "some-code", &other.value).await;
    assert_refused_and_audited(&t, &reply, None, "bad_mac").await;
}

#[tokio::test]
async fn a_state_altered_by_one_character_is_refused() {
    let t = TestApp::new().await;
    let redirect = started(&t, "alice").await;
    let state = redirect.param("state").unwrap();
    let mut altered: Vec<char> = state.chars().collect();
    let middle = altered.len() / 2;
    altered[middle] = if altered[middle] == 'x' { 'y' } else { 'x' };
    let altered: String = altered.into_iter().collect();
    let reply = get_callback(&t, "demo", &redirect.param("code").unwrap(), &altered).await;
    assert_refused_and_audited(&t, &reply, None, "bad_mac").await;
    // The genuine state was not consumed by the attempt.
    let reply = t.send(redirect.callback_request().build()).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
}

#[tokio::test]
async fn a_state_replayed_after_success_is_refused() {
    let t = TestApp::new().await;
    let redirect = started(&t, "alice").await;
    let first = t.send(redirect.callback_request().build()).await;
    assert_eq!(first.status(), 200, "{}", first.body());
    let replay = t.send(redirect.callback_request().build()).await;
    assert_refused_and_audited(&t, &replay, None, "unknown_or_used").await;
}

#[tokio::test]
async fn an_expired_state_is_refused() {
    let t = TestApp::with(Options {
        state_ttl_secs: Some(1),
        ..Options::default()
    })
    .await;
    let redirect = started(&t, "alice").await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let reply = t.send(redirect.callback_request().build()).await;
    assert_refused_and_audited(&t, &reply, None, "expired").await;
}

#[tokio::test]
async fn another_users_state_is_refused_on_the_post_callback_and_burned() {
    // Whoever holds a code and state that are not theirs (a leak, a lured victim's session)
    // is refused, and the state is spent: that result is worth nothing to anyone afterwards.
    let t = TestApp::new().await;
    let redirect = started(&t, "alice").await;
    let body = serde_json::json!({"code": redirect.param("code").unwrap(), "state": redirect.param("state").unwrap(), "iss": redirect.param("iss").unwrap()});
    let as_bob = request(Method::POST, "/providers/demo/callback")
        .user("bob")
        .json(body.clone())
        .build();
    let reply = t.send(as_bob).await;
    assert_refused_and_audited(&t, &reply, Some("bob"), "other_user_burned").await;
    let as_alice = request(Method::POST, "/providers/demo/callback")
        .user("alice")
        .json(body)
        .build();
    let reply = t.send(as_alice).await;
    assert_refused_and_audited(&t, &reply, Some("alice"), "unknown_or_used").await;
}

#[tokio::test]
async fn a_state_used_on_another_providers_callback_is_refused() {
    let t = TestApp::new().await;
    let redirect = started(&t, "alice").await;
    let reply = get_callback(
        &t,
        "google",
        &redirect.param("code").unwrap(),
        &redirect.param("state").unwrap(),
    )
    .await;
    assert_refused_and_audited(&t, &reply, None, "bad_mac").await;
}

#[tokio::test]
async fn a_provider_error_after_a_valid_state_is_reported_to_the_app_and_audited() {
    let t = TestApp::new().await;
    let body = serde_json::json!({"returnTo": "http://localhost:3000/settings"});
    let reply = t
        .send(
            request(Method::POST, "/providers/demo/connect")
                .user("alice")
                .json(body)
                .build(),
        )
        .await;
    let state = state_of(reply.data()["authUrl"].as_str().unwrap());
    let req = request(Method::GET, "/providers/demo/callback")
        .query("error", "access_denied")
        .query("state", &state)
        .build();
    let reply = t.send(req).await;
    assert_eq!(reply.status(), 302);
    let location = reply.header("location").unwrap();
    assert!(
        location.starts_with("http://localhost:3000/settings?"),
        "{location}"
    );
    assert!(
        location.contains("status=error") && location.contains("code=OAUTH_CALLBACK_ERROR"),
        "{location}"
    );
    let events = t.audit_events(Some("alice")).await;
    assert!(
        events.iter().any(|e| e["event"] == "oauth_failed"),
        "{events:?}"
    );
}

#[tokio::test]
async fn an_answer_from_another_issuer_is_refused_even_with_a_valid_state() {
    let t = TestApp::new().await;
    let redirect = started(&t, "alice").await;
    assert_eq!(
        redirect.param("iss").as_deref(),
        Some(t.stack.oauth_url.as_str()),
        "the local server sends RFC 9207 iss"
    );
    let mut req = redirect.callback_request();
    req = req.query("iss", "https://attacker.example");
    let reply = t.send(req.build()).await;
    assert_eq!(reply.status(), 400, "{}", reply.body());
    assert!(
        reply.body().contains("OAUTH_CALLBACK_ERROR") && reply.body().contains("issuer_mismatch")
    );
    let events = t.audit_events(Some("alice")).await;
    assert!(
        events.iter().any(|e| e["event"] == "oauth_failed"),
        "{events:?}"
    );
    let list = t
        .send(request(Method::GET, "/integrations").user("alice").build())
        .await;
    assert_eq!(
        list.data()["integrations"],
        serde_json::json!([]),
        "nothing connected"
    );

    // A server that always names itself (RFC 9207 §2.4): an answer without iss is refused too.
    let redirect = started(&t, "alice").await;
    let body = serde_json::json!({"code": redirect.param("code").unwrap(), "state": redirect.param("state").unwrap()});
    let req = request(Method::POST, "/providers/demo/callback")
        .user("alice")
        .json(body)
        .build();
    let reply = t.send(req).await;
    assert_eq!(
        (reply.status(), reply.error_code().as_str()),
        (400, "OAUTH_CALLBACK_ERROR"),
        "{}",
        reply.body()
    );
}
