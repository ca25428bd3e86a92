//! A catalogue entry's `calendar.default_sync`: the schedule a first connect of an account
//! starts with. The built-in entries have none (sync stays off until the app turns it on).

use integration_tests::{Options, TestApp, request};
use lambda_http::http::Method;
use shared::clock::now_epoch;

/// The embedded catalogue with the demo entry's calendar on a daily schedule by default.
fn daily_demo_catalogue() -> String {
    let embedded = include_str!("../../../shared/providers.toml");
    let demo_calendar = r#"calendar = { api = "google_calendar", events_url = "${DEMO_OAUTH_URL:-http://127.0.0.1:9400}/calendar/v3/calendars/primary/events", write_scopes = ["calendar.events"] }"#;
    assert!(
        embedded.contains(demo_calendar),
        "the demo entry's calendar line"
    );
    embedded.replacen(
        demo_calendar,
        &demo_calendar.replace(" }", r#", default_sync = "daily" }"#),
        1,
    )
}

#[tokio::test]
async fn a_first_connect_starts_on_the_entrys_schedule_and_a_reconnect_keeps_the_apps_choice() {
    let t = TestApp::with(Options {
        own_oauth_server: true,
        sync_queue: Some((1, 3)),
        refresh_queue: Some((30, 3)),
        catalogue: Some(daily_demo_catalogue()),
        ..Options::default()
    })
    .await;
    let connected = t.connect("ada").await;
    assert_eq!(
        connected["syncSettings"],
        serde_json::json!({"enabled": true, "syncTypes": ["calendar"], "frequency": "daily"})
    );
    let id = connected["id"].as_str().unwrap_or_default().to_string();
    // Its first sync is due at once: the scheduler queues it.
    let report = t.schedule(now_epoch()).await.expect("scheduler run");
    assert_eq!((report.syncs_due, report.syncs_queued), (1, 1));

    // The app turns it off; connecting the same account again does not turn it back on.
    let off = t
        .send(
            request(Method::PATCH, &format!("/integrations/{id}"))
                .user("ada")
                .json(serde_json::json!({"syncSettings": {"enabled": false, "syncTypes": ["calendar"], "frequency": "daily"}}))
                .build(),
        )
        .await;
    assert_eq!(off.status(), 200, "{}", off.body());
    let again = t.connect("ada").await;
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["syncSettings"]["enabled"], false, "{again}");
}

#[tokio::test]
async fn the_built_in_entries_leave_sync_off() {
    let t = TestApp::new().await;
    let connected = t.connect("bo").await;
    assert_eq!(connected["syncSettings"]["enabled"], false, "{connected}");
    let catalogue = &t.app.catalogue;
    for entry in ["demo", "google", "microsoft"] {
        let calendar = catalogue.get(entry).and_then(|p| p.calendar.as_ref());
        assert_eq!(
            calendar.map(|c| c.default_sync),
            Some(shared::catalogue::DefaultSync::Off),
            "{entry}"
        );
    }
}
