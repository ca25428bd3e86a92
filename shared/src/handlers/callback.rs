//! The `callback` function: the provider's redirect (`GET /providers/{provider}/callback`, from
//! the browser) and the app's completion (`POST`, with the user's JWT). The exchange of the code
//! and the save of the new integration are here too.

use lambda_http::http::{Method, StatusCode};
use secrecy::SecretString;
use serde::Deserialize;

use super::audit_entry;
use super::connect::configured_provider;
use super::integrations::start_default_sync;
use crate::app::App;
use crate::catalogue::{Endpoints, Provider};
use crate::clock::{now_epoch, now_rfc3339};
use crate::config::CallbackCompletion;
use crate::crypto::SealPurpose;
use crate::domain::{
    AuditEvent, Integration, IntegrationStatus, IntegrationView, Metadata, PendingAuthorization,
    SyncSettings, token_row, verifier_row,
};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse, log_failure};
use crate::ids::{IntegrationId, UserId};
use crate::oauth::TokenSet;
use crate::publish::AppEvent;
use crate::state::StateId;
use crate::store::StateClaim;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CallbackBody {
    code: String,
    state: String,
    /// RFC 9207 `iss` from the authorization response, when the app received one.
    #[serde(default, deserialize_with = "crate::http::present")]
    iss: Option<String>,
}

/// The `callback` function's handler: one function serves both callback routes.
pub async fn serve(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    if req.method == Method::GET {
        from_browser(app, req).await
    } else {
        from_app(app, req).await
    }
}

/// GET /providers/{provider}/callback: the provider's redirect. The state authenticates it; once
/// it has, every outcome goes back to the app (its returnTo, or the popup page), not as JSON.
///
/// With `CALLBACK_COMPLETION=app` the code is not exchanged here but handed to the app, which
/// completes through the POST callback with its user's JWT: only the user who started the flow
/// can then redeem it, so a victim lured into consenting on someone else's authorization URL
/// cannot have their account attached to that someone (RFC 9700 §4.7, account-linking CSRF).
pub async fn from_browser(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let provider = configured_provider(app, req)?;
    let state = req
        .query_param("state")
        .ok_or_else(|| ApiError::Validation("missing query parameter `state`".into()))?;
    let answer = ProviderAnswer {
        code: req.query_param("code"),
        error: req.query_param("error"),
        issuer: req.query_param("iss"),
    };
    if app.settings.callback_completion == CallbackCompletion::App {
        return hand_to_app(app, req, provider, state, answer).await;
    }
    let pending = consume_state(app, req, provider, state, None).await?;
    let outcome = complete(app, req, provider, &pending, answer).await;
    Ok(answer_browser(app, &pending, outcome, &req.request_id))
}

/// `CALLBACK_COMPLETION=app`: checks the state without consuming it, then gives the app the
/// code, state and iss to POST back with its user's JWT. A refused answer (provider error,
/// wrong issuer) ends the authorization here, as in direct completion.
async fn hand_to_app(
    app: &App,
    req: &ApiRequest,
    provider: &Provider,
    state: &str,
    answer: ProviderAnswer<'_>,
) -> Result<ApiResponse, ApiError> {
    let id = verify_state(app, req, provider, state, None).await?;
    let pending = match app.states().peek_pending(&id).await? {
        Some(p) if p.provider == provider.id && p.expires_at >= now_epoch() => p,
        Some(_) => return Err(refuse_state(app, req, provider, None, "expired").await),
        None => return Err(refuse_state(app, req, provider, None, "unknown_or_used").await),
    };
    let endpoints = app
        .oauth
        .endpoints(provider)
        .await
        .map_err(|e| ApiError::from(e).at_provider(&provider.id))?;
    let code = match check_answer(&endpoints, &answer) {
        Ok(code) => code,
        Err(_) => {
            let claim = StateClaim {
                provider: &provider.id,
                user: Some(&pending.user_id),
            };
            app.states().take_pending(&id, claim).await?;
            let outcome = complete(app, req, provider, &pending, answer).await;
            return Ok(answer_browser(app, &pending, outcome, &req.request_id));
        }
    };
    let mut message = serde_json::json!({
        "type": "oauth-code",
        "provider": provider.id.as_str(),
        "code": code,
        "state": state,
        "correlationId": req.request_id,
    });
    if let Some(iss) = answer.issuer {
        message["iss"] = iss.into();
    }
    let mut pairs = vec![("status", "authorized"), ("code", code), ("state", state)];
    if let Some(iss) = answer.issuer {
        pairs.push(("iss", iss));
    }
    // In the fragment: a browser never sends it, so the code and state stay out of the app
    // servers' access logs and analytics (RFC 9700 §4.2.4: credentials in URLs leak).
    Ok(to_app(
        app,
        &pending,
        &Back::Fragment(&pairs),
        StatusCode::OK,
        &message,
    ))
}

/// POST /providers/{provider}/callback: the SPA variant; the state must belong to the caller.
pub async fn from_app(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let body: CallbackBody = req.json_body()?;
    let provider = configured_provider(app, req)?;
    // Refused before the state is touched: a page that lost the code can still retry.
    if body.code.trim().is_empty() {
        return Err(ApiError::Validation("`code` must not be empty".into()));
    }
    let pending = consume_state(app, req, provider, &body.state, Some(&caller.user_id)).await?;
    let answer = ProviderAnswer {
        code: Some(&body.code),
        error: None,
        issuer: body.iss.as_deref(),
    };
    let integration = complete(app, req, provider, &pending, answer)
        .await
        .map_err(|e| e.at_provider(&provider.id))?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "integration": IntegrationView::from(&integration) }),
    ))
}

/// Audits a refused state as `invalid_state_detected` and returns INVALID_STATE.
async fn refuse_state(
    app: &App,
    req: &ApiRequest,
    provider: &Provider,
    caller: Option<&UserId>,
    reason: &'static str,
) -> ApiError {
    tracing::warn!(
        reason,
        provider = provider.id.as_str(),
        "invalid OAuth state"
    );
    let entry = audit_entry(req, AuditEvent::InvalidStateDetected, caller);
    app.audit(entry.provider(&provider.id).reason(reason)).await;
    ApiError::InvalidState
}

/// The state's MAC, provider and expiry, checked before any database read.
async fn verify_state(
    app: &App,
    req: &ApiRequest,
    provider: &Provider,
    state: &str,
    caller: Option<&UserId>,
) -> Result<StateId, ApiError> {
    match app
        .state_key()
        .await?
        .verify(state, &provider.id, now_epoch())
    {
        Ok(id) => Ok(id),
        Err(why) => Err(refuse_state(app, req, provider, caller, why.reason()).await),
    }
}

/// Verifies the state, then consumes its row (single use, bound to the user on the POST
/// variant). Every refusal is audited as `invalid_state_detected`.
async fn consume_state(
    app: &App,
    req: &ApiRequest,
    provider: &Provider,
    state: &str,
    caller: Option<&UserId>,
) -> Result<PendingAuthorization, ApiError> {
    let id = verify_state(app, req, provider, state, caller).await?;
    let claim = StateClaim {
        provider: &provider.id,
        user: caller,
    };
    let refuse = |reason| refuse_state(app, req, provider, caller, reason);
    match app.states().take_pending(&id, claim).await? {
        None if caller.is_some() => {
            // Maybe another user's state: burned, so a code and state that leaked (an app's
            // logs, a lured victim's browser) can never be redeemed afterwards, by anyone.
            let any_user = StateClaim {
                provider: &provider.id,
                user: None,
            };
            let reason = match app.states().take_pending(&id, any_user).await? {
                Some(_) => "other_user_burned",
                None => "unknown_or_used",
            };
            Err(refuse(reason).await)
        }
        None => Err(refuse("unknown_or_used").await),
        // DynamoDB's TTL deletes lazily: the row's own expiry is what counts.
        Some(p) if p.expires_at < now_epoch() => Err(refuse("expired").await),
        Some(p) => Ok(p),
    }
}

/// What the provider sent back with the state.
struct ProviderAnswer<'a> {
    code: Option<&'a str>,
    error: Option<&'a str>,
    /// RFC 9207 `iss`: which authorization server answered.
    issuer: Option<&'a str>,
}

/// Code exchange, account lookup and the sealed, saved integration; failures audited as `oauth_failed`.
async fn complete(
    app: &App,
    req: &ApiRequest,
    provider: &Provider,
    pending: &PendingAuthorization,
    answer: ProviderAnswer<'_>,
) -> Result<Integration, ApiError> {
    let result = exchange_and_save(app, provider, pending, answer).await;
    match &result {
        Ok(integration) => {
            let entry = audit_entry(req, AuditEvent::OauthCompleted, Some(&pending.user_id));
            app.audit(entry.integration(integration)).await;
            app.publish(AppEvent::connected(integration)).await;
            tracing::info!(
                provider = provider.id.as_str(),
                integration_id = integration.id.as_str(),
                "integration connected"
            );
        }
        Err(e) => {
            let entry = audit_entry(req, AuditEvent::OauthFailed, Some(&pending.user_id));
            let reason = e.code().to_ascii_lowercase();
            app.audit(entry.provider(&provider.id).reason(reason)).await;
        }
    }
    result
}

async fn exchange_and_save(
    app: &App,
    provider: &Provider,
    pending: &PendingAuthorization,
    answer: ProviderAnswer<'_>,
) -> Result<Integration, ApiError> {
    let endpoints = app.oauth.endpoints(provider).await?;
    let code = check_answer(&endpoints, &answer)?;
    let verifier = match &pending.pkce_verifier {
        Some(sealed) => {
            let row = verifier_row(&pending.user_id, &pending.state_id, &provider.id);
            let plain = app
                .cipher
                .open(SealPurpose::PkceVerifier, &row, sealed)
                .await?;
            let text = String::from_utf8(plain.to_vec()).map_err(|_| {
                ApiError::Internal(crate::error::boxed::Source::new(
                    crate::crypto::CryptoError::Malformed("verifier"),
                ))
            })?;
            Some(SecretString::from(text))
        }
        None => None,
    };
    let now = now_epoch();
    let mut tokens: TokenSet = app
        .oauth
        .exchange_code(
            provider,
            &pending.redirect_uri,
            code,
            verifier.as_ref(),
            now,
        )
        .await?;
    if tokens.scopes.is_empty() {
        tokens.scopes = pending.scopes.clone();
    }
    let account = app
        .oauth
        .fetch_account(provider, &tokens.access_token)
        .await?;
    let id = IntegrationId::derive(&pending.user_id, &provider.id, &account.external_account_id);
    let row = token_row(&pending.user_id, &id, &provider.id);
    let sealed = app
        .cipher
        .seal(SealPurpose::TokenSet, &row, &tokens.to_plaintext())
        .await?;
    let timestamp = now_rfc3339();
    let integration = Integration {
        id,
        user_id: pending.user_id.clone(),
        provider: provider.id.clone(),
        status: IntegrationStatus::Connected,
        external_account_id: account.external_account_id,
        display_name: account.display_name,
        email: account.email,
        avatar_url: account.avatar_url,
        scopes: tokens.scopes.clone(),
        sync_settings: SyncSettings::default(),
        metadata: Metadata::default(),
        last_sync_at: None,
        last_error: None,
        expires_at: tokens.expires_at,
        created_at: timestamp.clone(),
        updated_at: timestamp,
        token_version: 0,
        refreshed_at: None,
        lease_until_ms: None,
        calendar_cursor: None,
        active_sync_job: None,
        contacts_cursor: None,
        active_contacts_job: None,
    };
    let refresh_at = provider.refresh_at(&tokens);
    let saved = app
        .integrations()
        .save_connected(&integration, &sealed, refresh_at)
        .await?;
    Ok(start_default_sync(app, provider, saved).await)
}

/// The code, if the answer is one to redeem: from the expected issuer, not an error, present.
fn check_answer<'a>(
    endpoints: &Endpoints,
    answer: &ProviderAnswer<'a>,
) -> Result<&'a str, ApiError> {
    // Mix-up defence (RFC 9207 §2.4, RFC 9700 §4.4): an answer naming another authorization
    // server than this state's, or none where the server always names itself, is refused
    // before its code goes anywhere.
    let issuer_ok = match (&endpoints.issuer, answer.issuer) {
        (Some(expected), Some(actual)) => {
            expected.as_str().trim_end_matches('/') == actual.trim_end_matches('/')
        }
        (Some(_), None) => !endpoints.authorization_response_iss,
        (None, _) => true,
    };
    if !issuer_ok {
        return Err(ApiError::OAuthCallback("issuer_mismatch".into()));
    }
    if let Some(error) = answer.error {
        // Only the RFC 6749 error code, reduced to a safe token: it ends up in a redirect URL.
        let error: String = error
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
            .take(64)
            .collect();
        return Err(ApiError::OAuthCallback(error));
    }
    let code = answer
        .code
        .filter(|c| c.len() <= 4096)
        .ok_or_else(|| ApiError::Validation("missing or oversized `code`".into()))?;
    Ok(code)
}

/// The outcome of a direct completion, for the app.
fn answer_browser(
    app: &App,
    pending: &PendingAuthorization,
    outcome: Result<Integration, ApiError>,
    request_id: &str,
) -> ApiResponse {
    match &outcome {
        Ok(i) => {
            let message = serde_json::json!({"type": "oauth-success", "provider": i.provider.as_str(), "integrationId": i.id.as_str(), "correlationId": request_id});
            let pairs = [("status", "connected"), ("integrationId", i.id.as_str())];
            to_app(app, pending, &Back::Query(&pairs), StatusCode::OK, &message)
        }
        Err(e) => {
            log_failure(e);
            let message = serde_json::json!({"type": "oauth-error", "provider": pending.provider.as_str(), "code": e.code(), "message": e.public_message(), "correlationId": request_id});
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST);
            to_app(
                app,
                pending,
                &Back::Query(&[("status", "error"), ("code", e.code())]),
                status,
                &message,
            )
        }
    }
}

/// What a redirect back to the app carries, and where in its URL.
enum Back<'a> {
    /// Outcomes (status, integration id, error code): added to the query.
    Query(&'a [(&'a str, &'a str)]),
    /// The authorization result (code, state, iss): the whole fragment.
    Fragment(&'a [(&'a str, &'a str)]),
}

/// Back to the app: a redirect to its returnTo with `back` added, when that is still on an
/// allowlisted origin (checked again: the allowlist may have changed since connect), else the
/// popup page posting `message` to the opener.
fn to_app(
    app: &App,
    pending: &PendingAuthorization,
    back: &Back<'_>,
    popup_status: StatusCode,
    message: &serde_json::Value,
) -> ApiResponse {
    match pending
        .return_to
        .as_deref()
        .and_then(|r| app.settings.allowed_return_to(r))
    {
        Some(mut url) => {
            match back {
                Back::Query(pairs) => {
                    url.query_pairs_mut().extend_pairs(pairs.iter());
                }
                Back::Fragment(pairs) => {
                    let fragment = url::form_urlencoded::Serializer::new(String::new())
                        .extend_pairs(pairs.iter())
                        .finish();
                    url.set_fragment(Some(&fragment));
                }
            }
            ApiResponse::redirect(url.as_str())
        }
        None => popup_page(popup_status, message, &app.settings.app_origins),
    }
}

/// The popup page's template: `__NONCE__` and `__DATA__` are filled in per answer.
const POPUP_PAGE: &str = include_str!("popup.html");

/// A page that posts `message` to its opener on each allowlisted origin (postMessage drops it
/// unless the opener is on that origin, so nothing reaches a foreign window), then closes.
fn popup_page(status: StatusCode, message: &serde_json::Value, origins: &[String]) -> ApiResponse {
    let mut nonce = [0u8; 16];
    crate::crypto::fill_random(&mut nonce);
    let nonce = crate::ids::hex(&nonce);
    // JSON inside <script>: escaping `<` keeps `</script>` out of it.
    let data = serde_json::json!({"message": message, "origins": origins})
        .to_string()
        .replace('<', "\\u003c");
    let body = POPUP_PAGE
        .replace("__NONCE__", &nonce)
        .replace("__DATA__", &data);
    let csp = format!("default-src 'none'; script-src 'nonce-{nonce}'; frame-ancestors 'none'");
    ApiResponse::html(status, body, &csp)
}

#[cfg(test)]
#[path = "../tests/popup.rs"]
mod tests;
