//! The functions that hand out or renew tokens through the one refresh path: `refresh` (POST
//! /integrations/{id}/refresh), `token` (the backend's GET /users/{userId}/integrations/{id}/token)
//! and `test-connection` (POST /integrations/{id}/test).

use std::time::Instant as StdInstant;

use serde::Serialize;
use tokio::time::Instant;

use super::{naming_provider, parse_integration_id};
use crate::app::App;
use crate::domain::{AuditEntry, AuditEvent, IntegrationView, epoch_to_rfc3339};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::ids::UserId;
use crate::refresh::{RefreshPolicy, fresh_tokens};

/// The caller's integration of the path, through the one refresh path with `policy`, within
/// the request's budget.
async fn callers_tokens(
    app: &App,
    req: &ApiRequest,
    policy: RefreshPolicy,
) -> Result<crate::refresh::FreshTokens, ApiError> {
    let caller = req.caller()?;
    let id = parse_integration_id(req)?;
    let deadline = Instant::now() + app.refresh_tuning.request_budget;
    match fresh_tokens(app, &caller.user_id, &id, policy, &req.origin(), deadline).await {
        Ok(fresh) => Ok(fresh),
        Err(e) => Err(naming_provider(app, &caller.user_id, &id, e.into()).await),
    }
}

/// POST /integrations/{id}/refresh: new tokens now, unless a refresh finished within the last
/// minute (then that one's result), so repeated or concurrent clicks rotate the grant once.
pub async fn refresh(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let policy =
        RefreshPolicy::UnlessRefreshedWithin(app.refresh_tuning.manual_refresh_window_secs);
    let fresh = callers_tokens(app, req, policy).await?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "integration": IntegrationView::from(&fresh.integration) }),
    ))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenView<'a> {
    access_token: &'a str,
    token_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
    scopes: &'a [String],
}

/// GET /users/{userId}/integrations/{id}/token, for the application's backend (IAM-authorized):
/// a valid access token, refreshed first when it expires within the margin. On a fresh token
/// this is one GetItem and, with the data key cached, no KMS call.
pub async fn token(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let backend = req.backend()?;
    if !app.settings.backend_allowed(backend) {
        return Err(ApiError::Forbidden(
            "this principal may not use the token route (BACKEND_PRINCIPAL_ARNS)".into(),
        ));
    }
    let user = UserId::parse(req.path_param("userId")?)
        .map_err(|e| ApiError::Validation(e.to_string()))?;
    let id = parse_integration_id(req)?;
    let policy = RefreshPolicy::IfExpiringWithin(app.settings.refresh_margin_secs);
    let deadline = Instant::now() + app.refresh_tuning.request_budget;
    let fresh = match fresh_tokens(app, &user, &id, policy, &req.origin(), deadline).await {
        Ok(fresh) => fresh,
        Err(e) => return Err(naming_provider(app, &user, &id, e.into()).await),
    };
    tracing::info!(
        integration_id = id.as_str(),
        backend,
        refreshed = fresh.refreshed,
        "access token handed out"
    );
    let mut entry = AuditEntry::new(AuditEvent::TokenIssued, Some(&user), &req.origin())
        .integration(&fresh.integration);
    entry.principal = Some(backend.to_string());
    app.audit(entry).await;
    use secrecy::ExposeSecret;
    let view = TokenView {
        access_token: fresh.tokens.access_token.expose_secret(),
        token_type: &fresh.tokens.token_type,
        expires_at: fresh.tokens.expires_at.and_then(epoch_to_rfc3339),
        scopes: &fresh.tokens.scopes,
    };
    Ok(ApiResponse::ok(&req.request_id, view))
}

/// POST /integrations/{id}/test: the provider's userinfo with a fresh token. `ok: false` with
/// the reason when the provider refuses or fails; refresh failures are errors as elsewhere.
pub async fn test_connection(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let policy = RefreshPolicy::IfExpiringWithin(app.settings.refresh_margin_secs);
    let fresh = callers_tokens(app, req, policy).await?;
    let id = &fresh.integration.id;
    let provider = app
        .catalogue
        .get(fresh.integration.provider.as_str())
        .ok_or_else(|| ApiError::InvalidProvider(fresh.integration.provider.to_string()))?;
    let started = StdInstant::now();
    let result = app
        .oauth
        .fetch_account(provider, &fresh.tokens.access_token)
        .await;
    let latency_ms = started.elapsed().as_millis() as u64;
    let data = match result {
        Ok(_) => serde_json::json!({ "ok": true, "latencyMs": latency_ms }),
        Err(e) => {
            tracing::info!(integration_id = id.as_str(), error = %e, "connection test failed");
            let error = ApiError::from(e);
            serde_json::json!({ "ok": false, "latencyMs": latency_ms, "error": error.code() })
        }
    };
    Ok(ApiResponse::ok(&req.request_id, data))
}
