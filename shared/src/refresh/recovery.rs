//! When the fenced write cannot land: a refresh superseded by another token write (revoke what
//! it obtained after a disconnect, answer with the newer tokens after a reconnect), and the
//! recovery of tokens a write failed to store through the lease (docs/architecture.md,
//! "Refresh protocol").

use std::time::Duration;

use super::{FreshTokens, RefreshError, audit, open_tokens};
use crate::app::App;
use crate::catalogue::Provider;
use crate::clock::now_epoch;
use crate::crypto::{Envelope, SealPurpose};
use crate::domain::{AuditEvent, Integration, IntegrationStatus, RequestOrigin};
use crate::ids::{IntegrationId, UserId};
use crate::oauth::{ProviderError, TokenSet};
use crate::queue::{SealedEnvelope, TokenRecovery};
use crate::store::{RefreshedTokens, StoreError};

/// The fenced write found that another token write came first. A disconnect: the tokens the
/// provider just issued belong to nobody now, so they are revoked (the disconnect revoked the
/// ones it removed, not these). A reconnect (or a refresh that took over): the newer tokens are
/// the answer. A lost lease (the same token version, another owner): a conflict, as before.
/// How long a refresh that lost to a disconnect waits on revoking what it obtained.
const REVOKE_WITHIN: Duration = Duration::from_secs(3);

pub(super) async fn superseded(
    app: &App,
    provider: &Provider,
    integration: &Integration,
    issued: &TokenSet,
    sealed: Option<&Envelope>,
    origin: &RequestOrigin,
) -> Result<FreshTokens, RefreshError> {
    let id = integration.id.as_str();
    let now = app
        .integrations()
        .get_with_tokens(&integration.user_id, &integration.id)
        .await?;
    match now {
        Some((row, Some(envelope)))
            if row.status == IntegrationStatus::Connected
                && row.token_version > integration.token_version =>
        {
            tracing::info!(
                integration_id = id,
                "refresh superseded by a newer connection"
            );
            let tokens = open_tokens(app, &row, &envelope).await?;
            Ok(FreshTokens {
                integration: row,
                tokens,
                refreshed: false,
            })
        }
        Some((row, _)) if row.status == IntegrationStatus::Connected => {
            // This refresh outlived its lease and another holds it on the same token version,
            // presenting the refresh token just spent: ours are the live ones. Recovery stores
            // them unless a newer token set gets there first (the version decides).
            if let Some(envelope) = sealed {
                queue_for_recovery(app, provider, integration, issued, envelope).await;
            }
            Err(RefreshError::Store(StoreError::Conflict))
        }
        row => {
            let status = row.map_or(IntegrationStatus::Disconnected, |(r, _)| r.status);
            // Bounded: the caller's answer must not wait on a slow revocation endpoint.
            let revoked = tokio::time::timeout(REVOKE_WITHIN, app.oauth.revoke(provider, issued))
                .await
                .unwrap_or_else(|_| Err(ProviderError::Unavailable("revocation timed out".into())));
            tracing::info!(integration_id = id, status = status.as_str(), revoked = ?revoked.as_ref().ok(), "refresh superseded by a disconnect; its tokens revoked");
            let reason = if revoked.is_ok() {
                "superseded_revoked"
            } else {
                "superseded_not_revoked"
            };
            audit(
                app,
                integration,
                origin,
                AuditEvent::TokenRefreshFailed,
                Some(reason),
            )
            .await;
            Err(RefreshError::NotConnected(status))
        }
    }
}

/// Sends tokens the refresh could not store to the recovery queue, sealed as they would have
/// been stored. false: there is no recovery queue here, or it did not take the message.
pub(super) async fn queue_for_recovery(
    app: &App,
    provider: &Provider,
    integration: &Integration,
    tokens: &TokenSet,
    envelope: &Envelope,
) -> bool {
    let Some(queue) = &app.recovery_queue else {
        return false;
    };
    let message = TokenRecovery {
        user_id: integration.user_id.to_string(),
        integration_id: integration.id.to_string(),
        token_version: integration.token_version,
        envelope: SealedEnvelope::from(envelope),
        expires_at: tokens.expires_at,
        refresh_at: provider.refresh_at(tokens),
        refreshed_at: now_epoch(),
    };
    match queue.send_all(&[message.body()]).await {
        Ok(0) => {
            tracing::warn!(
                integration_id = integration.id.as_str(),
                "refreshed tokens queued for recovery"
            );
            app.metrics.token_recovery("queued");
            true
        }
        Ok(_) | Err(_) => {
            tracing::error!(
                integration_id = integration.id.as_str(),
                "refreshed tokens could not be queued for recovery; they are lost"
            );
            app.metrics.token_recovery("lost");
            false
        }
    }
}

/// What became of a recovery message.
#[derive(Debug, PartialEq, Eq)]
pub enum Recovery {
    /// The tokens are stored (audited `token_recovered`).
    Applied,
    /// A newer token set was written meanwhile, or the integration is gone or disconnected (then
    /// the recovered tokens were revoked): nothing to apply.
    Obsolete,
}

/// The token-recovery consumer's step: applies the sealed tokens of `message` if the token
/// version is still the one the failed refresh read.
pub async fn recover(
    app: &App,
    message: &TokenRecovery,
    origin: &RequestOrigin,
) -> Result<Recovery, RefreshError> {
    let (Ok(user), Ok(id), Some(envelope)) = (
        UserId::parse(&message.user_id),
        IntegrationId::parse(&message.integration_id),
        message.envelope.envelope(),
    ) else {
        return Err(RefreshError::Malformed);
    };
    let tokens = RefreshedTokens {
        envelope: &envelope,
        expires_at: message.expires_at,
        refresh_at: message.refresh_at,
        refreshed_at: message.refreshed_at,
        // The failed refresh recorded no error of its own; leave whatever is there.
        clear_error: false,
    };
    if let Some(integration) = app
        .leases()
        .recover(&user, &id, message.token_version, tokens)
        .await?
    {
        tracing::info!(integration_id = id.as_str(), "refreshed tokens recovered");
        audit(app, &integration, origin, AuditEvent::TokenRecovered, None).await;
        return Ok(Recovery::Applied);
    }
    // Not applied. If the integration was disconnected, these tokens are nobody's: revoke them.
    match app.integrations().get(&user, &id).await? {
        Some(row) if row.status == IntegrationStatus::Disconnected => {
            if let Some(provider) = app.catalogue.get(row.provider.as_str()) {
                let plain = app
                    .cipher
                    .open(SealPurpose::TokenSet, &row.token_row(), &envelope)
                    .await?;
                let tokens =
                    TokenSet::from_plaintext(&plain).map_err(|_| RefreshError::Malformed)?;
                let revoked = app.oauth.revoke(provider, &tokens).await;
                tracing::info!(integration_id = id.as_str(), revoked = ?revoked.as_ref().ok(), "recovered tokens of a disconnected integration revoked");
            }
        }
        _ => {
            tracing::info!(
                integration_id = id.as_str(),
                "recovered tokens obsolete: a newer token set is stored"
            );
        }
    }
    Ok(Recovery::Obsolete)
}
