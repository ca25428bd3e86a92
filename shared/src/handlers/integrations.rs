use super::{audit_entry, parse_integration_id};
use crate::app::App;
use crate::crypto::{RowBinding, SealPurpose};
use crate::domain::{AuditEvent, IntegrationStatus, IntegrationView};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::oauth::TokenSet;
use crate::store::StoreError;

/// GET /integrations: the caller's integrations (never their tokens).
pub async fn list(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let integrations = app.integrations.list(&caller.user_id).await?;
    let views: Vec<IntegrationView> = integrations.iter().map(IntegrationView::from).collect();
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "integrations": views }),
    ))
}

/// GET /integrations/{id}: one of the caller's integrations; another user's is simply not found.
pub async fn get(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let id = parse_integration_id(req)?;
    let integration = app
        .integrations
        .get(&caller.user_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "integration": IntegrationView::from(&integration) }),
    ))
}

/// DELETE /integrations/{id}: revoke at the provider (best effort, reported as `revoked`), then
/// delete the tokens and mark the integration disconnected.
pub async fn disconnect(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let id = parse_integration_id(req)?;
    let (integration, envelope) = app
        .integrations
        .get_with_tokens(&caller.user_id, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if integration.status == IntegrationStatus::Disconnected {
        return Ok(ApiResponse::ok(
            &req.request_id,
            serde_json::json!({ "disconnected": true, "revoked": false }),
        ));
    }
    let mut revoked = false;
    if let (Some(envelope), Some(provider)) =
        (envelope, app.catalogue.get(integration.provider.as_str()))
    {
        let row = RowBinding {
            user_id: caller.user_id.as_str(),
            record_id: id.as_str(),
            provider: provider.id.as_str(),
        };
        match app
            .cipher
            .open(SealPurpose::TokenSet, &row, &envelope)
            .await
        {
            Ok(plain) => match TokenSet::from_plaintext(&plain) {
                Ok(tokens) => match app.oauth.revoke(provider, &tokens).await {
                    Ok(done) => revoked = done,
                    Err(e) => {
                        tracing::warn!(integration_id = id.as_str(), error = %e, "revocation at the provider failed")
                    }
                },
                Err(_) => tracing::error!(
                    integration_id = id.as_str(),
                    "sealed token set is malformed"
                ),
            },
            // The tokens are deleted below either way; this row's envelope is not its own.
            Err(e) => {
                tracing::error!(integration_id = id.as_str(), error = %e, "token envelope does not open")
            }
        }
    }
    let disconnected = match app.integrations.mark_disconnected(&integration).await {
        Ok(i) => i,
        Err(StoreError::Conflict) => {
            return Err(ApiError::Conflict(
                "the integration changed during disconnect; try again".into(),
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let mut entry = audit_entry(
        req,
        AuditEvent::IntegrationDisconnected,
        Some(&caller.user_id),
    );
    entry.provider = Some(disconnected.provider.to_string());
    entry.integration_id = Some(id.to_string());
    entry.reason = Some(if revoked { "revoked" } else { "not_revoked" }.into());
    app.audit(entry).await;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "disconnected": true, "revoked": revoked }),
    ))
}
