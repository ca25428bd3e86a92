//! A failure that came from a provider, or concerns its grant, names the provider in the error
//! body (`error.provider`), so an app can say which account to reconnect; other failures do not.

use integration_tests::browser::state_of;
use integration_tests::{Options, Reply, TestApp, request};
use lambda_http::http::Method;

fn provider_of(reply: &Reply) -> serde_json::Value {
    reply.json()["error"]["provider"].clone()
}

#[tokio::test]
async fn a_refused_code_names_the_provider() {
    let t = TestApp::new().await;
    let auth_url = t.start_connect("fay", serde_json::json!({})).await;
    let reply = t
        .send(
            request(Method::POST, "/providers/demo/callback")
                .user("fay")
                .json(serde_json::json!({"code": "made-up", "state": state_of(&auth_url)}))
                .build(),
        )
        .await;
    assert_eq!(
        reply.error_code(),
        "OAUTH_CALLBACK_ERROR",
        "{}",
        reply.body()
    );
    assert_eq!(provider_of(&reply), "demo", "{}", reply.body());
}

#[tokio::test]
async fn a_dead_grant_and_a_provider_outage_name_the_provider_on_every_token_route() {
    let t = TestApp::with(Options {
        own_oauth_server: true,
        ..Options::default()
    })
    .await;

    // The provider is down while the token needs renewing: 503, retryable, naming it.
    let id = t.connected("gus").await;
    t.expire_in("gus", &id, 0).await;
    t.token_endpoint_faults(serde_json::json!([{"status": 503}]), true)
        .await;
    for reply in [
        t.token_route("gus", &id).await,
        t.manual_refresh("gus", &id).await,
    ] {
        assert_eq!(
            (reply.status(), reply.error_code().as_str()),
            (503, "TOKEN_REFRESH_ERROR"),
            "{}",
            reply.body()
        );
        assert_eq!(provider_of(&reply), "demo", "{}", reply.body());
    }
    t.token_endpoint_faults(serde_json::json!([]), false).await;

    // The grant is gone: every route of it says which provider to reconnect.
    t.revoke_grant_at_provider("gus", &id).await;
    let refused = t.manual_refresh("gus", &id).await;
    assert_eq!(refused.error_code(), "TOKEN_EXPIRED", "{}", refused.body());
    assert_eq!(provider_of(&refused), "demo");
    let test = request(Method::POST, &format!("/integrations/{id}/test"))
        .user("gus")
        .build();
    for reply in [t.token_route("gus", &id).await, t.send(test).await] {
        assert_eq!(reply.error_code(), "TOKEN_EXPIRED", "{}", reply.body());
        assert_eq!(provider_of(&reply), "demo", "{}", reply.body());
    }
}

#[tokio::test]
async fn failures_that_are_not_the_providers_name_none() {
    let t = TestApp::new().await;
    let id = t.connected("hal").await;
    // Another user's integration: not found, and nothing about it told.
    let theirs = t.manual_refresh("mallory", &id).await;
    assert_eq!(theirs.error_code(), "ACCOUNT_NOT_FOUND");
    // A bad request to a provider's route is the caller's, not the provider's.
    let bad = t
        .send(
            request(Method::POST, "/providers/demo/connect")
                .user("hal")
                .json(serde_json::json!({"scopes": "email"}))
                .build(),
        )
        .await;
    assert_eq!(bad.error_code(), "VALIDATION_ERROR");
    for reply in [theirs, bad] {
        assert!(
            reply.json()["error"].get("provider").is_none(),
            "{}",
            reply.body()
        );
    }
}
