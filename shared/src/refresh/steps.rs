//! The two steps under the lease: the provider call, retried while the provider is busy and
//! an attempt still fits, and the fenced write, retried while the store fails and an attempt
//! still fits before the lease ends.

use tokio::time::Instant;

use super::{RefreshError, is_refresh_failure};
use crate::app::App;
use crate::catalogue::Provider;
use crate::clock::now_epoch;
use crate::crypto::{Envelope, SealPurpose};
use crate::domain::Integration;
use crate::oauth::{ProviderError, TokenSet};
use crate::store::{RefreshLease, RefreshedTokens, StoreError};

/// The token endpoint, retried while it is unreachable or busy and time remains before
/// `deadline` for another whole attempt.
pub(super) async fn call_token_endpoint(
    app: &App,
    provider: &Provider,
    current: &TokenSet,
    integration_id: &str,
    deadline: Instant,
) -> Result<TokenSet, ProviderError> {
    let tuning = &app.refresh_tuning;
    let mut attempt = 0;
    loop {
        let result = app.oauth.refresh(provider, current, now_epoch()).await;
        let error = match result {
            Err(e) if e.is_transient() && attempt + 1 < tuning.provider_retry.attempts => e,
            other => return other,
        };
        let delay = match error.retry_after() {
            Some(asked) if asked > tuning.retry_after_cap => return Err(error),
            Some(asked) => asked,
            None => tuning.provider_retry.delay(attempt),
        };
        if Instant::now() + delay + tuning.provider_attempt > deadline {
            return Err(error);
        }
        tracing::info!(
            integration_id,
            attempt,
            delay_ms = delay.as_millis() as u64,
            error = %error,
            "token endpoint busy; retrying"
        );
        tokio::time::sleep(delay).await;
        attempt += 1;
    }
}

/// Seals the new tokens (once, into `sealed`) and writes them under the lease, retrying while
/// the store or the key service fails and the lease still has time for it (past it, the write
/// would be fenced out).
pub(super) async fn store_refreshed(
    app: &App,
    provider: &Provider,
    integration: &Integration,
    lease: &RefreshLease,
    tokens: &TokenSet,
    lease_end: Instant,
    sealed: &mut Option<Envelope>,
) -> Result<Integration, RefreshError> {
    let retry = app.refresh_tuning.write_retry;
    let attempt_limit = app.refresh_tuning.write_attempt;
    let mut attempt = 0;
    loop {
        if Instant::now() + attempt_limit > lease_end {
            return Err(RefreshError::NoTimeLeft);
        }
        // An attempt that outlasts its limit may still land; a retry is then fenced out (the
        // token version moved) and `superseded` finds these tokens stored.
        let result = tokio::time::timeout(attempt_limit, async {
            let envelope = match &*sealed {
                Some(e) => e.clone(),
                None => {
                    let e = app
                        .cipher
                        .seal(
                            SealPurpose::TokenSet,
                            &integration.token_row(),
                            &tokens.to_plaintext(),
                        )
                        .await?;
                    *sealed = Some(e.clone());
                    e
                }
            };
            let refreshed = RefreshedTokens {
                envelope: &envelope,
                expires_at: tokens.expires_at,
                refresh_at: provider.refresh_at(tokens),
                refreshed_at: now_epoch(),
                clear_error: is_refresh_failure(integration.last_error.as_ref()),
            };
            Ok::<_, RefreshError>(app.leases().complete(integration, lease, refreshed).await?)
        })
        .await
        .unwrap_or_else(|_| {
            Err(RefreshError::Store(StoreError::Service(
                "the write attempt timed out".into(),
            )))
        });
        let delay = retry.delay(attempt);
        match result {
            Err(e)
                if e.is_transient()
                    && attempt + 1 < retry.attempts
                    && Instant::now() + delay + attempt_limit <= lease_end =>
            {
                tracing::warn!(integration_id = integration.id.as_str(), attempt, error = %e, "storing refreshed tokens failed; retrying");
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}
