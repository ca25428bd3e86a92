//! The wall clock, in the three forms the service stores: epoch seconds (expiries, TTLs, index
//! sort keys), epoch milliseconds (leases) and fixed-width RFC 3339 text (timestamps that sort).

use time::OffsetDateTime;

pub fn now_epoch() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

pub fn now_epoch_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Now as RFC 3339 with exactly six fractional digits: fixed width, so timestamps sort as text
/// (audit sort keys), which the default format (trailing zeros dropped) does not.
pub fn now_rfc3339() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// How long ago an RFC 3339 timestamp was (a job's `startedAt`); None when it does not parse
/// or lies ahead.
pub fn elapsed_since(rfc3339: &str) -> Option<std::time::Duration> {
    let then =
        OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339).ok()?;
    (OffsetDateTime::now_utc() - then).try_into().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn elapsed_since_reads_our_own_timestamps() {
        let long_ago = super::elapsed_since("2026-01-01T00:00:00.000000Z").unwrap();
        assert!(long_ago.as_secs() > 3600);
        let just_now = super::elapsed_since(&super::now_rfc3339()).unwrap_or_default();
        assert!(just_now.as_secs() < 5);
        assert!(super::elapsed_since("not a time").is_none());
    }
}
