//! Bad input gets a 4xx with a code, never a 5xx or a panic.

use integration_tests::{TestApp, request};
use lambda_http::http::Method;

#[tokio::test]
async fn each_kind_of_bad_input_gets_its_code() {
    let t = TestApp::new().await;
    let connect = |body: &[u8]| {
        request(Method::POST, "/providers/demo/connect")
            .user("alice")
            .raw_body(body)
            .build()
    };
    let cases: Vec<(&str, shared::ApiRequest, u16, &str)> = vec![
        (
            "malformed JSON",
            connect(b"{\"returnTo\": "),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "wrong field type",
            connect(br#"{"scopes": "email"}"#),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "unknown field",
            connect(br#"{"redirectUri": "https://evil.example"}"#),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "null for an optional field (omitted, never null)",
            connect(br#"{"returnTo": null}"#),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "scope with a space",
            connect(br#"{"scopes": ["a b"]}"#),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "body over the limit",
            connect(&vec![b' '; 16 * 1024 + 1]),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            "unknown provider",
            request(Method::POST, "/providers/myspace/connect")
                .user("alice")
                .build(),
            400,
            "INVALID_PROVIDER",
        ),
        (
            "unconfigured provider",
            request(Method::POST, "/providers/microsoft/connect")
                .user("alice")
                .build(),
            400,
            "INVALID_PROVIDER",
        ),
        (
            "no caller",
            request(Method::POST, "/providers/demo/connect").build(),
            401,
            "UNAUTHORIZED",
        ),
        (
            "callback without state",
            request(Method::GET, "/providers/demo/callback")
                .query("code", "c")
                .build(),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "callback body missing code",
            request(Method::POST, "/providers/demo/callback")
                .user("alice")
                .json(serde_json::json!({"state": "s"}))
                .build(),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "integration id not an id",
            request(Method::GET, "/integrations/..%2F..%2Fetc")
                .user("alice")
                .build(),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "unknown integration",
            request(Method::GET, &format!("/integrations/{}", "0".repeat(32)))
                .user("alice")
                .build(),
            404,
            "ACCOUNT_NOT_FOUND",
        ),
        (
            "audit limit not a number",
            request(Method::GET, "/audit")
                .user("alice")
                .query("limit", "banana")
                .build(),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "audit limit too large",
            request(Method::GET, "/audit")
                .user("alice")
                .query("limit", "1000")
                .build(),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "settings naming a sync type twice",
            request(Method::PATCH, &format!("/integrations/{}", "a".repeat(32)))
                .user("alice")
                .json(serde_json::json!({"syncSettings": {
                    "enabled": true, "syncTypes": ["calendar", "calendar"], "frequency": "daily"
                }}))
                .build(),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "sync naming a type twice",
            request(
                Method::POST,
                &format!("/integrations/{}/sync", "a".repeat(32)),
            )
            .user("alice")
            .json(serde_json::json!({"syncTypes": ["calendar", "calendar"]}))
            .build(),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "audit limit empty",
            request(Method::GET, "/audit")
                .user("alice")
                .query("limit", "")
                .build(),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "audit cursor empty",
            request(Method::GET, "/audit")
                .user("alice")
                .query("cursor", "")
                .build(),
            400,
            "VALIDATION_ERROR",
        ),
        (
            "a user id of 256 characters, 512 bytes, is one (docs/openapi.yaml counts characters)",
            request(
                Method::GET,
                &format!(
                    "/users/{}/integrations/{}/token",
                    "é".repeat(256),
                    "a".repeat(32)
                ),
            )
            .backend()
            .build(),
            404,
            "ACCOUNT_NOT_FOUND",
        ),
        (
            "audit cursor forged",
            request(Method::GET, "/audit")
                .user("alice")
                .query("cursor", "SU5URUdSQVRJT04jeA")
                .build(),
            400,
            "VALIDATION_ERROR",
        ),
    ];
    for (name, req, status, code) in cases {
        let reply = t.send(req).await;
        assert_eq!(
            (reply.status(), reply.error_code().as_str()),
            (status, code),
            "{name}: {}",
            reply.body()
        );
        assert_eq!(reply.json()["success"], false, "{name}");
        assert!(
            reply.json()["correlationId"]
                .as_str()
                .is_some_and(|c| !c.is_empty()),
            "{name}"
        );
    }
}

#[tokio::test]
async fn hostile_bodies_and_parameters_never_get_a_5xx() {
    let t = TestApp::new().await;
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"\"text\"".to_vec(),
        b"12".to_vec(),
        vec![0xff, 0xfe, 0x00],
        format!("{}{}", "[".repeat(5000), "]".repeat(5000)).into_bytes(),
        br#"{"code": 1, "state": {"a": []}}"#.to_vec(),
        br#"{"returnTo": null, "scopes": [null]}"#.to_vec(),
        "{\"code\":\"\u{0}\",\"state\":\"\u{202e}\"}"
            .as_bytes()
            .to_vec(),
    ];
    let params = [
        "",
        "%",
        "..",
        "a/b",
        "\u{0}",
        &"x".repeat(5000),
        "00000000000000000000000000000000",
        "DEMO",
        "demo%00",
    ];
    let routes = shared::routes::ROUTES;
    let mut checked = 0;
    for route in routes {
        for param in params {
            for body in &bodies {
                let path = route
                    .path
                    .replace("{provider}", "demo")
                    .replace("{id}", "0");
                let mut req = request(route.method.parse().unwrap(), &path)
                    .user("alice")
                    .raw_body(body)
                    .query("state", param)
                    .query("code", param)
                    .query("limit", param)
                    .query("cursor", param);
                for name in ["provider", "id"] {
                    if route.path.contains(&format!("{{{name}}}")) {
                        req = req.path_param(name, param);
                    }
                }
                let reply = t.send(req.build()).await;
                assert!(
                    reply.status() < 500,
                    "{} {} with param {param:?}: {}",
                    route.method,
                    route.path,
                    reply.body()
                );
                checked += 1;
            }
        }
    }
    assert_eq!(checked, routes.len() * params.len() * bodies.len());
}

#[tokio::test]
async fn an_audit_cursor_pages_only_the_callers_own_trail() {
    let t = TestApp::new().await;
    for _ in 0..3 {
        let reply = t
            .send(
                request(Method::POST, "/providers/demo/connect")
                    .user("alice")
                    .build(),
            )
            .await;
        assert_eq!(reply.status(), 200);
    }
    let first = t
        .send(
            request(Method::GET, "/audit")
                .user("alice")
                .query("limit", "2")
                .build(),
        )
        .await;
    assert_eq!(first.data()["entries"].as_array().unwrap().len(), 2);
    let cursor = first.data()["nextCursor"]
        .as_str()
        .expect("a next page")
        .to_string();
    let second = t
        .send(
            request(Method::GET, "/audit")
                .user("alice")
                .query("limit", "2")
                .query("cursor", &cursor)
                .build(),
        )
        .await;
    assert_eq!(
        second.data()["entries"].as_array().unwrap().len(),
        1,
        "{}",
        second.body()
    );
    assert!(
        first.data()["entries"][1]["at"].as_str() >= second.data()["entries"][0]["at"].as_str(),
        "newest first across pages"
    );
    let as_bob = t
        .send(
            request(Method::GET, "/audit")
                .user("bob")
                .query("cursor", &cursor)
                .build(),
        )
        .await;
    assert_eq!(as_bob.status(), 200);
    assert_eq!(
        as_bob.data()["entries"],
        serde_json::json!([]),
        "alice's cursor shows bob nothing of alice's"
    );
}
