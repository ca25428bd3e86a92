use super::*;

fn source(api: CalendarApi, write_url: &str) -> CalendarSource {
    CalendarSource {
        api,
        events_url: Url::parse(write_url).unwrap(),
        default_sync: Default::default(),
        write_url: Url::parse(write_url).unwrap(),
        write_scopes: Vec::new(),
    }
}

fn fields() -> EventFields {
    EventFields {
        title: Some("Standup".into()),
        description: Some("Daily".into()),
        location: Some("Room 1".into()),
        attendees: Some(vec!["ada@example.com".into()]),
        times: Some((
            EventTime::At {
                rfc3339: "2026-12-02T10:00:00+01:00".into(),
                utc: "2026-12-02T09:00:00".into(),
            },
            EventTime::At {
                rfc3339: "2026-12-02T10:30:00+01:00".into(),
                utc: "2026-12-02T09:30:00".into(),
            },
        )),
        time_zone: Some("Europe/Paris".into()),
    }
}

#[test]
fn each_dialect_gets_its_own_event_body() {
    let google = Value::Object(request_body(CalendarApi::GoogleCalendar, &fields()));
    assert_eq!(
        google,
        json!({
            "summary": "Standup", "description": "Daily", "location": "Room 1",
            "start": {"dateTime": "2026-12-02T10:00:00+01:00", "timeZone": "Europe/Paris"},
            "end": {"dateTime": "2026-12-02T10:30:00+01:00", "timeZone": "Europe/Paris"},
            "attendees": [{"email": "ada@example.com"}],
        })
    );
    let graph = Value::Object(request_body(CalendarApi::MicrosoftGraph, &fields()));
    assert_eq!(
        graph,
        json!({
            "subject": "Standup",
            "body": {"contentType": "text", "content": "Daily"},
            "location": {"displayName": "Room 1"},
            "start": {"dateTime": "2026-12-02T09:00:00", "timeZone": "UTC"},
            "end": {"dateTime": "2026-12-02T09:30:00", "timeZone": "UTC"},
            "isAllDay": false,
            "attendees": [{"emailAddress": {"address": "ada@example.com"}, "type": "required"}],
        })
    );
    // A patch of one field sends that field only; an all-day event sends dates.
    let day = EventFields {
        times: Some((
            EventTime::Day("2026-12-24".into()),
            EventTime::Day("2026-12-25".into()),
        )),
        ..EventFields::default()
    };
    assert_eq!(
        Value::Object(request_body(CalendarApi::GoogleCalendar, &day)),
        json!({"start": {"date": "2026-12-24"}, "end": {"date": "2026-12-25"}})
    );
    assert_eq!(
        Value::Object(request_body(CalendarApi::MicrosoftGraph, &day))["isAllDay"],
        true
    );
}

#[test]
fn an_event_id_is_one_path_segment_under_the_write_collection() {
    let google = source(
        CalendarApi::GoogleCalendar,
        "https://www.googleapis.com/calendar/v3/calendars/primary/events",
    );
    assert_eq!(
        event_url(&google, "abc123").as_str(),
        "https://www.googleapis.com/calendar/v3/calendars/primary/events/abc123"
    );
    let graph = source(
        CalendarApi::MicrosoftGraph,
        "https://graph.microsoft.com/v1.0/me/events",
    );
    // Graph ids hold `=`, `/` and `+`: encoded, they cannot leave the collection.
    assert_eq!(
        event_url(&graph, "AAMk/../x+y=").as_str(),
        "https://graph.microsoft.com/v1.0/me/events/AAMk%2F..%2Fx+y="
    );
}

#[test]
fn a_providers_refusal_keeps_its_message_short() {
    let long = "x".repeat(1000);
    let body = json!({"error": {"code": 400, "message": long}}).to_string();
    assert_eq!(provider_message(body.as_bytes()).chars().count(), 300);
    assert_eq!(provider_message(b"<html>"), "no reason given");
}
