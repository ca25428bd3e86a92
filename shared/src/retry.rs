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

/// RFC 9110 §10.2.3: `Retry-After` is delay-seconds or an HTTP-date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}
