//! Timings and retry budgets of the refresh and sync paths. Fixed per deployment (the defaults);
//! tests shorten them through [`crate::App::with_refresh_tuning`] and
//! [`crate::App::with_sync_tuning`].

use std::time::Duration;

use crate::retry::Backoff;

/// Provider calls give up after this long; part of why API responses stay within Lambda's timeout.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(8);

/// The refresh path's timings. The defaults fit a 29 s API function behind API Gateway's 30 s
/// limit: a provider attempt is bounded at 8 s ([`PROVIDER_TIMEOUT`]), the lease outlives every attempt
/// started under it plus the write retries, and the function outlives the lease.
#[derive(Debug, Clone, Copy)]
pub struct RefreshTuning {
    pub lease: Duration,
    /// The stored lease lasts this much longer than the holder works under it: after a write
    /// that failed through the lease, the time `token-recovery` has to store the new tokens
    /// before another caller may refresh.
    pub recovery_grace: Duration,
    /// Kept free at the end of the lease for the fenced write and its retries.
    pub write_reserve: Duration,
    /// The longest a single provider attempt can take (the HTTP client's timeout).
    pub provider_attempt: Duration,
    /// The longest one attempt at the fenced write may take; an attempt starts only if this
    /// much of the lease is left.
    pub write_attempt: Duration,
    pub provider_retry: Backoff,
    /// A longer `Retry-After` than this is not waited for here: the error goes back to the
    /// caller (or the message to the queue) with the provider's `Retry-After`.
    pub retry_after_cap: Duration,
    pub write_retry: Backoff,
    /// How often a waiting caller looks for the lease holder's result, at most.
    pub wait_poll_cap: Duration,
    /// `POST /integrations/{id}/refresh` reuses a refresh younger than this.
    pub manual_refresh_window_secs: i64,
    /// What an API request may spend in the refresh path before answering 503.
    pub request_budget: Duration,
    /// A refresh message that failed for now comes back after this, doubling with each
    /// receive up to `queue_retry_cap` (or after the provider's `Retry-After`), rather than
    /// after the queue's visibility timeout (6 minutes: long against a 10-minute margin).
    pub queue_retry_base: Duration,
    pub queue_retry_cap: Duration,
    /// A recovery message whose write failed comes back after this, doubling per receive up
    /// to `recovery_retry_cap`: quick, since until it is applied the next refresh of that
    /// integration would present a spent refresh token.
    pub recovery_retry_base: Duration,
    pub recovery_retry_cap: Duration,
}

impl Default for RefreshTuning {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(25),
            recovery_grace: Duration::from_secs(60),
            write_reserve: Duration::from_secs(6),
            provider_attempt: PROVIDER_TIMEOUT,
            write_attempt: Duration::from_secs(2),
            provider_retry: Backoff {
                attempts: 4,
                base: Duration::from_millis(250),
                cap: Duration::from_secs(4),
            },
            retry_after_cap: Duration::from_secs(10),
            write_retry: Backoff {
                attempts: 6,
                base: Duration::from_millis(100),
                cap: Duration::from_secs(2),
            },
            wait_poll_cap: Duration::from_millis(500),
            manual_refresh_window_secs: 60,
            request_budget: Duration::from_secs(27),
            queue_retry_base: Duration::from_secs(20),
            queue_retry_cap: Duration::from_secs(300),
            recovery_retry_base: Duration::from_secs(1),
            recovery_retry_cap: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct SyncTuning {
    /// Time kept free for one more page and its commit; with less left, the worker hands the
    /// job on in a continuation message and stops cleanly.
    pub page_reserve: Duration,
    pub provider_retry: Backoff,
    /// A longer `Retry-After` than this sends the message back to the queue instead.
    pub retry_after_cap: Duration,
    /// A job queued or running for longer than this no longer blocks a new one.
    pub stale_job_secs: i64,
}

impl Default for SyncTuning {
    fn default() -> Self {
        Self {
            page_reserve: Duration::from_secs(20),
            provider_retry: Backoff {
                attempts: 4,
                base: Duration::from_millis(500),
                cap: Duration::from_secs(8),
            },
            retry_after_cap: Duration::from_secs(30),
            stale_job_secs: 3600,
        }
    }
}
