//! The dev gateway does API Gateway's part: routing, the JWT check, claims to the handler.

use std::sync::Arc;

use devstack::gateway::Gateway;
use devstack::jwt;
use integration_tests::TestApp;

#[tokio::test]
async fn the_dev_gateway_routes_checks_the_jwt_and_serves_health() {
    let t = TestApp::new().await;
    let secret = "gateway-test-secret-0123456789abcdef".to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = tokio::spawn(
        Arc::new(Gateway {
            app: t.app.clone(),
            jwt_secret: secret.clone(),
        })
        .serve(listener),
    );
    let http = reqwest::Client::new();

    let health: serde_json::Value = http
        .get(format!("{base}/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["success"], true);
    assert_eq!(health["data"]["status"], "ok");

    let providers = http.get(format!("{base}/providers")).send().await.unwrap();
    assert_eq!(providers.status(), 200, "public route without a token");

    assert_eq!(
        http.get(format!("{base}/integrations"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let wrong_key = jwt::issue("another-secret-0123456789abcdef0123", "alice", 60).unwrap();
    assert_eq!(
        http.get(format!("{base}/integrations"))
            .bearer_auth(&wrong_key)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );

    let token = jwt::issue(&secret, "alice", 60).unwrap();
    let list: serde_json::Value = http
        .get(format!("{base}/integrations"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["data"]["integrations"], serde_json::json!([]));
    let connect: serde_json::Value = http
        .post(format!("{base}/providers/demo/connect"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        connect["data"]["authUrl"]
            .as_str()
            .unwrap()
            .starts_with(&t.stack.oauth_url),
        "{connect}"
    );

    assert_eq!(
        http.get(format!("{base}/nowhere"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    serving.abort();
}
