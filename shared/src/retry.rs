//! Retrying a call that failed for now: backoff with jitter, and the provider's `Retry-After`.

use std::time::{Duration, SystemTime};

/// Exponential backoff with full jitter: attempt n waits a uniformly random time in
/// [0, min(cap, base·2ⁿ)] (the AWS Architecture Blog's "full jitter", which spreads retries of
/// many callers best).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    /// Attempts in all, the first included.
    pub attempts: u32,
    pub base: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.cap);
        let mut random = [0u8; 8];
        crate::crypto::fill_random(&mut random);
        let fraction = u64::from_le_bytes(random) as f64 / u64::MAX as f64;
        ceiling.mul_f64(fraction)
    }
}

/// The longest `Retry-After` believed: whatever a provider asks, nothing here waits longer, and
/// no longer one is passed on to our callers (API responses, queue delays).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// RFC 9110 §10.2.3: `Retry-After` is delay-seconds or an HTTP-date; capped at
/// [`MAX_RETRY_AFTER`].
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let asked = match value.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(asked.min(MAX_RETRY_AFTER))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_both_forms_and_is_capped() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(90));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(90))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(90));
        assert_eq!(parse_retry_after(&past, now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
        for absurd in [
            "31536000000",
            &httpdate::fmt_http_date(now + Duration::from_secs(86_400 * 400)),
        ] {
            assert_eq!(
                parse_retry_after(absurd, now),
                Some(MAX_RETRY_AFTER),
                "{absurd}"
            );
        }
    }
}
