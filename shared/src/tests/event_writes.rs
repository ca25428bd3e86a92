use super::*;

#[test]
fn times_are_both_instants_or_both_days_and_end_after_start() {
    let (start, end) = checked_times("2026-12-02T10:00:00+01:00", "2026-12-02T10:30:00Z").unwrap();
    assert_eq!(
        start,
        EventTime::At {
            rfc3339: "2026-12-02T10:00:00+01:00".into(),
            utc: "2026-12-02T09:00:00".into()
        }
    );
    assert!(matches!(end, EventTime::At { .. }));
    assert!(matches!(
        checked_times("2026-12-24", "2026-12-25").unwrap(),
        (EventTime::Day(_), EventTime::Day(_))
    ));
    for (start, end) in [
        ("2026-12-02T10:00:00Z", "2026-12-02T10:00:00Z"),
        ("2026-12-02T10:00:00Z", "2026-12-02T09:59:59Z"),
        ("2026-12-25", "2026-12-25"),
        ("2026-12-02T10:00:00", "2026-12-02T11:00:00"),
        ("2026-12-24", "2026-12-25T00:00:00Z"),
        ("2026-02-30", "2026-03-01"),
        ("tomorrow", "2026-12-25"),
    ] {
        assert!(checked_times(start, end).is_err(), "{start} .. {end}");
    }
}

#[test]
fn addresses_and_time_zones_are_checked_for_their_form() {
    for ok in ["ada@example.com", "a.b+c@sub.example.co.uk", "zoë@例え.jp"] {
        assert!(is_email(ok), "{ok}");
    }
    for bad in [
        "ada",
        "ada@localhost",
        "@example.com",
        "a b@example.com",
        "a@b@c.com",
    ] {
        assert!(!is_email(bad), "{bad}");
    }
    for ok in [
        "UTC",
        "Europe/Paris",
        "America/Argentina/Buenos_Aires",
        "Etc/GMT+5",
    ] {
        assert!(is_time_zone(ok), "{ok}");
    }
    for bad in [
        "",
        "/Paris",
        "Europe/Paris; drop",
        "Europe Paris",
        &"A".repeat(65),
    ] {
        assert!(!is_time_zone(bad), "{bad}");
    }
}

#[test]
fn a_retried_create_asks_for_the_same_event_id_and_a_valid_google_one() {
    let integration = IntegrationId::parse(&"a".repeat(32)).unwrap();
    let other = IntegrationId::parse(&"b".repeat(32)).unwrap();
    let id = derived_id(&integration, "order-1042");
    assert_eq!(id, derived_id(&integration, "order-1042"));
    assert_ne!(id, derived_id(&integration, "order-1043"));
    assert_ne!(id, derived_id(&other, "order-1042"));
    // Google: base32hex characters (a-v, 0-9), 5 to 1024 of them.
    assert!(id.len() >= 5 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'v')));
}
