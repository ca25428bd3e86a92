//! The callback redirects only to allowlisted return URLs.

use integration_tests::{TestApp, request};
use lambda_http::http::Method;

#[tokio::test]
async fn a_foreign_return_to_is_refused_at_connect_and_never_redirected_to() {
    let t = TestApp::new().await;
    for foreign in [
        "https://evil.example/steal",
        "https://localhost:3000.evil.example/",
        "javascript:alert(1)",
        "//evil.example",
    ] {
        let req = request(Method::POST, "/providers/demo/connect")
            .user("alice")
            .json(serde_json::json!({"returnTo": foreign}))
            .build();
        let reply = t.send(req).await;
        assert_eq!(reply.status(), 400, "{foreign}: {}", reply.body());
        assert_eq!(reply.error_code(), "VALIDATION_ERROR");
    }
}

#[tokio::test]
async fn an_allowed_return_to_gets_the_result_and_no_return_to_gets_the_popup_page() {
    let t = TestApp::new().await;
    let return_to = "http://localhost:3000/settings?tab=integrations";
    let redirect = t
        .authorized("alice", serde_json::json!({ "returnTo": return_to }))
        .await;
    let reply = t.send(redirect.callback_request().build()).await;
    assert_eq!(reply.status(), 302, "{}", reply.body());
    let location = url::Url::parse(&reply.header("location").unwrap()).unwrap();
    assert_eq!(
        location.origin().ascii_serialization(),
        "http://localhost:3000"
    );
    let query: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(query["tab"], "integrations");
    assert_eq!(query["status"], "connected");
    assert_eq!(query["integrationId"].len(), 32);

    let redirect = t.authorized("bob", serde_json::json!({})).await;
    let reply = t.send(redirect.callback_request().build()).await;
    assert_eq!(reply.status(), 200);
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let csp = reply.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'nonce-") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(
        reply.body().contains("oauth-success") && reply.body().contains("http://localhost:3000")
    );
    assert!(!reply.body().contains("\"*\""), "never posts to any origin");
    // The page's one script runs under its CSP: it carries the header's nonce.
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|n| n.split('\'').next())
        .unwrap();
    assert!(
        reply
            .body()
            .contains(&format!("<script nonce=\"{nonce}\">")),
        "{}",
        reply.body()
    );
    assert!(!reply.body().contains("__"), "a placeholder left unfilled");
}

#[tokio::test]
async fn the_callback_checks_the_stored_return_to_again_and_never_redirects_off_the_allowlist() {
    // A pending authorization whose returnTo is no longer allowed (the allowlist changed after
    // connect, or the row was tampered with): the callback must not redirect there.
    let t = TestApp::new().await;
    let demo = shared::ids::ProviderId::parse("demo").unwrap();
    let issued = t
        .app
        .state_key()
        .await
        .unwrap()
        .issue(&demo, shared::clock::now_epoch() + 600);
    t.app
        .states()
        .put_pending(&shared::domain::PendingAuthorization {
            state_id: issued.id.clone(),
            user_id: shared::ids::UserId::parse("alice").unwrap(),
            provider: demo,
            redirect_uri: format!("{}/providers/demo/callback", integration_tests::API_BASE),
            return_to: Some("https://evil.example/steal".into()),
            scopes: vec![],
            pkce_verifier: None,
            expires_at: shared::clock::now_epoch() + 600,
        })
        .await
        .unwrap();
    let req = request(Method::GET, "/providers/demo/callback")
        .query("error", "access_denied")
        .query("state", &issued.value)
        .build();
    let reply = t.send(req).await;
    assert!(
        reply.header("location").is_none(),
        "redirected to {:?}",
        reply.header("location")
    );
    assert!(
        reply
            .header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    assert!(!reply.body().contains("evil.example"));
}
