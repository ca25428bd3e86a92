//! Every sample event in events/ (the files users pass to `sam local invoke -e`) through the
//! same conversion and handler a deployed function uses, with the outcome events/README.md states.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sqs::SqsEvent;
use integration_tests::{Options, TestApp};
use shared::{ApiRequest, Function};

const EXPECTED: &[(&str, Function, u16, Option<&str>)] = &[
    ("health-ok", Function::Health, 200, None),
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
    (
        "refresh-not-found",
        Function::Refresh,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "refresh-bad-id",
        Function::Refresh,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "test-connection-not-found",
        Function::TestConnection,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "token-not-found",
        Function::Token,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    ("token-no-iam", Function::Token, 401, Some("UNAUTHORIZED")),
    (
        "sync-not-found",
        Function::Sync,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "sync-bad-body",
        Function::Sync,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "sync-job-not-found",
        Function::Sync,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "list-events-not-found",
        Function::ListEvents,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "list-events-bad-limit",
        Function::ListEvents,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "update-integration-not-found",
        Function::UpdateIntegration,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "update-integration-bad-frequency",
        Function::UpdateIntegration,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "update-integration-bad-metadata",
        Function::UpdateIntegration,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "list-contacts-not-found",
        Function::ListContacts,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "create-event-bad-times",
        Function::CreateEvent,
        400,
        Some("VALIDATION_ERROR"),
    ),
    (
        "create-event-not-found",
        Function::CreateEvent,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "update-event-not-found",
        Function::UpdateEvent,
        404,
        Some("ACCOUNT_NOT_FOUND"),
    ),
    (
        "delete-event-not-found",
        Function::DeleteEvent,
        404,
        Some("ACCOUNT_NOT_FOUND"),
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

/// The scheduled event and the SQS event, through the handlers their functions run.
#[tokio::test]
async fn scheduled_and_queue_events_give_their_documented_outcomes() {
    let t = TestApp::with(Options {
        refresh_queue: Some((30, 3)),
        ..Options::default()
    })
    .await;
    let dir = devstack::repo_root().join("events");
    let text = std::fs::read_to_string(dir.join("scheduled-refresh.json")).unwrap();
    let scheduled: EventBridgeEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(scheduled.detail_type, "Scheduled Event");
    let report = t.schedule(shared::clock::now_epoch()).await.unwrap();
    assert_eq!((report.due, report.unsent), (0, 0));

    let text = std::fs::read_to_string(dir.join("sqs-refresh-worker.json")).unwrap();
    let batch: SqsEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(batch.records.len(), 2);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    let response = integration_tests::iam::as_function(
        shared::Function::RefreshWorker,
        shared::jobs::refresh_batch(&t.app, batch, deadline),
    )
    .await;
    let failed = failed_ids(&response);
    assert_eq!(
        failed,
        ["msg-poison"],
        "only the poison message goes back to the queue"
    );
    let text = std::fs::read_to_string(dir.join("sqs-token-recovery.json")).unwrap();
    let batch: SqsEvent = serde_json::from_str(&text).unwrap();
    assert_eq!(batch.records.len(), 2);
    let response = integration_tests::iam::as_function(
        shared::Function::TokenRecovery,
        shared::jobs::recovery_batch(&t.app, batch, deadline),
    )
    .await;
    let failed = failed_ids(&response);
    assert_eq!(
        failed,
        ["msg-poison"],
        "obsolete tokens are done with; only the poison message goes back to the queue"
    );
}

/// The ids of the messages a partial batch response sends back to the queue.
fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}
