//! The full flow against the local OAuth server, without a browser.

use integration_tests::browser::introspect;
use integration_tests::{CLIENT_ID, CLIENT_SECRET, TestApp, request};
use lambda_http::http::Method;
use secrecy::ExposeSecret;

#[tokio::test]
async fn connect_login_callback_list_then_disconnect_revokes_at_the_provider() {
    let t = TestApp::new().await;
    let integration = t.connect("alice").await;
    assert_eq!(integration["status"], "connected");
    assert_eq!(integration["externalAccountId"], "alice");
    assert_eq!(integration["email"], "alice@example.test");
    assert_eq!(integration["displayName"], "Alice Example");
    assert!(
        integration.get("tokenEnvelope").is_none()
            && !integration.to_string().contains("accessToken")
    );
    let id = integration["id"].as_str().unwrap().to_string();

    let tokens = t
        .stored_tokens("alice", &id)
        .await
        .expect("tokens stored and decryptable");
    let refresh = tokens
        .refresh_token
        .as_ref()
        .expect("a refresh token (offline_access)")
        .expose_secret()
        .to_string();
    let access = tokens.access_token.expose_secret().to_string();
    assert!(introspect(&t.stack.oauth_url, CLIENT_ID, CLIENT_SECRET, &access).await);
    assert!(introspect(&t.stack.oauth_url, CLIENT_ID, CLIENT_SECRET, &refresh).await);

    let got = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("alice")
                .build(),
        )
        .await;
    assert_eq!(got.status(), 200);
    assert_eq!(got.data()["integration"]["id"], id.as_str());

    let reply = t
        .send(
            request(Method::DELETE, &format!("/integrations/{id}"))
                .user("alice")
                .build(),
        )
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(
        reply.data(),
        serde_json::json!({"disconnected": true, "revoked": true})
    );
    assert!(
        !introspect(&t.stack.oauth_url, CLIENT_ID, CLIENT_SECRET, &access).await,
        "access token still active"
    );
    assert!(
        !introspect(&t.stack.oauth_url, CLIENT_ID, CLIENT_SECRET, &refresh).await,
        "refresh token still active"
    );
    assert!(
        t.stored_tokens("alice", &id).await.is_none(),
        "tokens deleted"
    );

    // Gone from the API: not listed, 404 on every route of the integration; a second DELETE
    // gives the same answer, so a client may retry one it saw no answer to.
    let list = t
        .send(request(Method::GET, "/integrations").user("alice").build())
        .await;
    assert_eq!(list.data()["integrations"], serde_json::json!([]));
    for (method, path) in [
        (Method::GET, format!("/integrations/{id}")),
        (Method::PATCH, format!("/integrations/{id}")),
        (Method::GET, format!("/integrations/{id}/events")),
        (Method::POST, format!("/integrations/{id}/sync")),
        (Method::POST, format!("/integrations/{id}/refresh")),
        (Method::POST, format!("/integrations/{id}/test")),
    ] {
        let mut req = request(method.clone(), &path).user("alice");
        if method == Method::PATCH {
            req = req.json(serde_json::json!({"syncSettings": {
                "enabled": true, "syncTypes": ["calendar"], "frequency": "daily"
            }}));
        }
        let reply = t.send(req.build()).await;
        assert_eq!(reply.status(), 404, "{method} {path}: {}", reply.body());
    }
    let token = t.token_route("alice", &id).await;
    assert_eq!(token.status(), 404, "token route: {}", token.body());
    let again = t
        .send(
            request(Method::DELETE, &format!("/integrations/{id}"))
                .user("alice")
                .build(),
        )
        .await;
    assert_eq!(
        (again.status(), again.data()),
        (
            200,
            serde_json::json!({"disconnected": true, "revoked": false})
        )
    );

    let events: Vec<String> = t
        .audit_events(Some("alice"))
        .await
        .iter()
        .map(|e| e["event"].as_str().unwrap_or_default().to_string())
        .collect();
    for expected in [
        "oauth_initiated",
        "oauth_completed",
        "integration_disconnected",
    ] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} missing from {events:?}"
        );
    }
}
