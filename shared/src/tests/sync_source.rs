use super::*;

#[test]
fn google_pages_normalize_events_cancellations_and_cursors() {
    // Shapes from https://developers.google.com/calendar/api/v3/reference/events/list
    let body = br#"{"kind":"calendar#events","items":[
        {"id":"a1","status":"confirmed","summary":"Standup","location":"Room 1",
         "start":{"dateTime":"2026-11-23T09:00:00Z"},"end":{"dateTime":"2026-11-23T09:15:00Z"},
         "attendees":[{"email":"x@example.test"},{"displayName":"no email"}],"updated":"2026-11-20T10:00:00.000Z"},
        {"id":"a2","status":"confirmed","start":{"date":"2026-12-24"},"end":{"date":"2026-12-25"},"updated":"2026-11-20T10:00:01.000Z"},
        {"id":"a3","status":"cancelled","updated":"2026-11-21T10:00:00.000Z"}],
        "nextSyncToken":"sync-1"}"#;
    let page = google_page(body).unwrap();
    assert_eq!(page.next_page, None);
    assert_eq!(page.next_cursor.as_deref(), Some("sync-1"));
    assert_eq!(page.events.len(), 3);
    assert_eq!(page.events[0].title, "Standup");
    assert_eq!(page.events[0].attendees, ["x@example.test"]);
    assert_eq!(
        page.events[1].start_time.as_deref(),
        Some("2026-12-24"),
        "all-day"
    );
    assert!(page.events[2].deleted && !page.events[0].deleted);
}

#[test]
fn graph_pages_normalize_removed_events_and_links() {
    // Shapes from https://learn.microsoft.com/en-us/graph/delta-query-events
    let body = br#"{"@odata.nextLink":"https://graph.microsoft.com/v1.0/me/calendarView/delta?$skiptoken=s1",
        "value":[
        {"id":"m1","subject":"Review","bodyPreview":"","location":{"displayName":"Online"},
         "start":{"dateTime":"2026-11-23T09:00:00.0000000","timeZone":"UTC"},
         "end":{"dateTime":"2026-11-23T10:00:00.0000000","timeZone":"UTC"},
         "attendees":[{"emailAddress":{"address":"y@example.test","name":"Y"}}],
         "lastModifiedDateTime":"2026-11-20T10:00:00Z"},
        {"id":"m2","@removed":{"reason":"deleted"}}]}"#;
    let page = graph_page(body).unwrap();
    assert!(page.next_page.as_deref().unwrap().contains("skiptoken"));
    assert_eq!(page.next_cursor, None);
    assert_eq!(page.events[0].location.as_deref(), Some("Online"));
    assert_eq!(page.events[0].description, None);
    assert_eq!(page.events[0].attendees, ["y@example.test"]);
    assert_eq!(
        page.events[0].start_time.as_deref(),
        Some("2026-11-23T09:00:00.0000000Z")
    );
    assert!(page.events[1].deleted);
}

#[test]
fn graph_links_are_followed_only_on_the_events_origin() {
    let source = CalendarSource {
        api: CalendarApi::MicrosoftGraph,
        events_url: Url::parse("https://graph.microsoft.com/v1.0/me/calendarView/delta").unwrap(),
        default_sync: Default::default(),
        write_url: Url::parse("https://graph.microsoft.com/v1.0/me/events").unwrap(),
        write_scopes: Vec::new(),
    };
    let same = page_url(
        &source,
        PageRequest::Next("https://graph.microsoft.com/v1.0/me/calendarView/delta?$skiptoken=x"),
    );
    assert!(same.is_ok());
    let elsewhere = page_url(&source, PageRequest::Next("https://attacker.example/steal"));
    assert!(matches!(elsewhere, Err(FetchError::BadResponse(_))));
    let start = page_url(&source, PageRequest::Start { cursor: None }).unwrap();
    assert!(start.query().unwrap().contains("startDateTime"));
}
