//! Every sample event in events/ (the files users pass to `sam local invoke -e`) through the
//! same conversion and handler a deployed function uses, with the outcome events/README.md states.

use integration_tests::TestApp;
use shared::{ApiRequest, Function};

const EXPECTED: &[(&str, Function, u16, Option<&str>)] = &[
    ("providers-ok", Function::Providers, 200, None),
    ("connect-ok", Function::Connect, 200, None),
    ("connect-no-body", Function::Connect, 200, None),
    (
        "connect-unknown-provider",
        Function::Connect,
        400,
        Some("INVALID_PROVIDER"),
    ),
    (
        "connect-unauthorized",
        Function::Connect,
        401,
        Some("UNAUTHORIZED"),
    ),
    (
        "connect-malformed-json",
        Function::Connect,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "connect-wrong-types",
        Function::Connect,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "connect-foreign-return-to",
        Function::Connect,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "callback-bad-state",
        Function::Callback,
        400,
        Some("INVALID_STATE"),
    ),
    (
        "callback-missing-state",
        Function::Callback,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "callback-provider-denied",
        Function::Callback,
        400,
        Some("INVALID_STATE"),
    ),
    (
        "callback-post-bad-state",
        Function::Callback,
        400,
        Some("INVALID_STATE"),
    ),
    (
        "list-integrations-ok",
        Function::ListIntegrations,
        200,
        None,
    ),
    (
        "list-integrations-unauthorized",
        Function::ListIntegrations,
        401,
        Some("UNAUTHORIZED"),
    ),
    (
        "get-integration-not-found",
        Function::GetIntegration,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "get-integration-bad-id",
        Function::GetIntegration,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "disconnect-not-found",
        Function::Disconnect,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    ("audit-ok", Function::Audit, 200, None),
    (
        "audit-bad-limit",
        Function::Audit,
        400,
        Some("VALIDATION_ERROR"),
    ),
];

#[tokio::test]
async fn every_sample_event_gives_its_documented_outcome() {
    let t = TestApp::new().await;
    let dir = devstack::repo_root().join("events");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
        .filter(|n| !n.starts_with("scheduled") && !n.starts_with("sqs"))
        .collect();
    on_disk.sort();
    let mut covered: Vec<String> = EXPECTED.iter().map(|(n, ..)| n.to_string()).collect();
    covered.sort();
    assert_eq!(
        on_disk, covered,
        "every HTTP event file has an expected outcome here, and every one listed exists"
    );

    for (name, function, status, code) in EXPECTED {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        let event = lambda_http::request::from_str(&text)
            .unwrap_or_else(|e| panic!("{name}: not an HTTP API v2 event: {e}"));
        let req = ApiRequest::from_lambda(event);
        assert!(
            !req.request_id.is_empty() && req.request_id != "unknown",
            "{name}: correlation id from the event"
        );
        let reply = t.call(*function, req).await;
        assert_eq!(reply.status(), *status, "{name}: {}", reply.body());
        if let Some(code) = code {
            assert_eq!(reply.error_code(), *code, "{name}");
        }
        if *name == "connect-ok" {
            assert!(
                reply.data()["authUrl"]
                    .as_str()
                    .unwrap()
                    .contains("code_challenge_method=S256"),
                "PKCE S256"
            );
        }
    }
}
