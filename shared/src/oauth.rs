//! Talking to providers: authorization URL (PKCE S256), code exchange, userinfo and revocation,
//! through the `oauth2` crate and one shared reqwest client (no redirects followed: a token
//! endpoint that redirects is an error, not something to chase with credentials).

use std::time::{Duration, SystemTime};

use oauth2::basic::BasicClient;
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, TokenResponse, TokenUrl,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use crate::catalogue::{ClientCredentials, Provider, TokenAuth};

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
}

impl ProviderError {
    pub fn is_invalid_grant(&self) -> bool {
        matches!(self, Self::Rejected { error } if error == "invalid_grant")
    }

    /// Worth another attempt: unreachable, timed out, or busy.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Busy { .. })
    }

    /// How long the provider asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Busy { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The token set sealed in an integration's envelope. Serialized only into the sealed plaintext.
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: String,
    /// Epoch seconds; None for tokens that do not expire.
    pub expires_at: Option<i64>,
    pub scopes: Vec<String>,
}

/// The sealed plaintext's shape (format version 1 of the token envelope).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SealedTokenSet<T> {
    access_token: T,
    #[serde(default)]
    refresh_token: Option<T>,
    token_type: String,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl TokenSet {
    /// Tokens that expire and can be renewed: the ones the refresh index tracks.
    pub fn is_refreshable(&self) -> bool {
        self.refresh_token.is_some() && self.expires_at.is_some()
    }

    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let sealed = SealedTokenSet {
            access_token: self.access_token.expose_secret(),
            refresh_token: self.refresh_token.as_ref().map(|r| r.expose_secret()),
            token_type: self.token_type.clone(),
            expires_at: self.expires_at,
            scopes: self.scopes.clone(),
        };
        // Serializing plain strings and numbers cannot fail.
        Zeroizing::new(serde_json::to_vec(&sealed).unwrap_or_default())
    }

    pub fn from_plaintext(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let sealed: SealedTokenSet<String> = serde_json::from_slice(bytes)?;
        Ok(Self {
            access_token: SecretString::from(sealed.access_token),
            refresh_token: sealed.refresh_token.map(SecretString::from),
            token_type: sealed.token_type,
            expires_at: sealed.expires_at,
            scopes: sealed.scopes,
        })
    }
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
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
}

pub struct OAuthHttp {
    http: reqwest::Client,
}

/// Provider calls give up after this long; part of why API responses stay within Lambda's timeout.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(8);

impl OAuthHttp {
    /// The shared client (no redirects, bounded timeouts), for provider APIs beyond OAuth.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn new() -> Result<Self, ProviderError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(PROVIDER_TIMEOUT)
            .connect_timeout(Duration::from_secs(3))
            .user_agent(concat!("oauth-connector/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ProviderError::Config(e.to_string()))?;
        Ok(Self { http })
    }

    fn client(
        provider: &Provider,
        redirect_uri: Option<&str>,
    ) -> Result<
        BasicClient<
            oauth2::EndpointSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointNotSet,
            oauth2::EndpointSet,
        >,
        ProviderError,
    > {
        let credentials = provider.credentials.as_ref().ok_or_else(|| {
            ProviderError::Config(format!("{} has no client credentials", provider.id))
        })?;
        let mut client = BasicClient::new(ClientId::new(credentials.client_id.clone()))
            .set_client_secret(ClientSecret::new(
                credentials.client_secret.expose_secret().to_string(),
            ))
            .set_auth_uri(AuthUrl::from_url(provider.authorization_url.clone()))
            .set_token_uri(TokenUrl::from_url(provider.token_url.clone()))
            .set_auth_type(match provider.token_auth {
                TokenAuth::Basic => AuthType::BasicAuth,
                TokenAuth::Post => AuthType::RequestBody,
            });
        if let Some(uri) = redirect_uri {
            client = client.set_redirect_uri(
                RedirectUrl::new(uri.to_string())
                    .map_err(|e| ProviderError::Config(e.to_string()))?,
            );
        }
        Ok(client)
    }

    /// The authorization URL with our `state`, scopes, the provider's extra parameters and PKCE.
    pub fn authorization_url(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        state: &str,
        scopes: &[String],
    ) -> Result<AuthorizationStart, ProviderError> {
        let client = Self::client(provider, Some(redirect_uri))?;
        let state = state.to_string();
        let mut request = client
            .authorize_url(move || CsrfToken::new(state))
            .add_scopes(scopes.iter().map(|s| Scope::new(s.clone())));
        for (name, value) in &provider.authorization_params {
            request = request.add_extra_param(name.clone(), value.clone());
        }
        let mut verifier = None;
        if provider.pkce {
            let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
            request = request.set_pkce_challenge(challenge);
            verifier = Some(SecretString::from(pkce_verifier.secret().clone()));
        }
        let (url, _) = request.url();
        Ok(AuthorizationStart {
            url,
            pkce_verifier: verifier,
        })
    }

    pub async fn exchange_code(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        code: &str,
        verifier: Option<&SecretString>,
        now: i64,
    ) -> Result<TokenSet, ProviderError> {
        let client = Self::client(provider, Some(redirect_uri))?;
        let mut request = client.exchange_code(AuthorizationCode::new(code.to_string()));
        if let Some(v) = verifier {
            request =
                request.set_pkce_verifier(PkceCodeVerifier::new(v.expose_secret().to_string()));
        }
        let response = request
            .request_async(&TokenEndpointClient(&self.http))
            .await
            .map_err(token_error)?;
        Ok(token_set_from(&response, now))
    }

    /// RFC 6749 §6: new tokens for a refresh token. A response without a refresh token leaves
    /// `refresh_token` None: the caller keeps the one it has.
    pub async fn refresh(
        &self,
        provider: &Provider,
        refresh_token: &SecretString,
        now: i64,
    ) -> Result<TokenSet, ProviderError> {
        let client = Self::client(provider, None)?;
        let token = RefreshToken::new(refresh_token.expose_secret().to_string());
        let response = client
            .exchange_refresh_token(&token)
            .request_async(&TokenEndpointClient(&self.http))
            .await
            .map_err(token_error)?;
        Ok(token_set_from(&response, now))
    }

    pub async fn fetch_account(
        &self,
        provider: &Provider,
        access_token: &SecretString,
    ) -> Result<ProviderAccount, ProviderError> {
        let response = self
            .http
            .get(provider.userinfo_url.clone())
            .bearer_auth(access_token.expose_secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(without_url(e)))?;
        let status = response.status();
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ProviderError::Unavailable(format!(
                "userinfo answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(ProviderError::Rejected {
                error: format!("userinfo answered {status}"),
            });
        }
        let body: serde_json::Value = response
            .json()
            .await
            .map_err(|e| ProviderError::BadResponse(without_url(e)))?;
        account_from_userinfo(provider, &body)
    }

    /// Revokes the refresh token (which ends the grant at RFC 7009 servers) and the access token.
    /// Ok(false) when the provider has no revocation endpoint.
    pub async fn revoke(
        &self,
        provider: &Provider,
        tokens: &TokenSet,
    ) -> Result<bool, ProviderError> {
        let Some(url) = &provider.revocation_url else {
            return Ok(false);
        };
        let credentials = provider.credentials.as_ref().ok_or_else(|| {
            ProviderError::Config(format!("{} has no client credentials", provider.id))
        })?;
        if let Some(refresh) = &tokens.refresh_token {
            self.revoke_one(
                url,
                provider.token_auth,
                credentials,
                refresh.expose_secret(),
                "refresh_token",
            )
            .await?;
        }
        self.revoke_one(
            url,
            provider.token_auth,
            credentials,
            tokens.access_token.expose_secret(),
            "access_token",
        )
        .await?;
        Ok(true)
    }

    /// One RFC 7009 request. (The oauth2 crate's revocation refuses non-HTTPS URLs outright,
    /// loopback included; the catalogue already refuses plain HTTP except on loopback.)
    async fn revoke_one(
        &self,
        url: &Url,
        auth: TokenAuth,
        credentials: &ClientCredentials,
        token: &str,
        hint: &str,
    ) -> Result<(), ProviderError> {
        let mut form = vec![("token", token), ("token_type_hint", hint)];
        let mut request = self
            .http
            .post(url.clone())
            .header(reqwest::header::ACCEPT, "application/json");
        match auth {
            // RFC 6749 §2.3.1: id and secret are form-encoded before Basic encoding.
            TokenAuth::Basic => {
                let encode = |v: &str| {
                    url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
                };
                request = request.basic_auth(
                    encode(&credentials.client_id),
                    Some(encode(credentials.client_secret.expose_secret())),
                );
            }
            TokenAuth::Post => {
                form.push(("client_id", &credentials.client_id));
                form.push(("client_secret", credentials.client_secret.expose_secret()));
            }
        }
        let response = request
            .form(&form)
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(without_url(e)))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
            return Err(ProviderError::Unavailable(format!(
                "revocation answered {status}"
            )));
        }
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        let error = body
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("unknown_error");
        // RFC 7009 §2.2: an already invalid token is not a failure.
        if error == "invalid_token" || error == "invalid_grant" {
            return Ok(());
        }
        Err(ProviderError::Rejected {
            error: error.chars().take(64).collect(),
        })
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
    let external_account_id = text(&provider.userinfo.id).ok_or_else(|| {
        ProviderError::BadResponse(format!(
            "userinfo has no account id at {}",
            provider.userinfo.id
        ))
    })?;
    Ok(ProviderAccount {
        external_account_id,
        email: provider.userinfo.email.as_deref().and_then(text),
        display_name: provider.userinfo.name.as_deref().and_then(text),
    })
}

/// reqwest errors print the URL; ours never carry secrets in URLs, but keep messages short anyway.
fn without_url(e: reqwest::Error) -> String {
    e.without_url().to_string()
}

fn token_set_from(response: &oauth2::basic::BasicTokenResponse, now: i64) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(response.access_token().secret().clone()),
        refresh_token: response
            .refresh_token()
            .map(|r| SecretString::from(r.secret().clone())),
        token_type: "Bearer".into(),
        expires_at: response.expires_in().map(|d| now + d.as_secs() as i64),
        scopes: response
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
    }
}

/// Why a token-endpoint request got no OAuth answer.
#[derive(Debug, thiserror::Error)]
enum TokenHttpError {
    #[error("{0}")]
    Transport(String),
    #[error("token endpoint answered {status}")]
    Busy {
        status: u16,
        retry_after: Option<Duration>,
    },
}

/// The token endpoint's HTTP client for oauth2: reqwest, except that 429 and 5xx answers become
/// [`TokenHttpError::Busy`] with their `Retry-After`, which oauth2's own reqwest client drops.
/// (A struct rather than a closure: oauth2's closure impl makes futures that are not `Send`.)
struct TokenEndpointClient<'a>(&'a reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for TokenEndpointClient<'_> {
    type Error = TokenHttpError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<oauth2::HttpResponse, TokenHttpError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(send_token_request(self.0, request))
    }
}

async fn send_token_request(
    http: &reqwest::Client,
    request: oauth2::HttpRequest,
) -> Result<oauth2::HttpResponse, TokenHttpError> {
    let request = reqwest::Request::try_from(request)
        .map_err(|e| TokenHttpError::Transport(without_url(e)))?;
    let response = http
        .execute(request)
        .await
        .map_err(|e| TokenHttpError::Transport(crate::http::error_chain(&e.without_url())))?;
    let status = response.status();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        return Err(TokenHttpError::Busy {
            status: status.as_u16(),
            retry_after: response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, SystemTime::now())),
        });
    }
    let mut builder = oauth2::http::Response::builder().status(status);
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| TokenHttpError::Transport(without_url(e)))?;
    builder
        .body(body.to_vec())
        .map_err(|e| TokenHttpError::Transport(e.to_string()))
}

/// RFC 9110 §10.2.3: `Retry-After` is delay-seconds or an HTTP-date.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

fn token_error<T>(e: RequestTokenError<TokenHttpError, T>) -> ProviderError
where
    T: oauth2::ErrorResponse + 'static,
{
    match e {
        RequestTokenError::ServerResponse(response) => {
            // The error code only: error_description is free text from the provider.
            let code = serde_json::to_value(&response)
                .ok()
                .and_then(|v| v.get("error").and_then(|c| c.as_str().map(str::to_string)));
            ProviderError::Rejected {
                error: code.unwrap_or_else(|| "unknown_error".into()),
            }
        }
        RequestTokenError::Request(TokenHttpError::Busy {
            status,
            retry_after,
        }) => ProviderError::Busy {
            status,
            retry_after,
        },
        RequestTokenError::Request(TokenHttpError::Transport(why)) => {
            ProviderError::Unavailable(why)
        }
        // Not an OAuth error body: typically an HTML page from a proxy.
        RequestTokenError::Parse(e, _) => {
            ProviderError::Unavailable(format!("unparseable token response: {e}"))
        }
        RequestTokenError::Other(message) => ProviderError::BadResponse(message),
    }
}
