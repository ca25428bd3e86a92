//! The integration resource: `list-integrations` (GET /integrations), `get-integration`
//! (GET /integrations/{id}), `update-integration` (PATCH /integrations/{id}, sync settings) and
//! `disconnect` (DELETE /integrations/{id}).

use serde::Deserialize;

use super::sync::{SyncTypeName, check_sync_types};
use super::{audit_entry, owned_integration, owned_row};
use crate::app::App;
use crate::catalogue::{DefaultSync, Provider};
use crate::clock::now_epoch;
use crate::crypto::Envelope;
use crate::crypto::SealPurpose;
use crate::domain::{
    AuditEvent, Integration, IntegrationStatus, IntegrationView, Metadata, SyncFrequency,
    SyncSettings, SyncType,
};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::oauth::TokenSet;
use crate::publish::AppEvent;
use crate::store::IntegrationChanges;

/// GET /integrations: the caller's integrations (never their tokens).
pub async fn list(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let integrations = app.integrations().list(&caller.user_id).await?;
    // A disconnected integration is gone from the API (its history stays in the audit trail).
    let views: Vec<IntegrationView> = integrations
        .iter()
        .filter(|i| i.status != IntegrationStatus::Disconnected)
        .map(IntegrationView::from)
        .collect();
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "integrations": views }),
    ))
}

/// GET /integrations/{id}: one of the caller's integrations; another user's is simply not found.
pub async fn get(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let integration = owned_integration(app, req).await?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "integration": IntegrationView::from(&integration) }),
    ))
}

/// DELETE /integrations/{id}: remove the tokens and mark the integration disconnected in one
/// conditional write, then revoke the removed tokens at the provider (best effort, reported as
/// `revoked`). The write removes whatever tokens the row holds by then, so exactly those are
/// revoked, and a refresh completing meanwhile does not make it fail.
pub async fn disconnect(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let integration = owned_row(app, req).await?.ok_or(ApiError::NotFound)?;
    // Again: the same answer, so that a client may retry a DELETE it saw no answer to.
    if integration.status == IntegrationStatus::Disconnected {
        return Ok(ApiResponse::ok(
            &req.request_id,
            serde_json::json!({ "disconnected": true, "revoked": false }),
        ));
    }
    let removed = app.integrations().mark_disconnected(&integration).await?;
    let revoked = match (removed, app.catalogue.get(integration.provider.as_str())) {
        (Some(envelope), Some(provider)) => {
            revoke_removed(app, &integration, provider, &envelope).await
        }
        _ => false,
    };
    let entry = audit_entry(
        req,
        AuditEvent::IntegrationDisconnected,
        Some(&integration.user_id),
    );
    let reason = if revoked { "revoked" } else { "not_revoked" };
    app.audit(entry.integration(&integration).reason(reason))
        .await;
    app.publish(AppEvent::disconnected(&integration)).await;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "disconnected": true, "revoked": revoked }),
    ))
}

/// Opens the removed envelope and revokes its tokens; false (logged) when either step fails.
async fn revoke_removed(
    app: &App,
    integration: &Integration,
    provider: &Provider,
    envelope: &Envelope,
) -> bool {
    let id = integration.id.as_str();
    let row = integration.token_row();
    let plain = match app.cipher.open(SealPurpose::TokenSet, &row, envelope).await {
        Ok(plain) => plain,
        Err(e) => {
            tracing::error!(integration_id = id, error = %e, "removed token envelope does not open; not revoked");
            return false;
        }
    };
    let Ok(tokens) = TokenSet::from_plaintext(&plain) else {
        tracing::error!(
            integration_id = id,
            "sealed token set is malformed; not revoked"
        );
        return false;
    };
    match app.oauth.revoke(provider, &tokens).await {
        Ok(done) => done,
        Err(e) => {
            tracing::warn!(integration_id = id, error = %e, "revocation at the provider failed");
            false
        }
    }
}

/// PATCH's body: either field or both; a field left out stays as it is. `null` is refused for
/// both, as the schema says, rather than read as "left out".
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    #[serde(default, deserialize_with = "crate::http::present")]
    sync_settings: Option<SettingsBody>,
    #[serde(default, deserialize_with = "crate::http::present")]
    metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsBody {
    enabled: bool,
    sync_types: Vec<SyncTypeName>,
    frequency: SyncFrequency,
}

/// PATCH /integrations/{id}: sync settings (enabling schedules the first sync now) and the
/// caller's metadata, in one write that leaves a refresh in flight alone.
pub async fn update(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body: UpdateBody = req.json_body()?;
    let settings = match body.sync_settings {
        Some(s) => Some(SyncSettings {
            enabled: s.enabled,
            sync_types: check_sync_types(&s.sync_types)?,
            frequency: s.frequency,
        }),
        None => None,
    };
    let metadata = body
        .metadata
        .map(Metadata::capped)
        .transpose()
        .map_err(ApiError::Validation)?;
    if settings.is_none() && metadata.is_none() {
        return Err(ApiError::Validation(
            "nothing to change: send syncSettings, metadata or both".into(),
        ));
    }
    let integration = owned_integration(app, req).await?;
    let changes = IntegrationChanges {
        sync: settings.as_ref().map(|s| (s, s.enabled.then(now_epoch))),
        metadata: metadata.as_ref(),
    };
    let updated = app
        .integrations()
        .save_changes(&integration, &changes)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict if changes.sync.is_some() => ApiError::Conflict(
                "the integration is not connected, or changed meanwhile; try again".into(),
            ),
            crate::store::StoreError::Conflict => ApiError::NotFound,
            other => other.into(),
        })?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "integration": IntegrationView::from(&updated) }),
    ))
}

/// A first connect of an account (its row is new: token version 1) under an entry whose
/// calendar has a `default_sync` schedule starts with that schedule, its first sync due now.
/// Any other connect keeps the settings the row has. A failure to save them leaves the
/// connection as it is, with sync off (logged): the tokens are what must not be lost.
pub(super) async fn start_default_sync(
    app: &App,
    provider: &Provider,
    saved: Integration,
) -> Integration {
    let frequency = match provider.calendar.as_ref().map(|c| c.default_sync) {
        Some(DefaultSync::Hourly) => SyncFrequency::Hourly,
        Some(DefaultSync::Daily) => SyncFrequency::Daily,
        Some(DefaultSync::Off) | None => return saved,
    };
    if saved.token_version != 1 {
        return saved;
    }
    let settings = SyncSettings {
        enabled: true,
        sync_types: vec![SyncType::Calendar],
        frequency,
    };
    let changes = IntegrationChanges {
        sync: Some((&settings, Some(now_epoch()))),
        metadata: None,
    };
    match app.integrations().save_changes(&saved, &changes).await {
        Ok(updated) => updated,
        Err(e) => {
            tracing::warn!(integration_id = saved.id.as_str(), error = %e, "default sync settings not saved; sync stays off");
            saved
        }
    }
}
