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

/// Every user route of an integration, asked by another user with a body it would accept:
/// 404 ACCOUNT_NOT_FOUND, the same as for an id that does not exist, and nothing done.
#[tokio::test]
async fn every_route_of_an_integration_is_not_found_for_another_user() {
    use shared::routes::{Auth, ROUTES};
    let t = TestApp::new().await;
    let id = t.connected("ava").await;
    let event = serde_json::json!({
        "title": "Planning", "startTime": "2030-01-02T10:00:00Z", "endTime": "2030-01-02T11:00:00Z"
    });
    let mut checked = Vec::new();
    for route in ROUTES
        .iter()
        .filter(|r| r.auth == Auth::User && r.path.contains("{id}"))
    {
        let path = route
            .path
            .replace("{id}", &id)
            .replace("{jobId}", &"0".repeat(32))
            .replace("{eventId}", "ev000001");
        let body = match (route.method, route.path) {
            ("PATCH", "/integrations/{id}") => serde_json::json!({"metadata": {"a": 1}}),
            ("POST", "/integrations/{id}/events") => event.clone(),
            ("PATCH", _) => serde_json::json!({"title": "Moved"}),
            _ => serde_json::json!({}),
        };
        let method = route.method.parse().expect("a method");
        let reply = t
            .send(request(method, &path).user("mallory").json(body).build())
            .await;
        assert_eq!(
            (reply.status(), reply.error_code().as_str()),
            (404, "ACCOUNT_NOT_FOUND"),
            "{} {}: {}",
            route.method,
            route.path,
            reply.body()
        );
        checked.push(format!("{} {}", route.method, route.path));
    }
    assert!(checked.len() >= 11, "{checked:?}");
    let mine = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("ava")
                .build(),
        )
        .await;
    assert_eq!(
        mine.data()["integration"]["metadata"],
        serde_json::json!({})
    );
    assert_eq!(mine.data()["integration"]["status"], "connected");
}
