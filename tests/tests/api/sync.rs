//! Calendar sync against the demo provider's events API (Google Calendar's paging, sync-token,
//! deletion and 410 semantics), moto's DynamoDB and SQS: incremental, paginated, idempotent,
//! resumable.

use std::time::Duration;

use integration_tests::{Options, TestApp, request};
use lambda_http::http::Method;

fn options() -> Options {
    Options {
        own_oauth_server: true,
        sync_queue: Some((1, 3)),
        ..Options::default()
    }
}

const LONG: Duration = Duration::from_secs(60);

/// Requests a sync, runs the worker until the queue is empty; the finished job.
async fn sync(t: &TestApp, user: &str, id: &str, full: bool) -> serde_json::Value {
    let reply = t
        .request_sync(user, id, serde_json::json!({ "full": full }))
        .await;
    assert_eq!(reply.status(), 202, "{}", reply.body());
    let job_id = reply.data()["jobId"].as_str().unwrap().to_string();
    t.drain_sync_queue(LONG).await;
    t.sync_job(user, id, &job_id).await
}

fn counts(job: &serde_json::Value) -> (u64, u64, u64) {
    let c = &job["counts"];
    (
        c["created"].as_u64().unwrap(),
        c["updated"].as_u64().unwrap(),
        c["deleted"].as_u64().unwrap(),
    )
}

async fn events_requests(t: &TestApp) -> u64 {
    t.oauth_stats().await.events_requests
}

#[tokio::test]
async fn full_sync_over_many_pages_then_an_incremental_one_touches_only_the_changes() {
    let t = TestApp::with(options()).await;
    let id = t.connected("alice").await;
    t.seed_events("alice", 2500).await;

    let job = sync(&t, "alice", &id, false).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (2500, 0, 0));
    assert!(job["finishedAt"].is_string() && job["startedAt"].is_string());
    let events = t.listed_events("alice", &id).await;
    assert_eq!(events.len(), 2500);
    assert!(events.iter().all(|e| e["deleted"] == false));
    let sample = &events[0];
    for field in [
        "id",
        "externalId",
        "title",
        "startTime",
        "endTime",
        "attendees",
        "updatedAt",
    ] {
        assert!(sample.get(field).is_some(), "{field} in {sample}");
    }
    let integration = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("alice")
                .build(),
        )
        .await;
    assert!(integration.data()["integration"]["lastSyncAt"].is_string());

    let (updated, deleted) = t.change_events("alice", 10, 5).await;
    let before = events_requests(&t).await;
    let job = sync(&t, "alice", &id, false).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (0, 10, 5), "exactly the changes");
    assert_eq!(
        events_requests(&t).await - before,
        1,
        "one incremental page, not a full listing"
    );
    let events = t.listed_events("alice", &id).await;
    assert_eq!(events.len(), 2500);
    let by_id = |ext: &str| {
        events
            .iter()
            .find(|e| e["externalId"] == ext)
            .unwrap()
            .clone()
    };
    for ext in &updated {
        assert!(by_id(ext)["title"].as_str().unwrap().ends_with("(updated)"));
    }
    for ext in &deleted {
        assert_eq!(by_id(ext)["deleted"], true);
    }
    assert_eq!(events.iter().filter(|e| e["deleted"] == true).count(), 5);
    let audit = t.audit_events(Some("alice")).await;
    assert!(audit.iter().any(|e| e["event"] == "sync_requested"));
    assert!(audit.iter().any(|e| e["event"] == "sync_completed"));
}

#[tokio::test]
async fn a_worker_killed_after_page_three_resumes_from_its_checkpoint() {
    let t = TestApp::with(Options {
        store_proxy: true,
        ..options()
    })
    .await;
    let id = t.connected("bob").await;
    t.seed_events("bob", 1200).await;
    // The checkpoint after page 3 fails (all of the SDK's attempts): the worker dies there,
    // with page 3's records written and not committed.
    t.store
        .as_ref()
        .unwrap()
        .fail_after_containing("UpdateItem", "pageIndex = :next", 2, 3);
    let reply = t.request_sync("bob", &id, serde_json::json!({})).await;
    let job_id = reply.data()["jobId"].as_str().unwrap().to_string();
    let (invocations, failures) = t.drain_sync_queue(LONG).await;
    let job = t.sync_job("bob", &id, &job_id).await;
    assert!(failures >= 1, "the first run failed ({invocations} runs)");
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        counts(&job),
        (1200, 0, 0),
        "the replayed page counted once, as in an uninterrupted run"
    );
    let events = t.listed_events("bob", &id).await;
    assert_eq!(events.len(), 1200);
}

#[tokio::test]
async fn the_same_message_twice_changes_nothing() {
    let t = TestApp::with(options()).await;
    let id = t.connected("carl").await;
    t.seed_events("carl", 600).await;
    let reply = t.request_sync("carl", &id, serde_json::json!({})).await;
    let job_id = reply.data()["jobId"].as_str().unwrap().to_string();
    let deliver = || t.deliver_sync_message("carl", &id, &job_id, LONG);
    // Two deliveries at once (SQS is at-least-once), then a third after the job finished.
    let (a, b) = tokio::join!(deliver(), deliver());
    let _ = (a, b);
    t.drain_sync_queue(LONG).await;
    let job = t.sync_job("carl", &id, &job_id).await;
    // (The job in the message: this failed once under load, not reproduced since.)
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (600, 0, 0), "no page counted twice");
    let before = events_requests(&t).await;
    assert!(deliver().await.batch_item_failures.is_empty());
    assert_eq!(
        events_requests(&t).await,
        before,
        "a finished job calls no provider"
    );
    assert_eq!(counts(&t.sync_job("carl", &id, &job_id).await), (600, 0, 0));
    assert_eq!(
        t.listed_events("carl", &id).await.len(),
        600,
        "no duplicates"
    );
}

#[tokio::test]
async fn an_invalidated_cursor_means_a_full_resync_not_a_failure() {
    let t = TestApp::with(options()).await;
    let id = t.connected("dina").await;
    t.seed_events("dina", 300).await;
    assert_eq!(sync(&t, "dina", &id, false).await["status"], "succeeded");
    t.invalidate_sync_tokens("dina").await;
    let (updated, deleted) = t.change_events("dina", 3, 2).await;
    let job = sync(&t, "dina", &id, false).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["full"], true, "restarted as a full listing");
    assert_eq!(counts(&job), (0, 3, 2));
    let events = t.listed_events("dina", &id).await;
    assert_eq!(events.len(), 300);
    for ext in deleted {
        assert!(
            events
                .iter()
                .any(|e| e["externalId"] == ext.as_str() && e["deleted"] == true)
        );
    }
    assert_eq!(updated.len(), 3);
}

#[tokio::test]
async fn a_rate_limited_provider_is_waited_for_and_the_sync_completes() {
    let t = TestApp::with(options()).await;
    let id = t.connected("emil").await;
    t.seed_events("emil", 600).await;
    t.events_api_faults(
        serde_json::json!([{"status": 429, "retryAfter": 1}, {"status": 503}]),
        false,
    )
    .await;
    let job = sync(&t, "emil", &id, false).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (600, 0, 0));
    let log = t.oauth_stats().await.events_request_log;
    let at = |i: usize| log[i].at;
    assert_eq!(log[0].status, 429);
    assert!(at(1) - at(0) >= 1000, "Retry-After: 1 honoured");
}

#[tokio::test]
async fn a_short_time_budget_hands_the_job_on_in_continuation_messages() {
    let t = TestApp::with(options()).await;
    let id = t.connected("fay").await;
    t.seed_events("fay", 700).await;
    let reply = t.request_sync("fay", &id, serde_json::json!({})).await;
    let job_id = reply.data()["jobId"].as_str().unwrap().to_string();
    // Each invocation has less than the page reserve left after its first page.
    let (invocations, failures) = t.drain_sync_queue(Duration::from_secs(1)).await;
    let job = t.sync_job("fay", &id, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (700, 0, 0));
    assert_eq!(
        (invocations, failures),
        (3, 0),
        "one page per invocation, 3 pages of 250"
    );
}

#[tokio::test]
async fn a_second_request_while_a_job_is_queued_gets_the_same_job() {
    let t = TestApp::with(options()).await;
    let id = t.connected("gus").await;
    let first = t.request_sync("gus", &id, serde_json::json!({})).await;
    // The first job's message is lost (as if the send had failed after the job was written).
    t.sqs
        .purge_queue()
        .queue_url(&t.sync_queues.as_ref().unwrap().queue_url)
        .send()
        .await
        .unwrap();
    let second = t
        .request_sync("gus", &id, serde_json::json!({"syncTypes": ["calendar"]}))
        .await;
    assert_eq!((first.status(), second.status()), (202, 202));
    assert_eq!(first.data()["jobId"], second.data()["jobId"]);
    let job_id = first.data()["jobId"].as_str().unwrap().to_string();
    assert_eq!(t.sync_job("gus", &id, &job_id).await["status"], "queued");
    t.drain_sync_queue(LONG).await;
    assert_eq!(
        t.sync_job("gus", &id, &job_id).await["status"],
        "succeeded",
        "the second request sent the queued job's message again"
    );
    let third = t.request_sync("gus", &id, serde_json::json!({})).await;
    assert_ne!(
        third.data()["jobId"],
        first.data()["jobId"],
        "after it finished: a new job"
    );
    let bad = t
        .request_sync("gus", &id, serde_json::json!({"syncTypes": ["mail"]}))
        .await;
    assert_eq!(bad.error_code(), "VALIDATION_ERROR");
}

/// The integration guide's name for calendar events: a client written to it is served.
#[tokio::test]
async fn events_is_read_as_calendar_in_sync_requests_and_settings() {
    let t = TestApp::with(options()).await;
    let id = t.connected("ines").await;
    let reply = t
        .request_sync("ines", &id, serde_json::json!({"syncTypes": ["events"]}))
        .await;
    assert_eq!(reply.status(), 202, "{}", reply.body());
    let settings = |types: serde_json::Value| {
        request(Method::PATCH, &format!("/integrations/{id}"))
            .user("ines")
            .json(serde_json::json!({"syncSettings": {"enabled": false, "syncTypes": types, "frequency": "daily"}}))
            .build()
    };
    let patched = t.send(settings(serde_json::json!(["events"]))).await;
    assert_eq!(patched.status(), 200, "{}", patched.body());
    assert_eq!(
        patched.data()["integration"]["syncSettings"]["syncTypes"],
        serde_json::json!(["calendar"]),
        "stored and answered under its one name"
    );
    // Both names are one type, once; a name repeated is refused as the schema says.
    let both = t
        .send(settings(serde_json::json!(["calendar", "events"])))
        .await;
    assert_eq!(both.status(), 200, "{}", both.body());
    assert_eq!(
        both.data()["integration"]["syncSettings"]["syncTypes"],
        serde_json::json!(["calendar"])
    );
    let repeated = t
        .send(settings(serde_json::json!(["events", "events"])))
        .await;
    assert_eq!(
        (repeated.status(), repeated.error_code().as_str()),
        (400, "VALIDATION_ERROR")
    );
}

#[tokio::test]
async fn another_users_integration_is_not_found_on_every_sync_route() {
    let t = TestApp::with(options()).await;
    let id = t.connected("hana").await;
    let reply = t.request_sync("hana", &id, serde_json::json!({})).await;
    let job_id = reply.data()["jobId"].as_str().unwrap().to_string();
    let mallory = |method: Method, path: String| {
        let t = &t;
        async move {
            t.send(
                request(method, &path)
                    .user("mallory")
                    .json(serde_json::json!({}))
                    .build(),
            )
            .await
        }
    };
    for (method, path) in [
        (Method::POST, format!("/integrations/{id}/sync")),
        (Method::GET, format!("/integrations/{id}/sync/{job_id}")),
        (Method::GET, format!("/integrations/{id}/events")),
    ] {
        let reply = mallory(method, path.clone()).await;
        assert_eq!(
            (reply.status(), reply.error_code().as_str()),
            (404, "ACCOUNT_NOT_FOUND"),
            "{path}"
        );
    }
    let patch = t
        .send(request(Method::PATCH, &format!("/integrations/{id}"))
                .user("mallory")
                .json(serde_json::json!({"syncSettings": {"enabled": true, "syncTypes": ["calendar"], "frequency": "daily"}}))
                .build(),
        )
        .await;
    assert_eq!(patch.status(), 404);
}

#[tokio::test]
async fn a_token_the_provider_keeps_rejecting_fails_the_job_and_expires_the_integration() {
    let t = TestApp::with(options()).await;
    let id = t.connected("ivy").await;
    t.seed_events("ivy", 10).await;
    t.events_api_faults(serde_json::json!([{"status": 401}]), true)
        .await;
    let job = sync(&t, "ivy", &id, false).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "TOKEN_EXPIRED");
    let got = t
        .send(
            request(Method::GET, &format!("/integrations/{id}"))
                .user("ivy")
                .build(),
        )
        .await;
    assert_eq!(got.data()["integration"]["status"], "expired");
    let audit = t.audit_events(Some("ivy")).await;
    assert!(audit.iter().any(|e| e["event"] == "sync_failed"));
}

#[tokio::test]
async fn scheduled_sync_is_enqueued_by_the_scheduler_when_due() {
    let t = TestApp::with(Options {
        refresh_queue: Some((30, 3)),
        ..options()
    })
    .await;
    let id = t.connected("jon").await;
    t.seed_events("jon", 20).await;
    let patch = t
        .send(request(Method::PATCH, &format!("/integrations/{id}"))
                .user("jon")
                .json(serde_json::json!({"syncSettings": {"enabled": true, "syncTypes": ["calendar"], "frequency": "hourly"}}))
                .build(),
        )
        .await;
    assert_eq!(patch.status(), 200, "{}", patch.body());
    assert_eq!(patch.data()["integration"]["syncSettings"]["enabled"], true);

    let now = shared::clock::now_epoch();
    let report = t.schedule(now).await.unwrap();
    assert_eq!((report.syncs_due, report.syncs_queued), (1, 1));
    t.drain_sync_queue(LONG).await;
    assert_eq!(t.listed_events("jon", &id).await.len(), 20);
    let report = t.schedule(now + 60).await.unwrap();
    assert_eq!(report.syncs_due, 0, "next one in an hour");
    let report = t.schedule(now + 3601).await.unwrap();
    assert_eq!(report.syncs_due, 1);

    let off = t
        .send(request(Method::PATCH, &format!("/integrations/{id}"))
                .user("jon")
                .json(serde_json::json!({"syncSettings": {"enabled": false, "syncTypes": ["calendar"], "frequency": "hourly"}}))
                .build(),
        )
        .await;
    assert_eq!(off.status(), 200);
    let report = t.schedule(now + 7300).await.unwrap();
    assert_eq!(report.syncs_due, 0, "disabled: out of the due-sync index");
}

#[tokio::test]
async fn a_full_resync_marks_deleted_what_the_provider_no_longer_lists() {
    let t = TestApp::with(options()).await;
    let id = t.connected("kai").await;
    t.seed_events("kai", 300).await;
    assert_eq!(counts(&sync(&t, "kai", &id, false).await), (300, 0, 0));
    // The calendar is emptied and refilled at the provider (no cancelled entries left behind),
    // and the sync token is no longer valid.
    let wiped = reqwest::Client::new()
        .delete(format!("{}/__events/kai", t.oauth_url))
        .send()
        .await
        .unwrap();
    assert!(wiped.status().is_success());
    t.seed_events("kai", 100).await;
    t.invalidate_sync_tokens("kai").await;

    let job = sync(&t, "kai", &id, false).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        counts(&job),
        (100, 0, 300),
        "the 300 unlisted records swept as deleted"
    );
    let events = t.listed_events("kai", &id).await;
    assert_eq!(events.len(), 400);
    assert_eq!(events.iter().filter(|e| e["deleted"] == true).count(), 300);

    // An incremental sync afterwards sweeps nothing.
    t.change_events("kai", 1, 0).await;
    assert_eq!(counts(&sync(&t, "kai", &id, false).await), (0, 1, 0));
}

#[tokio::test]
async fn a_crash_after_the_last_page_finishes_without_listing_again() {
    let t = TestApp::with(Options {
        store_proxy: true,
        ..options()
    })
    .await;
    let id = t.connected("lev").await;
    t.seed_events("lev", 600).await;
    // The job's final write fails (all of the SDK's attempts) after the last page committed.
    t.store
        .as_ref()
        .unwrap()
        .fail_next_containing("TransactWriteItems", ":done", 3);
    let before = events_requests(&t).await;
    let reply = t.request_sync("lev", &id, serde_json::json!({})).await;
    let job_id = reply.data()["jobId"].as_str().unwrap().to_string();
    let (_, failures) = t.drain_sync_queue(LONG).await;
    assert_eq!(failures, 1, "the first run could not finish");
    let job = t.sync_job("lev", &id, &job_id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (600, 0, 0));
    assert_eq!(
        events_requests(&t).await - before,
        3,
        "3 pages fetched once: the rerun only finished"
    );
    // The cursor of the listing was kept: the next sync is incremental (one request).
    t.change_events("lev", 2, 0).await;
    let before = events_requests(&t).await;
    assert_eq!(counts(&sync(&t, "lev", &id, false).await), (0, 2, 0));
    assert_eq!(events_requests(&t).await - before, 1);
}

#[tokio::test]
async fn a_stale_job_replaced_by_a_new_one_still_finishes_its_own_row() {
    let mut tuning = integration_tests::fast_sync_tuning();
    // Every active job counts as stale: the second request replaces the first.
    tuning.stale_job_secs = -60;
    let t = TestApp::with(Options {
        sync_tuning: Some(tuning),
        ..options()
    })
    .await;
    let id = t.connected("max").await;
    t.seed_events("max", 30).await;
    let first = t.request_sync("max", &id, serde_json::json!({})).await;
    let second = t.request_sync("max", &id, serde_json::json!({})).await;
    let (a, b) = (
        first.data()["jobId"].as_str().unwrap().to_string(),
        second.data()["jobId"].as_str().unwrap().to_string(),
    );
    assert_ne!(a, b, "the stale job was replaced");
    t.drain_sync_queue(LONG).await;
    // The replaced job stops without listing or sweeping; the newer one does the work.
    let first = t.sync_job("max", &id, &a).await;
    assert_eq!(
        (first["status"].as_str(), first["error"]["code"].as_str()),
        (Some("failed"), Some("CONFLICT")),
        "{first}"
    );
    let second = t.sync_job("max", &id, &b).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    assert_eq!(counts(&second), (30, 0, 0));
    let integration = t.integration_item("max", &id).await;
    assert!(
        !integration.contains_key("activeSyncJob"),
        "the active job cleared by its own finish"
    );
}

#[tokio::test]
async fn an_event_the_table_cannot_key_is_skipped_and_counted_and_the_job_goes_on() {
    let t = TestApp::with(options()).await;
    let id = t.connected("otto").await;
    t.seed_events_with_long_ids("otto", 10, 2).await;
    let job = sync(&t, "otto", &id, false).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(counts(&job), (8, 0, 0));
    assert_eq!(job["counts"]["skipped"], 2, "{job}");
    assert_eq!(t.listed_events("otto", &id).await.len(), 8);
}

/// A job replaced while it is between pages (its continuation queued) stops at its next page:
/// two full listings never run side by side, so neither can sweep the other's records.
#[tokio::test]
async fn a_job_replaced_mid_listing_stops_at_its_next_page() {
    let mut tuning = integration_tests::fast_sync_tuning();
    tuning.stale_job_secs = -60;
    let t = TestApp::with(Options {
        sync_tuning: Some(tuning),
        ..options()
    })
    .await;
    let id = t.connected("nia").await;
    t.seed_events("nia", 600).await;
    let first = t.request_sync("nia", &id, serde_json::json!({})).await;
    let a = first.data()["jobId"].as_str().unwrap().to_string();
    // One invocation with too little time for a second page: page 1, then a continuation.
    let queue = &t.sync_queues.as_ref().unwrap().queue_url;
    let polled = devstack::poller::poll_once(&t.sqs, queue, 1, |event| {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
        integration_tests::iam::as_function(
            shared::Function::SyncWorker,
            shared::jobs::sync_batch(&t.app, event, deadline),
        )
    })
    .await
    .unwrap();
    assert_eq!((polled.received, polled.failed), (1, 0));
    assert_eq!(t.sync_job("nia", &id, &a).await["counts"]["created"], 250);
    let second = t.request_sync("nia", &id, serde_json::json!({})).await;
    let b = second.data()["jobId"].as_str().unwrap().to_string();
    assert_ne!(a, b);
    t.drain_sync_queue(LONG).await;
    let first = t.sync_job("nia", &id, &a).await;
    assert_eq!(first["error"]["code"], "CONFLICT", "{first}");
    assert_eq!(
        first["counts"]["created"], 250,
        "no page after it was replaced"
    );
    let second = t.sync_job("nia", &id, &b).await;
    assert_eq!(second["status"], "succeeded", "{second}");
    let events = t.listed_events("nia", &id).await;
    assert_eq!(events.len(), 600);
    assert!(events.iter().all(|e| e["deleted"] == false));
}

async fn integration_error(t: &TestApp, user: &str, id: &str) -> serde_json::Value {
    t.send(
        request(Method::GET, &format!("/integrations/{id}"))
            .user(user)
            .build(),
    )
    .await
    .data()["integration"]["lastError"]
        .clone()
}

#[tokio::test]
async fn a_refusal_no_retry_changes_fails_the_job_at_once_and_shows_on_the_integration() {
    let t = TestApp::with(options()).await;
    let id = t.connected("ola").await;
    t.seed_events("ola", 10).await;
    t.events_api_faults(
        serde_json::json!([{"status": 403, "reason": "insufficientPermissions"}]),
        true,
    )
    .await;
    let reply = t.request_sync("ola", &id, serde_json::json!({})).await;
    let job_id = reply.data()["jobId"].as_str().unwrap().to_string();
    let (invocations, failures) = t.drain_sync_queue(LONG).await;
    assert_eq!(
        (invocations, failures),
        (1, 0),
        "failed at once, not retried"
    );
    let job = t.sync_job("ola", &id, &job_id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "PROVIDER_ERROR");
    assert_eq!(
        integration_error(&t, "ola", &id).await["code"],
        "PROVIDER_ERROR"
    );
    // The next success clears it.
    t.events_api_faults(serde_json::json!([]), false).await;
    assert_eq!(sync(&t, "ola", &id, false).await["status"], "succeeded");
    assert!(integration_error(&t, "ola", &id).await.is_null());
}

#[tokio::test]
async fn a_provider_that_never_stops_paging_hits_the_page_cap() {
    let t = TestApp::with(Options {
        env: vec![("SYNC_MAX_PAGES".into(), "2".into())],
        ..options()
    })
    .await;
    let id = t.connected("pia").await;
    t.seed_events("pia", 600).await;
    let job = sync(&t, "pia", &id, false).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "SYNC_PAGE_LIMIT");
    assert_eq!(job["counts"]["created"], 500, "two pages, then the cap");
    assert_eq!(
        integration_error(&t, "pia", &id).await["code"],
        "SYNC_PAGE_LIMIT"
    );
}

#[tokio::test]
async fn a_job_that_fails_on_its_last_delivery_ends_failed_instead_of_running_for_ever() {
    let t = TestApp::with(options()).await;
    let id = t.connected("quin").await;
    t.seed_events("quin", 10).await;
    // The provider stays unavailable: each delivery's retries run out.
    t.events_api_faults(serde_json::json!([{"status": 503}]), true)
        .await;
    let reply = t.request_sync("quin", &id, serde_json::json!({})).await;
    let job_id = reply.data()["jobId"].as_str().unwrap().to_string();
    // Each failed delivery comes back after the queue's 1 s visibility timeout.
    let (mut invocations, mut failures) = (0, 0);
    for _ in 0..20 {
        let (i, f) = t.drain_sync_queue(LONG).await;
        (invocations, failures) = (invocations + i, failures + f);
        if t.sync_job("quin", &id, &job_id).await["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        (invocations, failures),
        (3, 2),
        "two deliveries back to the queue, the third (the redrive limit) ends the job"
    );
    let job = t.sync_job("quin", &id, &job_id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "SYNC_ABANDONED");
    assert_eq!(
        integration_error(&t, "quin", &id).await["code"],
        "SYNC_ABANDONED"
    );
    let dlq = &t.sync_queues.as_ref().unwrap().dead_letter_url;
    let parked = t
        .sqs
        .receive_message()
        .queue_url(dlq)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    assert!(parked.is_empty(), "nothing left in the dead-letter queue");
}
