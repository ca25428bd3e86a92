//! No user can see or disconnect another user's integration: 404, not 403.

use integration_tests::{TestApp, request};
use lambda_http::http::Method;

#[tokio::test]
async fn another_users_integration_is_not_found_for_get_and_disconnect() {
    let t = TestApp::new().await;
    let alice = t.connect("alice").await;
    let path = format!("/integrations/{}", alice["id"].as_str().unwrap());

    let get = t
        .send(request(Method::GET, &path).user("bob").build())
        .await;
    assert_eq!(
        (get.status(), get.error_code().as_str()),
        (404, "ACCOUNT_NOT_FOUND")
    );
    let delete = t
        .send(request(Method::DELETE, &path).user("bob").build())
        .await;
    assert_eq!(
        (delete.status(), delete.error_code().as_str()),
        (404, "ACCOUNT_NOT_FOUND")
    );
    let list = t
        .send(request(Method::GET, "/integrations").user("bob").build())
        .await;
    assert_eq!(list.data()["integrations"], serde_json::json!([]));

    // Alice's integration is untouched by bob's attempts.
    let get = t
        .send(request(Method::GET, &path).user("alice").build())
        .await;
    assert_eq!(get.data()["integration"]["status"], "connected");
    let audit = t
        .send(request(Method::GET, "/audit").user("bob").build())
        .await;
    assert_eq!(
        audit.data()["entries"],
        serde_json::json!([]),
        "bob sees none of alice's audit trail"
    );
}
