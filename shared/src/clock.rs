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
