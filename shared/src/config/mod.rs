//! Typed settings, read once at cold start from the environment (template.yaml sets them in AWS,
//! `make dev` and the tests set them locally). Documented in README.md, "Configuration".

use std::time::Duration;

use url::Url;

mod rate_limits;
mod tuning;
pub use rate_limits::{Budget, RateLimits};
pub use tuning::{PROVIDER_TIMEOUT, RefreshTuning, SyncTuning};

pub struct Settings {
    pub table_name: String,
    pub kms_key_id: String,
    /// `STATE_KEY_SECRET`: name or ARN of the Secrets Manager secret whose value is the
    /// OAuth-state MAC key (read by the functions that issue or check a state, at first use).
    pub state_key_secret: String,
    /// `SECRETS_CACHE_SECONDS` (default 300): how long a secret read is reused, so how soon a
    /// rotated secret takes effect. 0 reads it on every use (the tests, so that each function's
    /// own reads reach the IAM check instead of another function's cached copy).
    pub secrets_cache_time: Duration,
    /// Life of an OAuth state, seconds (default 600).
    pub state_ttl_secs: i64,
    /// The API's public base URL for redirect URIs; None: `https://{domain API Gateway saw}`.
    pub public_base_url: Option<Url>,
    /// `APP_ORIGINS`: the web app's origins (`scheme://host[:port]`). The callback redirects
    /// only there and its popup page posts only to them; API Gateway's CORS allows them
    /// (template.yaml, from the same parameter).
    pub app_origins: Vec<String>,
    /// Who redeems the code the provider sends to the GET callback.
    pub callback_completion: CallbackCompletion,
    /// A token is refreshed when it expires within this many seconds (default 600).
    pub refresh_margin_secs: i64,
    /// The refresh queue (the scheduler sends to it); None where a function does not use it.
    pub refresh_queue_url: Option<String>,
    /// The sync queue (sync requests, scheduled syncs, continuations).
    pub sync_queue_url: Option<String>,
    /// The token-recovery queue: sealed tokens a refresh obtained but could not store (the
    /// functions that refresh send to it; the token-recovery function applies them).
    pub recovery_queue_url: Option<String>,
    /// `SYNC_MAX_PAGES` (default 1000, 250 events a page): a job that pages past it fails
    /// (`SYNC_PAGE_LIMIT`) instead of paging for ever through continuation messages.
    pub sync_max_pages: u32,
    /// `SYNC_MAX_RECEIVES` (default 3): the sync queue's redrive `maxReceiveCount`. On the last
    /// delivery a job that fails again ends `failed` (`SYNC_ABANDONED`) rather than staying
    /// `running` while its message sits in the dead-letter queue.
    pub sync_max_receives: u32,
    /// `BACKEND_PRINCIPAL_ARNS`: the IAM principals (user or role ARNs) the token route hands
    /// tokens to. API Gateway lets any principal of the account with `execute-api:Invoke`
    /// through (admins, CI roles); this narrows it to the app's backend. Empty: nobody.
    pub backend_principals: Vec<String>,
    /// `RATE_LIMITS`: each limit class's budget per caller (defaults: the product's numbers).
    pub rate_limits: RateLimits,
}

/// `CALLBACK_COMPLETION`: `app` (default; docs/openapi.yaml): the GET callback hands code and
/// state to the app, which completes with the POST callback and its user's JWT, so only the
/// user who started the flow can finish it. `direct`: the GET callback exchanges the code itself
/// (no app code needed, but open to account-linking CSRF: README, "Callback completion").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallbackCompletion {
    Direct,
    App,
}

#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Whether `principal` (as API Gateway's IAM authorizer reports it) may use the token
    /// route: listed as is, or, for a role ARN listed, any session of that role
    /// (`arn:aws:sts::ACCOUNT:assumed-role/NAME/SESSION` for `arn:aws:iam::ACCOUNT:role/NAME`).
    pub fn backend_allowed(&self, principal: &str) -> bool {
        self.backend_principals.iter().any(|allowed| {
            allowed == principal
                || assumed_role_of(allowed)
                    .is_some_and(|session_prefix| principal.starts_with(&session_prefix))
        })
    }

    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let required = |name: &str| {
            env(name)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError(format!("{name} is not set")))
        };
        let state_key_secret = required("STATE_KEY_SECRET")?;
        let positive = |name: &str, default: u32| -> Result<u32, ConfigError> {
            match env(name).filter(|v| !v.is_empty()) {
                Some(v) => v
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError(format!("{name} must be a positive integer"))),
                None => Ok(default),
            }
        };
        let sync_max_pages = positive("SYNC_MAX_PAGES", 1000)?;
        let sync_max_receives = positive("SYNC_MAX_RECEIVES", 3)?;
        let secrets_cache_time = match env("SECRETS_CACHE_SECONDS").filter(|v| !v.is_empty()) {
            Some(v) => Duration::from_secs(
                v.parse::<u16>()
                    .map_err(|_| {
                        ConfigError(
                            "SECRETS_CACHE_SECONDS must be 0-65535 (0: read every time)".into(),
                        )
                    })?
                    .into(),
            ),
            None => Duration::from_secs(300),
        };
        let state_ttl_secs = match env("STATE_TTL_SECONDS").filter(|v| !v.is_empty()) {
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|s| (1..=3600).contains(s))
                .ok_or_else(|| ConfigError("STATE_TTL_SECONDS must be 1-3600".into()))?,
            None => 600,
        };
        let public_base_url = match env("PUBLIC_BASE_URL").filter(|v| !v.is_empty()) {
            Some(v) => Some(
                Url::parse(v.trim_end_matches('/'))
                    .map_err(|e| ConfigError(format!("PUBLIC_BASE_URL: {e}")))?,
            ),
            None => None,
        };
        // APP_ORIGINS; RETURN_TO_ALLOWED_ORIGINS, its former name, still read when it is unset.
        let (origins_var, origins) = match env("APP_ORIGINS").filter(|v| !v.is_empty()) {
            Some(v) => ("APP_ORIGINS", v),
            None => (
                "RETURN_TO_ALLOWED_ORIGINS",
                env("RETURN_TO_ALLOWED_ORIGINS").unwrap_or_default(),
            ),
        };
        let mut app_origins = Vec::new();
        for raw in origins.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            app_origins.push(
                origin_of(raw)
                    .map_err(|why| ConfigError(format!("{origins_var}: `{raw}`: {why}")))?,
            );
        }
        let callback_completion = match env("CALLBACK_COMPLETION").as_deref() {
            None | Some("") | Some("app") => CallbackCompletion::App,
            Some("direct") => CallbackCompletion::Direct,
            Some(other) => {
                return Err(ConfigError(format!(
                    "CALLBACK_COMPLETION must be `direct` or `app`, not `{other}`"
                )));
            }
        };
        let refresh_margin_secs = match env("REFRESH_MARGIN_SECONDS").filter(|v| !v.is_empty()) {
            Some(v) => v
                .parse::<i64>()
                .ok()
                .filter(|s| (1..=86_400).contains(s))
                .ok_or_else(|| ConfigError("REFRESH_MARGIN_SECONDS must be 1-86400".into()))?,
            None => 600,
        };
        let rate_limits = RateLimits::parse(&env("RATE_LIMITS").unwrap_or_default())?;
        Ok(Self {
            rate_limits,
            refresh_margin_secs,
            refresh_queue_url: env("REFRESH_QUEUE_URL").filter(|v| !v.is_empty()),
            sync_queue_url: env("SYNC_QUEUE_URL").filter(|v| !v.is_empty()),
            recovery_queue_url: env("RECOVERY_QUEUE_URL").filter(|v| !v.is_empty()),
            sync_max_pages,
            sync_max_receives,
            backend_principals: env("BACKEND_PRINCIPAL_ARNS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect(),
            table_name: required("TABLE_NAME")?,
            kms_key_id: required("KMS_KEY_ID")?,
            state_key_secret,
            secrets_cache_time,
            state_ttl_secs,
            public_base_url,
            app_origins,
            callback_completion,
        })
    }

    /// The return URL if its origin is allowlisted: the only place the callback will redirect to.
    pub fn allowed_return_to(&self, raw: &str) -> Option<Url> {
        let url = Url::parse(raw).ok()?;
        if !matches!(url.scheme(), "https" | "http") || url.cannot_be_a_base() {
            return None;
        }
        let origin = url.origin().ascii_serialization();
        self.app_origins.contains(&origin).then_some(url)
    }
}

/// `https://app.example.com` → itself; anything but an http(s) origin (a path, a query, `null`)
/// is refused rather than cut down to one, so a typo cannot silently allow something else.
fn origin_of(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw).map_err(|e| e.to_string())?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("must be http:// or https://".into());
    }
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err("an origin is scheme://host[:port], nothing after it".into());
    }
    Ok(url.origin().ascii_serialization())
}

/// `arn:aws:iam::123:role/path/Name` → `arn:aws:sts::123:assumed-role/Name/`.
fn assumed_role_of(role_arn: &str) -> Option<String> {
    let rest = role_arn.strip_prefix("arn:aws:iam::")?;
    let (account, role) = rest.split_once(":role/")?;
    let name = role.rsplit('/').next().filter(|n| !n.is_empty())?;
    Some(format!("arn:aws:sts::{account}:assumed-role/{name}/"))
}

#[cfg(test)]
#[path = "../tests/config.rs"]
mod tests;
