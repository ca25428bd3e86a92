//! Per-caller rate limits: each route's limit class (`routes::LimitClass`) gives every caller (the user, the backend
//! principal, or for the public callback the source IP) a budget per fixed window
//! (`RATE_LIMITS`). `handlers::serve` asks before a handler runs, answers 429 `RATE_LIMITED`
//! once the budget is spent, and puts the `RateLimit-*` headers on every answer of a limited
//! route.
//!
//! A fixed window, counted by one conditional `UpdateItem` and no read: a sliding window or GCRA
//! needs the stored value to compute the next one (a read, or a retry loop on conflicts), and
//! DynamoDB's update expressions have no `max`. The price is the burst at a window's edge: up
//! to twice the limit in a short span across two windows, once; per caller, with the numbers
//! below the gateway's own throttles, that is acceptable.
//!
//! When the counter cannot be written, the request is admitted (fail open) with a warning.
//! The limits protect cost and fairness, not secrets (authentication and the state's MAC do
//! that): failing closed would turn a throttled or unreachable counter into an outage of every
//! route, and the gateway's route throttles still bound the total.

use std::time::Duration;

use lambda_http::http::{HeaderMap, HeaderName, HeaderValue};

use crate::app::App;
use crate::clock::now_epoch;
use crate::config::Budget;
use crate::error::ApiError;
use crate::http::ApiRequest;
use crate::routes::{Auth, Function, route_of};
use crate::store::RateWindow;

/// Where a caller stands in its current window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window ends and the budget is whole again.
    pub reset_secs: u32,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Not a limited route, no caller to count, or the counter unavailable.
    Unlimited,
    Admitted(Quota),
    Refused(Quota),
}

pub const LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

impl Admission {
    /// The 429 to answer instead of running the handler.
    pub fn refusal(&self) -> Option<ApiError> {
        match self {
            Self::Refused(quota) => Some(ApiError::RateLimited {
                retry_after: Duration::from_secs(quota.reset_secs.into()),
            }),
            _ => None,
        }
    }

    /// `RateLimit-Limit`, `-Remaining` and `-Reset` (IETF httpapi ratelimit-headers draft).
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        if let Self::Admitted(quota) | Self::Refused(quota) = self {
            headers.insert(LIMIT, HeaderValue::from(quota.limit));
            headers.insert(REMAINING, HeaderValue::from(quota.remaining));
            headers.insert(RESET, HeaderValue::from(quota.reset_secs));
        }
    }
}

/// Counts `req` against its caller's budget for the route `function` serves.
pub async fn admit(app: &App, function: Function, req: &ApiRequest) -> Admission {
    let Some(route) = route_of(function, req.method.as_str()) else {
        return Admission::Unlimited;
    };
    let Some(class) = route.limit else {
        return Admission::Unlimited;
    };
    // No caller: the handler refuses the request itself (401), or the gateway gave no source.
    let Some(caller) = caller_of(route.auth, req) else {
        return Admission::Unlimited;
    };
    let budget = app.settings.rate_limits.budget(class);
    let window = window_at(now_epoch(), budget);
    let counted = app
        .rate_counters()
        .count(&RateWindow {
            class: class.name(),
            caller,
            start: window.start,
            limit: budget.limit,
            expires_at: window.end + 60,
        })
        .await;
    let quota = |remaining| Quota {
        limit: budget.limit,
        remaining,
        reset_secs: window.reset_secs,
    };
    match counted {
        Ok(Some(count)) => Admission::Admitted(quota(budget.limit.saturating_sub(count))),
        Ok(None) => {
            tracing::info!(class = class.name(), "rate limit reached");
            app.metrics.rate_limited(class.name());
            Admission::Refused(quota(0))
        }
        Err(e) => {
            tracing::warn!(
                class = class.name(),
                error = %e,
                "rate limiter unavailable; request admitted"
            );
            app.metrics.rate_limiter_unavailable();
            Admission::Unlimited
        }
    }
}

/// Whose budget a request spends: the route's authenticated caller, or for a public route the
/// source IP API Gateway saw.
fn caller_of(auth: Auth, req: &ApiRequest) -> Option<&str> {
    let caller = match auth {
        Auth::User => req.claims.as_ref().and_then(|c| c.get("sub")),
        Auth::Backend => req.backend_principal.as_ref(),
        Auth::Public => req.source_ip.as_ref(),
    };
    caller.map(String::as_str).filter(|c| !c.is_empty())
}

#[derive(Debug, PartialEq, Eq)]
struct Window {
    start: i64,
    end: i64,
    reset_secs: u32,
}

/// The fixed window holding `now`: windows start at multiples of their length.
fn window_at(now: i64, budget: Budget) -> Window {
    let length = i64::from(budget.window_secs.max(1));
    let start = now - now.rem_euclid(length);
    Window {
        start,
        end: start + length,
        reset_secs: u32::try_from(start + length - now).unwrap_or(budget.window_secs),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_starts_at_a_multiple_of_its_length_and_resets_when_it_ends() {
        let budget = Budget {
            limit: 10,
            window_secs: 60,
        };
        assert_eq!(
            window_at(1_800_000_017, budget),
            Window {
                start: 1_800_000_000,
                end: 1_800_000_060,
                reset_secs: 43
            }
        );
        // The first second of a window has its whole length left.
        assert_eq!(window_at(1_800_000_000, budget).reset_secs, 60);
    }
}
