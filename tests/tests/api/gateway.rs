//! The dev gateway does API Gateway's part: routing, the JWT check, claims to the handler, and
//! a stand-in for IAM authorization on the backend route.

use devstack::jwt;
use integration_tests::TestApp;

/// Sends `request` with `token` (if any); the status and the JSON body (Null when not JSON).
async fn send(request: reqwest::RequestBuilder, token: Option<&str>) -> (u16, serde_json::Value) {
    let request = match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    };
    let response = request.send().await.expect("the gateway answers");
    let status = response.status().as_u16();
    (
        status,
        response.json().await.unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn the_dev_gateway_routes_checks_the_jwt_and_serves_health() {
    // `make dev`'s allowlist: the backend token's subject.
    let t = TestApp::with(integration_tests::Options {
        env: vec![("BACKEND_PRINCIPAL_ARNS".into(), "app-backend".into())],
        ..Default::default()
    })
    .await;
    let secret = "gateway-test-secret-0123456789abcdef".to_string();
    let (base, serving) = t.serve_gateway(&secret).await;
    let http = reqwest::Client::new();

    let (status, health) = send(http.get(format!("{base}/health")), None).await;
    assert_eq!(status, 200);
    assert_eq!(health["success"], true);
    assert_eq!(health["data"]["status"], "ok");
    assert_eq!(health["data"]["version"], env!("CARGO_PKG_VERSION"));
    let providers = health["data"]["providers"].as_u64().unwrap();
    let configured = health["data"]["configuredProviders"].as_u64().unwrap();
    assert!(
        providers >= 8 && configured >= 1 && configured <= providers,
        "{health}"
    );

    let (status, _) = send(http.get(format!("{base}/providers")), None).await;
    assert_eq!(status, 200, "public route without a token");

    let (status, _) = send(http.get(format!("{base}/integrations")), None).await;
    assert_eq!(status, 401);
    let wrong_key = jwt::issue("another-secret-0123456789abcdef0123", "alice", 60).unwrap();
    let (status, _) = send(http.get(format!("{base}/integrations")), Some(&wrong_key)).await;
    assert_eq!(status, 401);

    let token = jwt::issue(&secret, "alice", 60).unwrap();
    let (_, list) = send(http.get(format!("{base}/integrations")), Some(&token)).await;
    assert_eq!(list["data"]["integrations"], serde_json::json!([]));
    let (_, connect) = send(
        http.post(format!("{base}/providers/demo/connect")),
        Some(&token),
    )
    .await;
    assert!(
        connect["data"]["authUrl"]
            .as_str()
            .unwrap()
            .starts_with(&t.stack.oauth_url),
        "{connect}"
    );

    // The backend route: a user's token is not the backend's signature (API Gateway: 403).
    let token_route = format!("{base}/users/alice/integrations/{}/token", "0".repeat(32));
    let (status, _) = send(http.get(&token_route), Some(&token)).await;
    assert_eq!(status, 403);
    let (status, _) = send(http.get(&token_route), None).await;
    assert_eq!(status, 403);
    let backend = jwt::issue_for(&secret, "app-backend", jwt::DEV_BACKEND_AUDIENCE, 60).unwrap();
    let (status, body) = send(http.get(&token_route), Some(&backend)).await;
    assert_eq!(status, 404, "through to the handler: {body}");
    assert_eq!(body["error"]["code"], "ACCOUNT_NOT_FOUND");
    let (status, _) = send(http.get(format!("{base}/integrations")), Some(&backend)).await;
    assert_eq!(status, 401, "and the backend's token is no user's");

    let (status, _) = send(http.get(format!("{base}/nowhere")), None).await;
    assert_eq!(status, 404);
    // A known path with a method it does not serve: 405 and what it allows.
    let wrong_method = http
        .request(
            reqwest::Method::TRACE,
            format!("{base}/integrations/{}", "0".repeat(32)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_method.status(), 405);
    assert_eq!(
        wrong_method.headers()["allow"].to_str().unwrap(),
        "GET, DELETE, PATCH"
    );

    // The same per-user limits as in AWS (one connect above; ten a minute): the README's
    // twelve quick connects of one user meet a 429 with Retry-After, and another user does not.
    let connect_url = format!("{base}/providers/demo/connect");
    let mut refused = None;
    for _ in 0..11 {
        let response = http.post(&connect_url).bearer_auth(&token).send().await;
        let response = response.unwrap();
        if response.status() == 429 {
            refused = Some(response);
            break;
        }
    }
    let refused = refused.expect("a 429 within twelve connects");
    let retry_after = refused.headers().get("retry-after").cloned();
    assert!(retry_after.is_some(), "Retry-After");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "RATE_LIMITED");
    let bob = jwt::issue(&secret, "bob", 60).unwrap();
    let (status, _) = send(http.post(&connect_url), Some(&bob)).await;
    assert_eq!(status, 200);
    serving.abort();
}
