//! CALLBACK_COMPLETION=app (the default): the GET callback hands the code to the app, and only
//! the user who started the flow can redeem it (POST callback with their JWT). This closes
//! account-linking CSRF: a victim lured into consenting on an attacker's authorization URL is
//! not linked, and the result, once refused, cannot be redeemed by anyone.

use std::collections::HashMap;

use integration_tests::browser::{authorize, state_of};
use integration_tests::{Options, Reply, TestApp, request};
use lambda_http::http::Method;

async fn app_completion() -> TestApp {
    TestApp::with(Options {
        callback_completion: Some("app"),
        ..Options::default()
    })
    .await
}

async fn connect(t: &TestApp, user: &str, return_to: Option<&str>) -> String {
    let body = match return_to {
        Some(r) => serde_json::json!({ "returnTo": r }),
        None => serde_json::json!({}),
    };
    t.start_connect(user, body).await
}

async fn integrations(t: &TestApp, user: &str) -> serde_json::Value {
    t.send(request(Method::GET, "/integrations").user(user).build())
        .await
        .data()["integrations"]
        .clone()
}

async fn post_callback(t: &TestApp, user: &str, query: &HashMap<String, String>) -> Reply {
    let body =
        serde_json::json!({ "code": query["code"], "state": query["state"], "iss": query["iss"] });
    t.send(
        request(Method::POST, "/providers/demo/callback")
            .user(user)
            .json(body)
            .build(),
    )
    .await
}

fn location(reply: &Reply) -> url::Url {
    let location = url::Url::parse(&reply.header("location").expect("a redirect")).unwrap();
    assert_eq!(
        location.origin().ascii_serialization(),
        integration_tests::APP_ORIGIN
    );
    location
}

fn location_query(reply: &Reply) -> HashMap<String, String> {
    location(reply).query_pairs().into_owned().collect()
}

/// The authorization result, which travels in the fragment: browsers never send it to the
/// app's servers (access logs, analytics), unlike the query.
fn location_fragment(reply: &Reply) -> HashMap<String, String> {
    let location = location(reply);
    assert!(
        location
            .query_pairs()
            .all(|(k, _)| k != "code" && k != "state"),
        "no code or state in the query: {location}"
    );
    url::form_urlencoded::parse(location.fragment().unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

#[tokio::test]
async fn a_victim_consenting_on_an_attackers_authorization_url_is_not_linked_to_anyone() {
    let t = app_completion().await;
    let auth_url = connect(&t, "mallory", Some("http://localhost:3000/integrations")).await;
    // Mallory sends the URL to the victim, who logs in and consents at the provider.
    let redirect = authorize(&auth_url, "victim").await;
    let reply = t.send(redirect.callback_request().build()).await;
    assert_eq!(reply.status(), 302, "{}", reply.body());
    let query = location_fragment(&reply);
    assert_eq!(query["status"], "authorized");
    assert_eq!(
        integrations(&t, "mallory").await,
        serde_json::json!([]),
        "nothing linked by the GET callback"
    );

    // The victim's browser lands in the app, whose session is the victim's: the state is not theirs.
    let reply = post_callback(&t, "victim", &query).await;
    assert_eq!(
        (reply.status(), reply.error_code().as_str()),
        (400, "INVALID_STATE"),
        "{}",
        reply.body()
    );
    // Refused, and burned: Mallory, had he got the code and state (the victim's history, the
    // app's logs), can no longer redeem them with his own JWT.
    let reply = post_callback(&t, "mallory", &query).await;
    assert_eq!(reply.error_code(), "INVALID_STATE", "{}", reply.body());
    assert_eq!(integrations(&t, "victim").await, serde_json::json!([]));
    assert_eq!(integrations(&t, "mallory").await, serde_json::json!([]));
    let audit = t
        .send(request(Method::GET, "/audit").user("victim").build())
        .await;
    assert!(
        audit.body().contains("other_user_burned"),
        "the burn is audited for the user who tried: {}",
        audit.body()
    );
}

#[tokio::test]
async fn an_empty_code_is_refused_without_spending_the_state() {
    let t = app_completion().await;
    let redirect = authorize(&connect(&t, "alice", None).await, "alice").await;
    let mut query: HashMap<String, String> = ["code", "state", "iss"]
        .iter()
        .map(|k| (k.to_string(), redirect.param(k).unwrap()))
        .collect();
    let code = query.insert("code".into(), " ".into()).unwrap();
    let reply = post_callback(&t, "alice", &query).await;
    assert_eq!(
        (reply.status(), reply.error_code().as_str()),
        (400, "VALIDATION_ERROR"),
        "{}",
        reply.body()
    );
    query.insert("code".into(), code);
    let reply = post_callback(&t, "alice", &query).await;
    assert_eq!(
        reply.status(),
        200,
        "the state is still good: {}",
        reply.body()
    );
}

#[tokio::test]
async fn the_user_who_started_completes_with_the_post_callback() {
    let t = app_completion().await;
    let auth_url = connect(&t, "alice", None).await;
    let redirect = authorize(&auth_url, "alice").await;
    let reply = t.send(redirect.callback_request().build()).await;
    assert_eq!(reply.status(), 200);
    assert!(
        reply.body().contains(r#""type":"oauth-code""#),
        "the popup hands the code to the opener: {}",
        reply.body()
    );
    assert_eq!(
        integrations(&t, "alice").await,
        serde_json::json!([]),
        "not connected before the app completes"
    );

    let query: HashMap<String, String> = ["code", "state", "iss"]
        .iter()
        .map(|k| (k.to_string(), redirect.param(k).unwrap()))
        .collect();
    let reply = post_callback(&t, "alice", &query).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(reply.data()["integration"]["status"], "connected");
    assert_eq!(reply.data()["integration"]["externalAccountId"], "alice");
    let replay = post_callback(&t, "alice", &query).await;
    assert_eq!(replay.error_code(), "INVALID_STATE", "single use");
}

#[tokio::test]
async fn a_provider_error_ends_the_authorization_in_app_completion_too() {
    let t = app_completion().await;
    let auth_url = connect(&t, "alice", Some("http://localhost:3000/integrations")).await;
    let state = state_of(&auth_url);
    let req = request(Method::GET, "/providers/demo/callback")
        .query("error", "access_denied")
        .query("state", &state)
        .build();
    let reply = t.send(req).await;
    let query = location_query(&reply);
    assert_eq!(
        (query["status"].as_str(), query["code"].as_str()),
        ("error", "OAUTH_CALLBACK_ERROR")
    );
    let body = serde_json::json!({ "code": "anything", "state": state });
    let reply = t
        .send(
            request(Method::POST, "/providers/demo/callback")
                .user("alice")
                .json(body)
                .build(),
        )
        .await;
    assert_eq!(
        reply.error_code(),
        "INVALID_STATE",
        "the refused authorization was consumed"
    );
}
