//! The `connect` function: `POST /providers/{provider}/connect` starts an authorization (state,
//! PKCE) and answers with the provider's authorization URL.

use secrecy::ExposeSecret;
use serde::Deserialize;

use super::audit_entry;
use super::sync::{SyncTypeName, check_sync_types};
use crate::app::App;
use crate::catalogue::Provider;
use crate::clock::now_epoch;
use crate::crypto::SealPurpose;
use crate::domain::{AuditEvent, PendingAuthorization, SyncType, epoch_to_rfc3339, verifier_row};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::ids::ProviderId;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ConnectBody {
    #[serde(default, deserialize_with = "crate::http::present")]
    return_to: Option<String>,
    #[serde(default, deserialize_with = "crate::http::present")]
    scopes: Option<Vec<String>>,
    /// What the app will sync: each type's scopes (the entry's `contacts.scopes`) are asked for.
    #[serde(default, deserialize_with = "crate::http::present")]
    sync_types: Option<Vec<SyncTypeName>>,
}

const MAX_EXTRA_SCOPES: usize = 50;

/// A configured provider by its path id, or INVALID_PROVIDER.
pub(super) fn configured_provider<'a>(
    app: &'a App,
    req: &ApiRequest,
) -> Result<&'a Provider, ApiError> {
    let name = req.path_param("provider")?;
    app.catalogue
        .get(name)
        .filter(|p| p.is_configured())
        .ok_or_else(|| ApiError::InvalidProvider(name.chars().take(64).collect()))
}

/// POST /providers/{provider}/connect: a new state (+PKCE) and the authorization URL.
pub async fn start(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let body: ConnectBody = req.json_body()?;
    let provider = configured_provider(app, req)?;
    let return_to = match &body.return_to {
        Some(raw) => Some(
            app.settings
                .allowed_return_to(raw)
                .ok_or_else(|| {
                    ApiError::Validation(
                        "returnTo must be an absolute URL on an allowed origin".into(),
                    )
                })?
                .to_string(),
        ),
        None => None,
    };
    let sync_types = match &body.sync_types {
        Some(names) => check_sync_types(names)?,
        None => Vec::new(),
    };
    let mut scopes = requested_scopes(provider, body.scopes.as_deref())?;
    for scope in sync_scopes(provider, &sync_types)? {
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }

    let now = now_epoch();
    let expires_at = now + app.settings.state_ttl_secs;
    let issued = app.state_key().await?.issue(&provider.id, expires_at);
    let redirect_uri = redirect_uri(app, req, &provider.id)?;
    let start = app
        .oauth
        .authorization_url(provider, &redirect_uri, &issued.value, &scopes)
        .await
        .map_err(|e| ApiError::from(e).at_provider(&provider.id))?;
    let pkce_verifier = match &start.pkce_verifier {
        Some(verifier) => {
            let row = verifier_row(&caller.user_id, &issued.id, &provider.id);
            Some(
                app.cipher
                    .seal(
                        SealPurpose::PkceVerifier,
                        &row,
                        verifier.expose_secret().as_bytes(),
                    )
                    .await?,
            )
        }
        None => None,
    };
    app.states()
        .put_pending(&PendingAuthorization {
            state_id: issued.id.clone(),
            user_id: caller.user_id.clone(),
            provider: provider.id.clone(),
            redirect_uri,
            return_to,
            scopes,
            pkce_verifier,
            expires_at,
        })
        .await?;
    let entry = audit_entry(req, AuditEvent::OauthInitiated, Some(&caller.user_id));
    app.audit(entry.provider(&provider.id)).await;

    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({
            "authUrl": start.url.as_str(),
            "state": issued.value,
            "expiresAt": epoch_to_rfc3339(expires_at),
        }),
    ))
}

/// The scopes the sync types need beyond the entry's defaults; a type the provider cannot sync
/// is refused.
fn sync_scopes<'a>(
    provider: &'a Provider,
    sync_types: &[SyncType],
) -> Result<Vec<&'a String>, ApiError> {
    let mut scopes = Vec::new();
    for sync_type in sync_types {
        match sync_type {
            SyncType::Calendar if provider.calendar.is_none() => {
                return Err(ApiError::Validation(format!(
                    "{} has no calendar to sync",
                    provider.id
                )));
            }
            // The calendar's read scopes are in every entry's defaults that has one.
            SyncType::Calendar => {}
            SyncType::Contacts => match &provider.contacts {
                Some(contacts) => scopes.extend(&contacts.scopes),
                None => {
                    return Err(ApiError::Validation(format!(
                        "{} has no contacts to sync",
                        provider.id
                    )));
                }
            },
        }
    }
    Ok(scopes)
}

/// The provider's default scopes plus any the app asked for, each a plain scope token.
fn requested_scopes(
    provider: &Provider,
    extra: Option<&[String]>,
) -> Result<Vec<String>, ApiError> {
    let extra = extra.unwrap_or_default();
    if extra.len() > MAX_EXTRA_SCOPES {
        return Err(ApiError::Validation(format!(
            "at most {MAX_EXTRA_SCOPES} scopes"
        )));
    }
    let mut scopes = provider.scopes.clone();
    for scope in extra {
        // RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`.
        let valid = !scope.is_empty()
            && scope.len() <= 256
            && scope
                .bytes()
                .all(|b| b > 0x20 && b < 0x7f && b != b'"' && b != b'\\');
        if !valid {
            return Err(ApiError::Validation(
                "each scope must be a non-empty scope token (RFC 6749 §3.3)".into(),
            ));
        }
        // Providers that join scopes with commas (Slack, TikTok) would read one as two.
        if scope.contains(provider.scope_separator.as_str()) {
            return Err(ApiError::Validation(format!(
                "a {} scope cannot contain `{}`",
                provider.display_name, provider.scope_separator
            )));
        }
        if !scopes.contains(scope) {
            scopes.push(scope.clone());
        }
    }
    Ok(scopes)
}

/// The redirect URI registered with providers: `{base}/providers/{id}/callback`.
fn redirect_uri(app: &App, req: &ApiRequest, provider: &ProviderId) -> Result<String, ApiError> {
    let base = match (&app.settings.public_base_url, &req.domain_name) {
        (Some(url), _) => url.as_str().trim_end_matches('/').to_string(),
        (None, Some(domain)) => format!("https://{domain}"),
        (None, None) => {
            return Err(ApiError::OAuthInit(
                "no PUBLIC_BASE_URL and no API domain to build the redirect URI".into(),
            ));
        }
    };
    Ok(format!("{base}/providers/{provider}/callback"))
}
