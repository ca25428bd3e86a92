//! Talking to providers: authorization URL, code exchange, refresh, userinfo and revocation, in
//! each provider's dialect as its catalogue entry describes it, over one shared reqwest client
//! (no redirects followed: a token endpoint that redirects is an error, not something to chase
//! with credentials).
//!
//! The `oauth2` crate supplies PKCE. Its token client does not carry the token endpoint: its
//! `StandardTokenResponse` needs a top-level token, a `token_type` and a numeric `expires_in`, and
//! the catalogue's providers break each (Slack's `authed_user`, Instagram's `data[0]` without a
//! type, string lifetimes, HTTP 200 errors), and it sends `client_id` where TikTok wants
//! `client_key`. `wire.rs` reads answers wherever the entry says the token is.

mod lifecycle;
mod token_set;
pub mod wire;

pub use lifecycle::Renewal;
pub use token_set::TokenSet;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::body::{BodyError, SMALL_ANSWER_LIMIT, read_capped};
use crate::catalogue::{
    ClientCredentials, EndpointSource, Endpoints, Provider, RefreshModel, RevocationStyle,
    RevokedTokens,
};
use crate::config::PROVIDER_TIMEOUT;
use crate::metrics::Metrics;
use crate::retry::parse_retry_after;
use crate::secrets::{SecretCache, SecretError};

#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The provider answered with an OAuth error (`invalid_grant`, `access_denied`…).
    #[error("provider refused: {error}")]
    Rejected { error: String },
    #[error("provider unreachable or failing: {0}")]
    Unavailable(String),
    /// The provider answered 429 or 5xx: busy, try later (after `retry_after` when it said so).
    #[error("provider answered {status}")]
    Busy {
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("unexpected provider response: {0}")]
    BadResponse(String),
    #[error("provider misconfigured: {0}")]
    Config(String),
    /// The client credentials could not be read (crate::secrets).
    #[error(transparent)]
    Secrets(#[from] SecretError),
}

impl ProviderError {
    /// Worth another attempt: unreachable, timed out, or busy.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Busy { .. } => true,
            Self::Secrets(e) => e.is_transient(),
            _ => false,
        }
    }

    /// How long the provider asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// What the authorization URL step hands back: the URL for the browser and the verifier to keep.
pub struct AuthorizationStart {
    pub url: Url,
    pub pkce_verifier: Option<SecretString>,
}

/// The provider account behind a token, from its userinfo endpoint.
#[derive(Debug, Clone)]
pub struct ProviderAccount {
    pub external_account_id: String,
    pub email: Option<String>,
    pub display_name: Option<String>,
    /// The account's picture: an absolute http(s) URL of at most [`MAX_AVATAR_URL`] bytes.
    pub avatar_url: Option<String>,
}

/// The longest picture URL kept; longer ones are dropped (they are not worth a row's space).
pub const MAX_AVATAR_URL: usize = 2_048;

pub struct OAuthHttp {
    /// Built at the first provider call, not at cold start: most requests of the token route
    /// (a fresh token) and every request of several functions never call a provider.
    http: std::sync::OnceLock<reqwest::Client>,
    /// Where each provider's client credentials are read from, at first use.
    secrets: Arc<SecretCache>,
    /// Provider errors are counted here (`ProviderErrors`).
    metrics: Metrics,
}

/// A provider's HTTP answer that was neither a transport failure nor 429/5xx.
struct Answer {
    status: reqwest::StatusCode,
    content_type: Option<String>,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Option<serde_json::Value> {
        wire::answer_body(self.content_type.as_deref(), &self.body)
    }
}

impl OAuthHttp {
    /// The shared client (no redirects, bounded timeouts), for provider APIs beyond OAuth;
    /// built on first use. Building fails only where TLS cannot be set up at all.
    pub fn http(&self) -> Result<&reqwest::Client, ProviderError> {
        if let Some(client) = self.http.get() {
            return Ok(client);
        }
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .user_agent(concat!("oauth-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        Ok(self.http.get_or_init(|| client))
    }

    pub fn new(secrets: Arc<SecretCache>) -> Self {
        Self {
            http: std::sync::OnceLock::new(),
            secrets,
            metrics: Metrics::off(),
        }
    }

    pub fn set_metrics(&mut self, metrics: Metrics) {
        self.metrics = metrics;
    }

    /// Counts a provider's error answer: its status, or `network` when none came.
    pub fn count_error(&self, provider: &Provider, status: Option<u16>) {
        let status = status.map_or("network".to_string(), |s| s.to_string());
        self.metrics.provider_error(provider.id.as_str(), &status);
    }

    /// The provider's endpoints: from its entry, or from its discovery document (fetched once
    /// per container; a failed fetch is tried again by the next caller).
    pub async fn endpoints(&self, provider: &Provider) -> Result<Arc<Endpoints>, ProviderError> {
        match &provider.endpoints {
            EndpointSource::Static(endpoints) => Ok(endpoints.clone()),
            EndpointSource::Unavailable(why) => Err(ProviderError::Config(format!(
                "{} is not configured: {why}",
                provider.id
            ))),
            EndpointSource::Discovery(discovery) => discovery
                .resolved
                .get_or_try_init(|| async {
                    let answer = self
                        .send(provider, self.http()?.get(discovery.document_url.clone()))
                        .await?;
                    let document = answer
                        .json()
                        .filter(|_| answer.status.is_success())
                        .ok_or_else(|| {
                            ProviderError::Unavailable(format!(
                                "discovery document answered {}",
                                answer.status
                            ))
                        })?;
                    let endpoints = Endpoints::from_discovery(&discovery.overrides, &document)
                        .map_err(|why| ProviderError::Config(format!("discovery: {why}")))?;
                    tracing::info!(provider = provider.id.as_str(), "discovery document read");
                    Ok(Arc::new(endpoints))
                })
                .await
                .cloned(),
        }
    }

    async fn credentials(&self, provider: &Provider) -> Result<ClientCredentials, ProviderError> {
        let secret = provider.credentials_secret.as_deref().ok_or_else(|| {
            ProviderError::Config(format!("{} has no client credentials", provider.id))
        })?;
        Ok(self.secrets.client_credentials(secret).await?)
    }

    /// Sends with the provider's own headers; 429/5xx become [`ProviderError::Busy`] with their
    /// `Retry-After`, transport failures [`ProviderError::Unavailable`].
    async fn send(
        &self,
        provider: &Provider,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, ProviderError> {
        let mut request = request
            .build()
            .map_err(|e| ProviderError::Config(without_url(e)))?;
        // The entry's headers for every request (Reddit's User-Agent), unless this request
        // set its own (a userinfo header is the more specific).
        for (name, value) in header_map(&provider.http_headers) {
            if let Some(name) = name
                && !request.headers().contains_key(&name)
            {
                request.headers_mut().insert(name, value);
            }
        }
        let response = self.http()?.execute(request).await.map_err(|e| {
            self.count_error(provider, None);
            ProviderError::Unavailable(crate::report::error_chain(&e.without_url()))
        })?;
        let status = response.status();
        if status.is_client_error() || status.is_server_error() {
            self.count_error(provider, Some(status.as_u16()));
        }
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            return Err(ProviderError::Busy {
                status: status.as_u16(),
                retry_after: response
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, SystemTime::now())),
            });
        }
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = read_capped(response, SMALL_ANSWER_LIMIT)
            .await
            .map_err(|e| match e {
                BodyError::TooLarge { .. } => ProviderError::BadResponse(e.to_string()),
                BodyError::Read(why) => ProviderError::Unavailable(why),
            })?;
        Ok(Answer {
            status,
            content_type,
            body,
        })
    }

    /// The authorization URL with our `state`, scopes, the provider's extra parameters and PKCE.
    pub async fn authorization_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        state: &str,
        scopes: &[String],
    ) -> Result<AuthorizationStart, ProviderError> {
        let credentials = self.credentials(provider).await?;
        let endpoints = self.endpoints(provider).await?;
        let (url, pkce_verifier) = wire::authorization_url(
            provider,
            &endpoints,
            &credentials.client_id,
            redirect_uri,
            state,
            scopes,
        );
        Ok(AuthorizationStart { url, pkce_verifier })
    }

    /// One token endpoint request, its answer read at `path`.
    async fn token_endpoint(
        &self,
        provider: &Provider,
        grant: wire::Grant<'_>,
        paths: &[String],
        now: i64,
    ) -> Result<TokenSet, ProviderError> {
        let credentials = self.credentials(provider).await?;
        let endpoints = self.endpoints(provider).await?;
        let request = wire::token_request(provider, &endpoints, &credentials, grant);
        let answer = self.send(provider, self.prepared(request)?).await?;
        self.read_token_answer(provider, &answer, paths, now)
    }

    fn read_token_answer(
        &self,
        provider: &Provider,
        answer: &Answer,
        paths: &[String],
        now: i64,
    ) -> Result<TokenSet, ProviderError> {
        let Some(body) = answer.json() else {
            // Not an OAuth answer at all. A 4xx is still a refusal (retrying will not change
            // it); a 2xx with an HTML page is typically a proxy's, and may pass.
            if answer.status.is_client_error() {
                return Err(wire::refusal(
                    provider,
                    answer.status.as_u16(),
                    format!("http_{}", answer.status.as_u16()),
                ));
            }
            return Err(ProviderError::Unavailable(format!(
                "unreadable token answer (HTTP {})",
                answer.status
            )));
        };
        if !answer.status.is_success() {
            let code = wire::answer_error(provider, &body)
                .unwrap_or_else(|| format!("http_{}", answer.status.as_u16()));
            return Err(wire::refusal(provider, answer.status.as_u16(), code));
        }
        wire::token_set(provider, &body, paths, now)
    }

    /// Redeems the authorization code (RFC 6749 §4.1.3) and, for `long_lived` providers,
    /// exchanges the short-lived token for the long-lived one straight away (Instagram's short
    /// token lasts an hour and cannot be refreshed).
    pub async fn exchange_code(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        code: &str,
        verifier: Option<&SecretString>,
        now: i64,
    ) -> Result<TokenSet, ProviderError> {
        let grant = wire::Grant::Code {
            code,
            redirect_uri,
            verifier,
        };
        let short = self
            .token_endpoint(provider, grant, &provider.token_response.code_path, now)
            .await?;
        match (&provider.refresh, &provider.long_lived) {
            (RefreshModel::LongLived, Some(long_lived)) => {
                let credentials = self.credentials(provider).await?;
                let request = self.http()?.get(long_lived.exchange_url.clone()).query(&[
                    ("grant_type", long_lived.exchange_grant_type.as_str()),
                    ("client_secret", credentials.client_secret.expose_secret()),
                    ("access_token", short.access_token.expose_secret()),
                ]);
                let answer = self.send(provider, request).await?;
                let mut long = self.read_token_answer(provider, &answer, &top_level(), now)?;
                if long.scopes.is_empty() {
                    long.scopes = short.scopes;
                }
                Ok(long)
            }
            _ => Ok(short),
        }
    }

    /// New tokens for `current`, by the provider's refresh model: RFC 6749 §6 with the refresh
    /// token, or a GET with the access token (`long_lived`). Callers check
    /// [`Provider::renewal`] first. A response without a refresh token leaves `refresh_token`
    /// None: the caller keeps the one it has.
    pub async fn refresh(
        &self,
        provider: &Provider,
        current: &TokenSet,
        now: i64,
    ) -> Result<TokenSet, ProviderError> {
        match (&provider.refresh, &provider.long_lived) {
            (RefreshModel::LongLived, Some(long_lived)) => {
                let request = self.http()?.get(long_lived.refresh_url.clone()).query(&[
                    ("grant_type", long_lived.refresh_grant_type.as_str()),
                    ("access_token", current.access_token.expose_secret()),
                ]);
                let answer = self.send(provider, request).await?;
                self.read_token_answer(provider, &answer, &top_level(), now)
            }
            (RefreshModel::None, _) => Err(ProviderError::Config(format!(
                "{} tokens are not refreshable",
                provider.id
            ))),
            _ => {
                let refresh_token = current.refresh_token.as_ref().ok_or_else(|| {
                    ProviderError::Config("no refresh token to refresh with".into())
                })?;
                let grant = wire::Grant::Refresh { refresh_token };
                self.token_endpoint(provider, grant, &provider.token_response.refresh_path, now)
                    .await
            }
        }
    }

    pub async fn fetch_account(
        &self,
        provider: &Provider,
        access_token: &SecretString,
    ) -> Result<ProviderAccount, ProviderError> {
        let endpoints = self.endpoints(provider).await?;
        let request = self.prepared(wire::userinfo_request(provider, &endpoints, access_token))?;
        let answer = self.send(provider, request).await?;
        let body = answer.json();
        let error = body.as_ref().and_then(|b| wire::answer_error(provider, b));
        if !answer.status.is_success() || error.is_some() {
            let code = error.unwrap_or_else(|| format!("userinfo answered {}", answer.status));
            return Err(wire::refusal(provider, answer.status.as_u16(), code));
        }
        let body = body.ok_or_else(|| ProviderError::BadResponse("userinfo is not JSON".into()))?;
        account_from_userinfo(provider, &body)
    }

    /// Ends the grant at the provider, in its style. Ok(false) when it has no revocation.
    pub async fn revoke(
        &self,
        provider: &Provider,
        tokens: &TokenSet,
    ) -> Result<bool, ProviderError> {
        let endpoints = self.endpoints(provider).await?;
        let Some(revocation) = &endpoints.revocation else {
            return Ok(false);
        };
        let credentials = self.credentials(provider).await?;
        // Revoking by the access token alone (Zoom, Slack, TikTok) needs a live one: an expired
        // token may be refused, or reported "invalid" while the grant lives on. Renew it first
        // when the provider can (a rotating refresh token is spent either way).
        let access_only = revocation.style != RevocationStyle::Rfc7009
            || revocation.tokens == RevokedTokens::Access;
        let now = crate::clock::now_epoch();
        let renewed = match tokens.expires_at {
            Some(at)
                if access_only
                    && at <= now + 60
                    && provider.renewal(tokens, now) == Renewal::Possible =>
            {
                match self.refresh(provider, tokens, now).await {
                    Ok(fresh) => Some(fresh),
                    Err(e) => {
                        tracing::warn!(provider = provider.id.as_str(), error = %e, "could not renew the access token to revoke with; trying the stored one");
                        None
                    }
                }
            }
            _ => None,
        };
        let tokens = renewed.as_ref().unwrap_or(tokens);
        let requests =
            wire::revocation_requests(provider, &endpoints, revocation, &credentials, tokens)
                .map_err(|e| ProviderError::Config(format!("revocation url: {e}")))?;
        // Each is tried even if one fails (a refresh token's revocation failing must not keep
        // the access token alive); the first failure is reported.
        let mut outcome = Ok(());
        for request in requests {
            let result = match self.send(provider, self.prepared(request)?).await {
                Ok(answer) => self.revocation_answer(provider, answer),
                Err(e) => Err(e),
            };
            outcome = outcome.and(result);
        }
        outcome.map(|()| true)
    }

    /// A [`wire::ProviderRequest`] as a reqwest request.
    fn prepared(
        &self,
        request: wire::ProviderRequest,
    ) -> Result<reqwest::RequestBuilder, ProviderError> {
        let builder = self
            .http()?
            .request(request.method, request.url)
            .headers(header_map(&request.headers));
        Ok(match request.body {
            wire::RequestBody::None => builder,
            wire::RequestBody::Form(form) => builder.form(&form),
            wire::RequestBody::Json(json) => builder.json(&json),
        })
    }

    fn revocation_answer(&self, provider: &Provider, answer: Answer) -> Result<(), ProviderError> {
        let body = answer.json();
        let error = body.as_ref().and_then(|b| wire::answer_error(provider, b));
        // RFC 7009 §2.2: an already invalid token is not a failure; nor is a grant already gone.
        let gone = |e: &str| matches!(e, "invalid_token" | "invalid_grant" | "token_revoked");
        match error {
            Some(e) if gone(&e) => Ok(()),
            Some(error) => Err(wire::refusal(provider, answer.status.as_u16(), error)),
            None if answer.status.is_success()
                || answer.status == reqwest::StatusCode::NOT_FOUND =>
            {
                Ok(())
            }
            None => Err(ProviderError::Rejected {
                error: format!("revocation answered {}", answer.status),
            }),
        }
    }
}

pub fn account_from_userinfo(
    provider: &Provider,
    body: &serde_json::Value,
) -> Result<ProviderAccount, ProviderError> {
    let text = |pointer: &str| -> Option<String> {
        match body.pointer(pointer)? {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    };
    let first = |pointers: &[String]| pointers.iter().find_map(|p| text(p));
    let external_account_id = first(&provider.userinfo.id).ok_or_else(|| {
        ProviderError::BadResponse(format!(
            "userinfo has no account id at {:?}",
            provider.userinfo.id
        ))
    })?;
    Ok(ProviderAccount {
        external_account_id,
        email: first(&provider.userinfo.email),
        display_name: first(&provider.userinfo.name),
        avatar_url: first(&provider.userinfo.avatar).filter(|url| is_picture_url(url)),
    })
}

/// Whether a provider's picture URL is one an app can put in an `<img src>` as it is: an
/// absolute http(s) URL (never `javascript:` or `data:`), not overlong.
fn is_picture_url(text: &str) -> bool {
    text.len() <= MAX_AVATAR_URL
        && Url::parse(text).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
}

/// The answer's top level, where long-lived exchanges and renewals put the token.
fn top_level() -> [String; 1] {
    [String::new()]
}

/// Headers from the catalogue or a [`wire::ProviderRequest`] (names and values checked when
/// the catalogue was loaded; a later duplicate name replaces the earlier).
fn header_map(headers: &[(String, String)]) -> reqwest::header::HeaderMap {
    let mut map = reqwest::header::HeaderMap::new();
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            reqwest::header::HeaderName::from_bytes(name.as_bytes()),
            reqwest::header::HeaderValue::from_str(value),
        ) {
            map.insert(name, value);
        }
    }
    map
}

/// reqwest errors print the URL; ours may carry a token in the query (Instagram), so never.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}
