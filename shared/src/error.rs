//! The edge error: every failure a handler can return, turned into the response envelope once,
//! in `ApiResponse::from_error` (http.rs). Lower layers have their own enums; every
//! `From<_> for ApiError` is in this file, so one place says what each failure answers.

use crate::crypto::CryptoError;
use crate::domain::IntegrationStatus;
use crate::ids::ProviderId;
use crate::oauth::ProviderError;
use crate::refresh::RefreshError;
use crate::secrets::SecretError;
use crate::store::StoreError;
use crate::sync::SyncError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Validation(String),
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("missing or invalid credentials")]
    Unauthorized,
    /// Authenticated, but not allowed here (a backend principal not on the allowlist).
    #[error("{0}")]
    Forbidden(String),
    #[error("unknown or unconfigured provider: {0}")]
    InvalidProvider(String),
    #[error("the OAuth state is invalid, expired or already used")]
    InvalidState,
    #[error("integration not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("could not start the OAuth flow: {0}")]
    OAuthInit(String),
    /// The provider refused the authorization (user denied, bad or reused code, wrong issuer).
    #[error("the provider refused the authorization: {0}")]
    OAuthCallback(String),
    /// The provider could not be reached or answered with a server error.
    #[error("the provider is unavailable: {0}")]
    ProviderUnavailable(String),
    /// The integration's token lacks a scope the request needs at the provider: the user must
    /// connect again, the app asking for `scopes` (the catalogue entry's `calendar.write_scopes`).
    #[error("{}", insufficient_scope_message(scopes))]
    InsufficientScope { scopes: Vec<String> },
    /// No such event at the provider (nor, for a deletion, in the store).
    #[error("event not found")]
    EventNotFound,
    /// An `Idempotency-Key` already used with another request body.
    #[error("this Idempotency-Key was used with another request body; use a new key")]
    IdempotencyKeyReused,
    /// The provider refused the request as such (an event it will not take): its reason.
    #[error("the provider refused the request: {0}")]
    ProviderRefused(String),
    /// The provider no longer honours the integration's grant: the user must connect again.
    #[error("the integration's authorization has expired or was revoked; connect again")]
    TokenExpired,
    /// The token could not be refreshed. `retryable`: the provider was unreachable or busy, or
    /// another refresh of the same integration did not finish in time.
    #[error("the token could not be refreshed: {why}")]
    TokenRefresh {
        why: String,
        retryable: bool,
        retry_after: Option<std::time::Duration>,
    },
    /// The caller spent its budget for this route's class (crate::rate_limit).
    #[error("too many requests; retry in {} s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: std::time::Duration },
    #[error("the token store is unavailable")]
    Database(#[source] StoreError),
    /// KMS unreachable or throttling: worth a retry.
    #[error("the key service is unavailable")]
    KeyService(#[source] CryptoError),
    /// Secrets Manager unreachable or throttling (the state key or a provider's credentials
    /// could not be read): worth a retry.
    #[error("the secret store is unavailable")]
    SecretService(#[source] SecretError),
    /// An invariant broke (a stored envelope that does not decrypt, a malformed item). Not the
    /// caller's fault, and not fixed by retrying.
    #[error("internal error")]
    Internal(#[source] boxed::Source),
    /// A failure that came from or concerns `provider` ([`ApiError::involves_provider`]):
    /// answered as `error` is, with the provider named in the body. Built by
    /// [`ApiError::at_provider`] only, so it never wraps another.
    #[error("{error}")]
    AtProvider {
        provider: ProviderId,
        error: Box<ApiError>,
    },
}

/// `code`, HTTP status and `retryable` of each error, as in docs/openapi.yaml.
impl ApiError {
    /// Names `provider` in the answer when this failure came from it or concerns its grant
    /// (the app can then say which account to reconnect); any other failure stays as it is.
    pub fn at_provider(self, provider: &ProviderId) -> Self {
        match self {
            Self::AtProvider { .. } => self,
            e if e.involves_provider() => Self::AtProvider {
                provider: provider.clone(),
                error: Box::new(e),
            },
            e => e,
        }
    }

    /// The provider's own failures and its grant's state: what `at_provider` names it on.
    pub fn involves_provider(&self) -> bool {
        matches!(
            self.peeled(),
            Self::OAuthInit(_)
                | Self::OAuthCallback(_)
                | Self::ProviderUnavailable(_)
                | Self::ProviderRefused(_)
                | Self::InsufficientScope { .. }
                | Self::TokenExpired
                | Self::TokenRefresh { .. }
        )
    }

    /// The provider the answer names, if any.
    pub fn provider(&self) -> Option<&ProviderId> {
        match self {
            Self::AtProvider { provider, .. } => Some(provider),
            _ => None,
        }
    }

    /// The failure itself, without the provider it names.
    pub fn peeled(&self) -> &Self {
        match self {
            Self::AtProvider { error, .. } => error,
            other => other,
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            Self::AtProvider { error, .. } => error.status(),
            Self::Validation(_)
            | Self::InvalidProvider(_)
            | Self::InvalidState
            | Self::OAuthCallback(_) => 400,
            Self::Unauthorized => 401,
            Self::Forbidden(_) | Self::InsufficientScope { .. } => 403,
            Self::NotFound | Self::EventNotFound => 404,
            Self::IdempotencyKeyReused | Self::ProviderRefused(_) => 422,
            Self::Conflict(_) | Self::TokenExpired => 409,
            Self::PayloadTooLarge { .. } => 413,
            Self::RateLimited { .. } => 429,
            Self::OAuthInit(_) | Self::Internal(_) => 500,
            Self::ProviderUnavailable(_) => 502,
            Self::TokenRefresh { retryable, .. } => {
                if *retryable {
                    503
                } else {
                    502
                }
            }
            Self::Database(_) | Self::KeyService(_) | Self::SecretService(_) => 503,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::AtProvider { error, .. } => error.code(),
            Self::Validation(_) => "VALIDATION_ERROR",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::InvalidProvider(_) => "INVALID_PROVIDER",
            Self::InvalidState => "INVALID_STATE",
            Self::NotFound => "ACCOUNT_NOT_FOUND",
            Self::EventNotFound => "EVENT_NOT_FOUND",
            Self::InsufficientScope { .. } => "INSUFFICIENT_SCOPE",
            Self::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Self::ProviderRefused(_) => "PROVIDER_ERROR",
            Self::Conflict(_) => "CONFLICT",
            Self::OAuthInit(_) => "OAUTH_INIT_ERROR",
            Self::OAuthCallback(_) => "OAUTH_CALLBACK_ERROR",
            Self::ProviderUnavailable(_) => "NETWORK_ERROR",
            Self::TokenExpired => "TOKEN_EXPIRED",
            Self::TokenRefresh { .. } => "TOKEN_REFRESH_ERROR",
            Self::Database(_) => "DATABASE_ERROR",
            Self::KeyService(_) => "KEY_SERVICE_ERROR",
            Self::SecretService(_) => "SECRET_SERVICE_ERROR",
            Self::Internal(_) => "INTERNAL_ERROR",
        }
    }

    pub fn retryable(&self) -> bool {
        matches!(
            self.peeled(),
            Self::ProviderUnavailable(_)
                | Self::RateLimited { .. }
                | Self::Database(_)
                | Self::KeyService(_)
                | Self::SecretService(_)
                | Self::TokenRefresh {
                    retryable: true,
                    ..
                }
        )
    }

    /// The `Retry-After` to send, when the failure knows one.
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self.peeled() {
            Self::TokenRefresh { retry_after, .. } => *retry_after,
            Self::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    /// The message sent to the client. Server-side failures get a fixed sentence: their details
    /// (SDK and HTTP error chains) go to the log line written with the response, not to callers.
    pub fn public_message(&self) -> String {
        match self.peeled() {
            Self::OAuthInit(_) => "could not start the OAuth flow".into(),
            Self::ProviderUnavailable(_) => "the provider is unavailable; try again later".into(),
            Self::TokenRefresh {
                retryable: true, ..
            } => "the token could not be refreshed now; try again later".into(),
            Self::TokenRefresh { why, .. } => {
                format!("the provider refused to refresh the token ({why})")
            }
            other => other.to_string(),
        }
    }
}

fn insufficient_scope_message(scopes: &[String]) -> String {
    let base = "the integration's authorization does not cover this request; connect again";
    if scopes.is_empty() {
        base.into()
    } else {
        format!("{base}, asking for the scopes {}", scopes.join(" "))
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Service(_) => Self::Database(e),
            StoreError::Conflict => {
                Self::Conflict("the integration changed meanwhile; try again".into())
            }
            StoreError::Corrupt(_) => Self::Internal(boxed::Source::new(e)),
        }
    }
}

impl From<CryptoError> for ApiError {
    fn from(e: CryptoError) -> Self {
        match e {
            CryptoError::KeyService(_) => Self::KeyService(e),
            other => Self::Internal(boxed::Source::new(other)),
        }
    }
}

impl From<ProviderError> for ApiError {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::Rejected { error } => Self::OAuthCallback(error),
            ProviderError::Unavailable(why) | ProviderError::BadResponse(why) => {
                Self::ProviderUnavailable(why)
            }
            ProviderError::Busy { status, .. } => {
                Self::ProviderUnavailable(format!("provider answered {status}"))
            }
            ProviderError::Config(why) => Self::OAuthInit(why),
            ProviderError::Secrets(e) => e.into(),
        }
    }
}

impl From<SecretError> for ApiError {
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Service(_) => Self::SecretService(e),
            // A secret that exists but holds the wrong thing: the deployment's to fix.
            SecretError::Unusable { .. } => Self::Internal(boxed::Source::new(e)),
        }
    }
}

impl From<RefreshError> for ApiError {
    fn from(e: RefreshError) -> Self {
        match e {
            // A disconnected integration is gone from the API, as on every other route.
            RefreshError::NotFound
            | RefreshError::NotConnected(IntegrationStatus::Disconnected) => Self::NotFound,
            RefreshError::NotConnected(IntegrationStatus::Expired) | RefreshError::GrantRevoked => {
                Self::TokenExpired
            }
            RefreshError::NotConnected(status) => {
                Self::Conflict(format!("the integration is {}", status.as_str()))
            }
            RefreshError::ProviderUnavailable { source } => Self::TokenRefresh {
                retry_after: source.retry_after(),
                why: source.to_string(),
                retryable: true,
            },
            RefreshError::LeaseBusy | RefreshError::NoTimeLeft => Self::TokenRefresh {
                why: e.to_string(),
                retryable: true,
                retry_after: Some(std::time::Duration::from_secs(1)),
            },
            RefreshError::ProviderRejected(code) => Self::TokenRefresh {
                why: code,
                retryable: false,
                retry_after: None,
            },
            RefreshError::ProviderNotConfigured(id) => Self::InvalidProvider(id),
            RefreshError::Store(e) => e.into(),
            RefreshError::Crypto(e) => e.into(),
            RefreshError::Malformed => Self::Internal(boxed::Source::new(RefreshError::Malformed)),
        }
    }
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::NotConnected => Self::Conflict("the integration is not connected".into()),
            SyncError::Store(e) => e.into(),
            SyncError::NoQueue | SyncError::Queue(_) => Self::Internal(boxed::Source::new(e)),
        }
    }
}

/// A boxed source error for [`ApiError::Internal`], so the edge enum does not grow a variant per layer.
pub mod boxed {
    #[derive(Debug)]
    pub struct Source(Box<dyn std::error::Error + Send + Sync>);
    impl Source {
        pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
            Self(Box::new(e))
        }
    }
    impl std::fmt::Display for Source {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.fmt(f)
        }
    }
    impl std::error::Error for Source {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.0.as_ref())
        }
    }
}

#[cfg(test)]
#[path = "tests/error.rs"]
mod tests;
