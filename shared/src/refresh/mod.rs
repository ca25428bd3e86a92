//! The one refresh path. The refresh worker, `POST /integrations/{id}/refresh`, the token route
//! and the connection test all get their tokens here, so one rule holds for every caller: at most
//! one refresh of an integration is in flight, whatever the race.
//!
//! Why it matters: providers that rotate refresh tokens (OAuth 2.1, and our local server) kill
//! the old refresh token on every refresh and revoke the whole grant when it is presented again.
//! Two overlapping refreshes therefore end the user's connection. The protocol:
//! 1. read the integration (one consistent GetItem); fresh enough for the caller → done;
//! 2. take the lease by a conditional write on the version just read (free or expired lease);
//!    lost the race → read again: the winner's tokens are what we want;
//! 3. call the token endpoint (bounded retries, full jitter, `Retry-After` honoured up to a cap),
//!    within a budget that ends well before the lease does;
//! 4. write the new envelope, expiry and refresh-index keys fenced on (lease owner, version),
//!    retrying the write: tokens the provider has issued are never dropped while the store can
//!    still take them;
//! 5. a caller that finds the lease held waits for the holder's result instead of refreshing.

use std::time::Duration;

use tokio::time::Instant;

use crate::app::App;
use crate::catalogue::Provider;
use crate::clock::{now_epoch, now_epoch_ms};
use crate::crypto::{CryptoError, Envelope, SealPurpose};
use crate::domain::{
    AuditEntry, AuditEvent, Integration, IntegrationError, IntegrationStatus, RequestOrigin,
};
use crate::ids::{IntegrationId, UserId};
use crate::oauth::Renewal;
use crate::oauth::{ProviderError, TokenSet};
use crate::publish::AppEvent;
use crate::store::{RefreshLease, StoreError};

mod recovery;
mod steps;

pub use recovery::{Recovery, recover};
use recovery::{queue_for_recovery, superseded};
use steps::{call_token_endpoint, store_refreshed};

/// When a caller wants new tokens rather than the stored ones.
#[derive(Debug, Clone, Copy)]
pub enum RefreshPolicy {
    /// When the access token expires within this many seconds (worker, token route, test).
    IfExpiringWithin(i64),
    /// Unless a refresh finished less than this many seconds ago (manual refresh): repeated
    /// clicks and concurrent callers share one refresh instead of each rotating the grant.
    UnlessRefreshedWithin(i64),
}

impl RefreshPolicy {
    /// `lead`: how long before expiry the provider's renewal is due (Instagram: days).
    fn wants_refresh(self, integration: &Integration, lead: i64, now: i64) -> bool {
        match self {
            Self::IfExpiringWithin(margin) => integration
                .expires_at
                .is_some_and(|at| at - lead <= now + margin),
            Self::UnlessRefreshedWithin(window) => {
                integration.refreshed_at.is_none_or(|at| at + window <= now)
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    #[error("integration not found")]
    NotFound,
    #[error("integration is {}", .0.as_str())]
    NotConnected(IntegrationStatus),
    /// The provider refused the refresh token (`invalid_grant`): the integration is now `expired`.
    #[error("the provider revoked the grant")]
    GrantRevoked,
    #[error("provider unavailable: {source}")]
    ProviderUnavailable {
        #[source]
        source: ProviderError,
    },
    /// Any other refusal (`invalid_client`, `unauthorized_client`…): configuration, not luck.
    #[error("provider refused the refresh: {0}")]
    ProviderRejected(String),
    /// The integration names a provider this deployment has no (configured) entry for.
    #[error("provider `{0}` is not configured")]
    ProviderNotConfigured(String),
    /// Another caller's refresh did not finish within our budget.
    #[error("another refresh of this integration is still running")]
    LeaseBusy,
    /// Too little time left before the caller's deadline to see a refresh through.
    #[error("not enough time left to refresh safely")]
    NoTimeLeft,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("the sealed token set is malformed")]
    Malformed,
}

impl RefreshError {
    /// Worth another try later (the message back to the queue, 503 to an API caller).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Self::ProviderUnavailable { .. }
                | Self::LeaseBusy
                | Self::NoTimeLeft
                | Self::Store(StoreError::Service(_))
                | Self::Crypto(CryptoError::KeyService(_))
        )
    }
}

/// An integration with usable tokens.
pub struct FreshTokens {
    pub integration: Integration,
    pub tokens: TokenSet,
    /// This call refreshed them (rather than finding them fresh, or another caller's result).
    pub refreshed: bool,
}

/// The integration's tokens, refreshed first if `policy` asks for it, by at most one caller at a
/// time. Gives up with [`RefreshError::LeaseBusy`] rather than take a lease it could not see
/// through before `deadline` (a function killed mid-refresh could lose rotated tokens).
pub async fn fresh_tokens(
    app: &App,
    user: &UserId,
    id: &IntegrationId,
    policy: RefreshPolicy,
    origin: &RequestOrigin,
    deadline: Instant,
) -> Result<FreshTokens, RefreshError> {
    let tuning = &app.refresh_tuning;
    let mut poll = Duration::from_millis(25);
    // The version whose lease we saw held: if that lease ends without new tokens, its holder
    // failed, and we report its failure rather than hammer the provider again.
    let mut waited_on: Option<u64> = None;
    // Another caller held or took the lease: fresh tokens found after that are its result.
    let mut contended = false;
    loop {
        let (integration, envelope) = app
            .integrations()
            .get_with_tokens(user, id)
            .await?
            .ok_or(RefreshError::NotFound)?;
        if integration.status != IntegrationStatus::Connected {
            return Err(RefreshError::NotConnected(integration.status));
        }
        let envelope = envelope.ok_or(RefreshError::Malformed)?;
        // The lease's clock, here and in the store, starts before the acquire is sent: time the
        // acquire itself takes is already the lease's.
        let (now_ms, lease_start) = (now_epoch_ms(), Instant::now());
        let lead = app
            .catalogue
            .get(integration.provider.as_str())
            .map_or(0, Provider::renew_lead_secs);
        if !policy.wants_refresh(&integration, lead, now_ms / 1000) {
            let tokens = open_tokens(app, &integration, &envelope).await?;
            if contended {
                // Wanted a refresh, and another caller's did it.
                app.metrics
                    .refresh(integration.provider.as_str(), "reused", None);
            }
            return Ok(FreshTokens {
                integration,
                tokens,
                refreshed: false,
            });
        }
        let lease_held = integration
            .lease_until_ms
            .is_some_and(|until| until >= now_ms);
        if !lease_held {
            if waited_on == Some(integration.token_version)
                && let Some(error) = integration
                    .last_error
                    .as_ref()
                    .filter(|e| is_refresh_failure(Some(e)))
            {
                return Err(RefreshError::ProviderUnavailable {
                    source: ProviderError::Unavailable(format!(
                        "the concurrent refresh failed: {}",
                        error.code
                    )),
                });
            }
            if Instant::now() + tuning.lease > deadline {
                return Err(RefreshError::NoTimeLeft);
            }
            let lease = RefreshLease {
                owner: crate::ids::random_id(),
                // Stored longer than this caller works under it: a holder whose write failed
                // leaves the lease standing for the recovery grace, so nobody presents the
                // refresh token it just spent before `token-recovery` stores the new one.
                until_ms: now_ms + (tuning.lease + tuning.recovery_grace).as_millis() as i64,
            };
            if app.leases().acquire(&integration, &lease, now_ms).await? {
                let lease_end = lease_start + tuning.lease;
                let provider = integration.provider.clone();
                let started = Instant::now();
                let result =
                    refresh_under_lease(app, integration, &envelope, lease, lease_end, origin)
                        .await;
                let outcome = match &result {
                    Ok(fresh) if fresh.refreshed => "refreshed",
                    Ok(_) => "reused",
                    Err(RefreshError::GrantRevoked) => "expired",
                    Err(_) => "failed",
                };
                app.metrics
                    .refresh(provider.as_str(), outcome, Some(started.elapsed()));
                return result;
            }
            contended = true;
            // Another caller got there first, or the row changed: read it again (after a short
            // pause, and never past the deadline, whatever keeps the condition from holding).
            if Instant::now() + poll > deadline {
                return Err(RefreshError::LeaseBusy);
            }
            tokio::time::sleep(poll / 5).await;
            continue;
        }
        waited_on = Some(integration.token_version);
        contended = true;
        if Instant::now() + poll > deadline {
            return Err(RefreshError::LeaseBusy);
        }
        tokio::time::sleep(poll).await;
        poll = (poll * 2).min(tuning.wait_poll_cap);
    }
}

pub(super) async fn open_tokens(
    app: &App,
    integration: &Integration,
    envelope: &Envelope,
) -> Result<TokenSet, RefreshError> {
    let plain = app
        .cipher
        .open(SealPurpose::TokenSet, &integration.token_row(), envelope)
        .await?;
    TokenSet::from_plaintext(&plain).map_err(|_| RefreshError::Malformed)
}

/// Steps 3 and 4, holding the lease taken on `integration.token_version` until `lease_end`.
/// Each step starts only if it can end before the lease does: past it another caller may take
/// the lease and present the refresh token the provider just rotated.
async fn refresh_under_lease(
    app: &App,
    integration: Integration,
    envelope: &Envelope,
    lease: RefreshLease,
    lease_end: Instant,
    origin: &RequestOrigin,
) -> Result<FreshTokens, RefreshError> {
    let current = match open_tokens(app, &integration, envelope).await {
        Ok(tokens) => tokens,
        Err(e) => {
            release_quietly(app, &integration, &lease, None).await;
            return Err(e);
        }
    };
    let provider = match app
        .catalogue
        .get(integration.provider.as_str())
        .filter(|p| p.is_configured())
    {
        Some(p) => p,
        None => {
            release_quietly(app, &integration, &lease, None).await;
            return Err(RefreshError::ProviderNotConfigured(
                integration.provider.to_string(),
            ));
        }
    };
    if provider.renewal(&current, now_epoch()) == Renewal::NotPossible {
        // Nothing to renew with (or not yet: Instagram renews only tokens 24 h old). Still
        // valid: use it; expired: only a new connection helps.
        if current.expires_at.is_some_and(|at| at <= now_epoch()) {
            let error = integration_error(
                "no_refresh_token",
                "the access token expired and the provider issued no refresh token",
            );
            app.leases().expire(&integration, &lease, &error).await?;
            audit(
                app,
                &integration,
                origin,
                AuditEvent::TokenRefreshFailed,
                Some("no_refresh_token"),
            )
            .await;
            app.publish(AppEvent::expired(&integration, "no_refresh_token"))
                .await;
            return Err(RefreshError::GrantRevoked);
        }
        release_quietly(app, &integration, &lease, None).await;
        return Ok(FreshTokens {
            integration,
            tokens: current,
            refreshed: false,
        });
    }

    let tuning = &app.refresh_tuning;
    let provider_deadline = lease_end - tuning.write_reserve;
    let id = integration.id.as_str();
    if Instant::now() + tuning.provider_attempt > provider_deadline {
        // The acquire (or the read of the tokens) took most of the lease: too late to start.
        tracing::warn!(
            integration_id = id,
            "lease too short to call the provider; released"
        );
        release_quietly(app, &integration, &lease, None).await;
        return Err(RefreshError::NoTimeLeft);
    }
    match call_token_endpoint(app, provider, &current, id, provider_deadline).await {
        Ok(mut tokens) => {
            // RFC 6749 §6: a response without a refresh token leaves the old one valid.
            if tokens.refresh_token.is_none() {
                tokens.refresh_token = current.refresh_token.clone();
            }
            if tokens.scopes.is_empty() {
                tokens.scopes = current.scopes;
            }
            let mut sealed = None;
            let stored = store_refreshed(
                app,
                provider,
                &integration,
                &lease,
                &tokens,
                lease_end,
                &mut sealed,
            )
            .await;
            match stored {
                Ok(updated) => {
                    tracing::info!(integration_id = id, "token refreshed");
                    audit(app, &integration, origin, AuditEvent::TokenRefreshed, None).await;
                    Ok(FreshTokens {
                        integration: updated,
                        tokens,
                        refreshed: true,
                    })
                }
                Err(RefreshError::Store(StoreError::Conflict)) => {
                    release_quietly(app, &integration, &lease, None).await;
                    superseded(
                        app,
                        provider,
                        &integration,
                        &tokens,
                        sealed.as_ref(),
                        origin,
                    )
                    .await
                }
                Err(e) => {
                    // The provider has issued tokens we could not store, and where it rotates
                    // refresh tokens the stored one is now spent: the sealed tokens go to the
                    // recovery queue, whose consumer applies them once the store answers.
                    tracing::error!(integration_id = id, error = %crate::report::error_chain(&e), "refreshed tokens could not be stored");
                    let queued = match &sealed {
                        Some(envelope) => {
                            queue_for_recovery(app, provider, &integration, &tokens, envelope).await
                        }
                        None => false,
                    };
                    let reason = if queued {
                        "store_write_failed_recovery_queued"
                    } else {
                        "store_write_failed"
                    };
                    audit(
                        app,
                        &integration,
                        origin,
                        AuditEvent::TokenRefreshFailed,
                        Some(reason),
                    )
                    .await;
                    Err(e)
                }
            }
        }
        Err(e) if provider.grant_is_dead(&e) => {
            let error = integration_error(
                "TOKEN_EXPIRED",
                "the provider no longer accepts the refresh token (invalid_grant); connect again",
            );
            app.leases().expire(&integration, &lease, &error).await?;
            tracing::warn!(
                integration_id = id,
                "refresh refused with invalid_grant: integration expired"
            );
            audit(
                app,
                &integration,
                origin,
                AuditEvent::TokenRefreshFailed,
                Some("invalid_grant"),
            )
            .await;
            app.publish(AppEvent::expired(&integration, "invalid_grant"))
                .await;
            Err(RefreshError::GrantRevoked)
        }
        Err(e) => {
            let transient = e.is_transient();
            let code = match &e {
                ProviderError::Rejected { error } => error.clone(),
                // The provider was never asked: our secret store failed.
                ProviderError::Secrets(_) => "secrets_unavailable".to_string(),
                _ => "provider_unavailable".to_string(),
            };
            let error = integration_error(REFRESH_FAILURE, &format!("refresh failed: {code}"));
            release_quietly(app, &integration, &lease, Some(&error)).await;
            tracing::warn!(integration_id = id, error = %e, transient, "refresh failed");
            audit(
                app,
                &integration,
                origin,
                AuditEvent::TokenRefreshFailed,
                Some(&code),
            )
            .await;
            app.publish(AppEvent::refresh_failed(&integration, &code, transient))
                .await;
            if transient {
                Err(RefreshError::ProviderUnavailable { source: e })
            } else {
                Err(RefreshError::ProviderRejected(code))
            }
        }
    }
}

pub(super) async fn audit(
    app: &App,
    integration: &Integration,
    origin: &RequestOrigin,
    event: AuditEvent,
    reason: Option<&str>,
) {
    let mut entry =
        AuditEntry::new(event, Some(&integration.user_id), origin).integration(integration);
    entry.reason = reason.map(str::to_string);
    app.audit(entry).await
}

/// The code a failed refresh records as `lastError` (a sync's failures have their own codes).
const REFRESH_FAILURE: &str = "TOKEN_REFRESH_ERROR";

pub(super) fn is_refresh_failure(error: Option<&IntegrationError>) -> bool {
    error.is_some_and(|e| e.code == REFRESH_FAILURE)
}

fn integration_error(code: &str, message: &str) -> IntegrationError {
    IntegrationError {
        code: code.into(),
        message: message.into(),
        at: Some(crate::clock::now_rfc3339()),
    }
}

/// Releases the lease; a failure only delays the next refresh until the lease expires.
pub(super) async fn release_quietly(
    app: &App,
    integration: &Integration,
    lease: &RefreshLease,
    error: Option<&IntegrationError>,
) {
    if let Err(e) = app.leases().release(integration, lease, error).await {
        tracing::warn!(integration_id = integration.id.as_str(), error = %e, "lease not released; it expires by itself");
    }
}

/// Marks the integration `expired` outside a refresh (a provider API rejected a token we had
/// just refreshed), under the same lease and fence as a refresh. Ok(false): it is no longer
/// connected, or a refresh holds it (that refresh decides).
pub async fn expire(
    app: &App,
    user: &UserId,
    id: &IntegrationId,
    error: &IntegrationError,
    origin: &RequestOrigin,
) -> Result<bool, RefreshError> {
    let Some(integration) = app.integrations().get(user, id).await? else {
        return Ok(false);
    };
    let now_ms = now_epoch_ms();
    let lease = RefreshLease {
        owner: crate::ids::random_id(),
        until_ms: now_ms + app.refresh_tuning.lease.as_millis() as i64,
    };
    if !app.leases().acquire(&integration, &lease, now_ms).await? {
        return Ok(false);
    }
    app.leases().expire(&integration, &lease, error).await?;
    audit(
        app,
        &integration,
        origin,
        AuditEvent::TokenRefreshFailed,
        Some("token_rejected"),
    )
    .await;
    app.publish(AppEvent::expired(&integration, "token_rejected"))
        .await;
    Ok(true)
}
