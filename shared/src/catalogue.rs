//! The provider catalogue: providers as data (shared/providers.toml, embedded at build time, plus
//! an optional file of a deployment's own entries), resolved against the environment once at cold
//! start. Every field is documented in docs/providers.md; the mechanisms the fields select live in
//! `oauth` and are unit-tested there.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::ids::ProviderId;
use crate::oauth::TokenSet;

/// The catalogue compiled into every function.
pub const EMBEDDED: &str = include_str!("../providers.toml");

/// Names a TOML file whose entries add to (or replace) the embedded ones.
pub const OVERRIDE_FILE_VAR: &str = "PROVIDER_CATALOGUE_FILE";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    display_name: String,
    #[serde(default)]
    documentation: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    discovery: bool,
    #[serde(default)]
    authorization_response_iss: Option<bool>,
    #[serde(default)]
    authorization_url: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default = "default_scope_param")]
    scope_param: String,
    #[serde(default = "default_scope_separator")]
    scope_separator: String,
    #[serde(default = "default_client_id_param")]
    client_id_param: String,
    #[serde(default)]
    pkce: Option<Pkce>,
    #[serde(default)]
    token_auth: Option<TokenAuth>,
    #[serde(default)]
    authorization_params: BTreeMap<String, String>,
    #[serde(default)]
    http_headers: BTreeMap<String, String>,
    #[serde(default)]
    ok_field: Option<String>,
    #[serde(default)]
    token_response: TokenResponseShape,
    #[serde(default)]
    refresh: RefreshModel,
    #[serde(default = "default_dead_grant_errors")]
    dead_grant_errors: Vec<String>,
    #[serde(default)]
    busy_errors: Vec<String>,
    #[serde(default)]
    long_lived: Option<RawLongLived>,
    #[serde(default)]
    revocation: Option<RawRevocation>,
    userinfo: RawUserinfo,
    #[serde(default)]
    calendar: Option<RawCalendar>,
}

fn default_scope_param() -> String {
    "scope".into()
}
fn default_scope_separator() -> String {
    " ".into()
}
fn default_client_id_param() -> String {
    "client_id".into()
}
fn default_dead_grant_errors() -> Vec<String> {
    vec!["invalid_grant".into()]
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    api: CalendarApi,
    events_url: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLongLived {
    exchange_url: String,
    exchange_grant_type: String,
    refresh_url: String,
    refresh_grant_type: String,
    #[serde(default)]
    refresh_after_secs: i64,
    #[serde(default)]
    renew_before_secs: i64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRevocation {
    style: RevocationStyle,
    url: String,
    #[serde(default)]
    token: Option<RevokedTokens>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUserinfo {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    method: UserinfoMethod,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    token: TokenPlacement,
    #[serde(deserialize_with = "one_or_many")]
    id: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    email: Vec<String>,
    #[serde(default, deserialize_with = "one_or_many")]
    name: Vec<String>,
}

/// The wire format of a provider's calendar events API (shared/src/sync/source.rs).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CalendarApi {
    /// `events.list` with pageToken / syncToken (Google, and the local `demo` provider).
    GoogleCalendar,
    /// `calendarView/delta` with @odata.nextLink / @odata.deltaLink.
    MicrosoftGraph,
}

/// Where a provider's calendar events are synced from.
#[derive(Debug, Clone)]
pub struct CalendarSource {
    pub api: CalendarApi,
    pub events_url: Url,
}

/// How the client authenticates at the token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TokenAuth {
    /// HTTP Basic (`client_secret_basic`): id and secret form-encoded, then Base64.
    Basic,
    /// Client id and secret in the form body (`client_secret_post`).
    Post,
}

/// PKCE (RFC 7636). We always use S256 when we use it at all.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Pkce {
    /// The provider refuses authorizations without it.
    Required,
    /// The provider accepts it: sent, as RFC 9700 §2.1.1 recommends.
    Supported,
    /// Not sent: the provider does not implement it, or implementing it changes the app's
    /// client type (Slack's PKCE makes an app public, one-way).
    Off,
}

impl Pkce {
    pub fn sent(self) -> bool {
        self != Self::Off
    }
}

/// How tokens are renewed.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RefreshModel {
    /// RFC 6749 §6 with a refresh token that stays valid (a response may omit a new one).
    #[default]
    Standard,
    /// Every refresh returns a new refresh token and spends the old one. The same code as
    /// `standard`: the returned refresh token is always stored, under the lease that makes
    /// rotation safe. Declared so that readers (and docs/providers.md) know that a refresh
    /// answer lost in transit loses the grant with such a provider.
    Rotating,
    /// Tokens that do not expire (GitHub OAuth apps): never in the refresh index.
    None,
    /// A short-lived token exchanged at connect for a long-lived one, which is renewed by a GET
    /// with the access token itself (Instagram's `ig_exchange_token` / `ig_refresh_token`).
    LongLived,
}

/// The `long_lived` refresh model's two endpoints.
#[derive(Debug, Clone)]
pub struct LongLived {
    pub exchange_url: Url,
    pub exchange_grant_type: String,
    pub refresh_url: Url,
    pub refresh_grant_type: String,
    /// A token younger than this is not renewable yet (Instagram: 24 h).
    pub refresh_after_secs: i64,
    /// Renewal is due this long before expiry: an expired long-lived token cannot be renewed,
    /// so the window must outlast an outage, not just the scheduler's margin.
    pub renew_before_secs: i64,
}

/// Where the token sits in a token endpoint's answer, and how its lifetime is given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponseShape {
    /// JSON pointer(s) to the object holding `access_token` in the code exchange's answer, tried
    /// in order ("" is the top level; Slack's user token: `/authed_user`; Instagram documents
    /// `/data/0` and older clients read the top level). A string or an array of strings.
    #[serde(default = "top_level", deserialize_with = "one_or_many")]
    pub code_path: Vec<String>,
    /// The same for a refresh's answer.
    #[serde(default = "top_level", deserialize_with = "one_or_many")]
    pub refresh_path: Vec<String>,
    /// The unit of `expires_in`.
    #[serde(default)]
    pub expires_in_unit: ExpiresInUnit,
    /// Lifetime in seconds when the answer has no `expires_in`; none: such tokens do not expire.
    #[serde(default)]
    pub default_expires_in: Option<i64>,
}

impl Default for TokenResponseShape {
    fn default() -> Self {
        Self {
            code_path: top_level(),
            refresh_path: top_level(),
            expires_in_unit: ExpiresInUnit::default(),
            default_expires_in: None,
        }
    }
}

fn top_level() -> Vec<String> {
    vec![String::new()]
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ExpiresInUnit {
    #[default]
    Seconds,
    Milliseconds,
    Minutes,
}

impl ExpiresInUnit {
    pub fn to_seconds(self, value: f64) -> i64 {
        let secs = match self {
            Self::Seconds => value,
            Self::Milliseconds => value / 1000.0,
            Self::Minutes => value * 60.0,
        };
        secs.floor() as i64
    }
}

/// How a grant is revoked at disconnect.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RevocationStyle {
    /// RFC 7009: form `token` + `token_type_hint`, client authenticated as at the token endpoint.
    Rfc7009,
    /// POST with the access token as `?token=` and HTTP Basic client authentication (Zoom).
    TokenQuery,
    /// POST authenticated by the access token itself, as a bearer (Slack `auth.revoke`).
    Bearer,
    /// DELETE with HTTP Basic client authentication and a JSON `{"access_token"}` body; the URL
    /// may contain `{client_id}` (GitHub `DELETE /applications/{client_id}/grant`).
    GrantDelete,
}

/// Which tokens an RFC 7009 revocation sends.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RevokedTokens {
    /// The refresh token (which ends the grant at RFC 7009 servers), then the access token.
    Both,
    Access,
}

#[derive(Debug, Clone)]
pub struct Revocation {
    pub style: RevocationStyle,
    /// The URL, possibly with a `{client_id}` placeholder (so kept as text until used).
    pub url: String,
    pub tokens: RevokedTokens,
}

impl Revocation {
    pub fn url_for(&self, client_id: &str) -> Result<Url, url::ParseError> {
        let encoded: String = url::form_urlencoded::byte_serialize(client_id.as_bytes()).collect();
        Url::parse(&self.url.replace("{client_id}", &encoded))
    }
}

#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub enum UserinfoMethod {
    #[default]
    Get,
    Post,
}

/// How the access token goes to the userinfo endpoint.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TokenPlacement {
    /// `Authorization: Bearer` (RFC 6750 §2.1).
    #[default]
    Bearer,
    /// `?access_token=` (RFC 6750 §2.3; Meta's Graph APIs document this form).
    Query,
}

/// The userinfo request and JSON pointers (RFC 6901) into its answer.
#[derive(Debug, Clone)]
pub struct Userinfo {
    pub method: UserinfoMethod,
    pub headers: Vec<(String, String)>,
    pub token: TokenPlacement,
    /// Each a list of pointers: the first that holds a value counts (Microsoft's `mail` is null
    /// for many accounts, `userPrincipalName` never is).
    pub id: Vec<String>,
    pub email: Vec<String>,
    pub name: Vec<String>,
}

pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// The endpoints and server facts of a provider: from the entry, or from its discovery document.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The authorization server's issuer identifier: checked against the callback's RFC 9207 `iss`.
    pub issuer: Option<Url>,
    /// The server sends `iss` in every authorization response (RFC 9207 metadata
    /// `authorization_response_iss_parameter_supported`): a response without it is refused.
    pub authorization_response_iss: bool,
    pub authorization_url: Url,
    pub token_url: Url,
    pub userinfo_url: Url,
    pub revocation: Option<Revocation>,
    pub pkce: Pkce,
    pub token_auth: TokenAuth,
}

/// What the entry itself says, for discovery to fill in around.
#[derive(Debug, Clone)]
pub struct EndpointOverrides {
    pub issuer: Url,
    pub authorization_response_iss: Option<bool>,
    pub authorization_url: Option<Url>,
    pub token_url: Option<Url>,
    pub userinfo_url: Option<Url>,
    pub revocation: Option<Revocation>,
    pub pkce: Option<Pkce>,
    pub token_auth: Option<TokenAuth>,
}

pub struct Discovery {
    pub document_url: Url,
    pub overrides: EndpointOverrides,
    pub resolved: tokio::sync::OnceCell<Arc<Endpoints>>,
}

pub enum EndpointSource {
    Static(Arc<Endpoints>),
    /// OpenID Connect Discovery: fetched on first use, once per container.
    Discovery(Box<Discovery>),
    /// An entry whose environment is missing and that has no credentials either: listed, not
    /// usable. (With credentials, a missing variable is a start-up error.)
    Unavailable(String),
}

pub struct Provider {
    pub id: ProviderId,
    pub display_name: String,
    /// The provider documentation page the entry follows.
    pub documentation: Option<Url>,
    pub endpoints: EndpointSource,
    pub scopes: Vec<String>,
    pub scope_param: String,
    pub scope_separator: String,
    pub client_id_param: String,
    pub authorization_params: BTreeMap<String, String>,
    /// Sent with every request to the provider (Reddit's required descriptive User-Agent).
    pub http_headers: Vec<(String, String)>,
    /// A top-level boolean that is false on failure, with the error code in `error` (Slack
    /// answers HTTP 200 `{"ok": false, "error": …}`).
    pub ok_field: Option<String>,
    pub token_response: TokenResponseShape,
    pub refresh: RefreshModel,
    /// Error codes of a refresh answer that mean the grant is gone for good (RFC 6749 §5.2
    /// `invalid_grant`; Slack says `invalid_refresh_token`): the integration becomes `expired`
    /// and leaves the refresh index, rather than being retried forever.
    pub dead_grant_errors: Vec<String>,
    /// Error codes that mean "busy, try later" though sent as a 4xx (Meta's rate limits, Graph
    /// codes 4, 17, 32, 613): backed off and retried like a 429, never recorded as a refusal.
    pub busy_errors: Vec<String>,
    pub long_lived: Option<LongLived>,
    pub userinfo: Userinfo,
    /// The calendar to sync; None for providers without one.
    pub calendar: Option<CalendarSource>,
    /// None when the deployment has no credentials for it: listed, but not connectable.
    pub credentials: Option<ClientCredentials>,
}

/// Whether stored tokens can be renewed now.
#[derive(Debug, PartialEq, Eq)]
pub enum Renewal {
    Possible,
    /// Nothing to renew with, or not yet (Instagram's 24 h).
    NotPossible,
}

impl Provider {
    /// Credentials present and endpoints resolvable: connectable.
    pub fn is_configured(&self) -> bool {
        self.credentials.is_some() && !matches!(self.endpoints, EndpointSource::Unavailable(_))
    }

    /// Tokens the refresh index should track: they expire and this provider can renew them.
    pub fn renews(&self, tokens: &TokenSet) -> bool {
        tokens.expires_at.is_some()
            && match self.refresh {
                RefreshModel::Standard | RefreshModel::Rotating => tokens.refresh_token.is_some(),
                RefreshModel::LongLived => true,
                RefreshModel::None => false,
            }
    }

    /// How long before expiry renewal is due (0 but for `long_lived`'s `renew_before_secs`).
    pub fn renew_lead_secs(&self) -> i64 {
        match (&self.refresh, &self.long_lived) {
            (RefreshModel::LongLived, Some(l)) => l.renew_before_secs,
            _ => 0,
        }
    }

    /// When the refresh index offers these tokens for renewal; None for tokens it never should.
    pub fn refresh_at(&self, tokens: &TokenSet) -> Option<i64> {
        let expires_at = tokens.expires_at.filter(|_| self.renews(tokens))?;
        let due = expires_at - self.renew_lead_secs();
        // Not before it may be renewed at all (Instagram's 24 h).
        let earliest = match (&self.long_lived, tokens.issued_at) {
            (Some(l), Some(issued)) => issued + l.refresh_after_secs,
            _ => due,
        };
        Some(due.max(earliest).min(expires_at))
    }

    pub fn renewal(&self, tokens: &TokenSet, now: i64) -> Renewal {
        let possible = match self.refresh {
            RefreshModel::Standard | RefreshModel::Rotating => tokens.refresh_token.is_some(),
            RefreshModel::None => false,
            // Instagram: "at least 24 hours old but have not expired".
            RefreshModel::LongLived => {
                let after = self.long_lived.as_ref().map_or(0, |l| l.refresh_after_secs);
                let old_enough = tokens.issued_at.is_none_or(|at| at + after <= now);
                let unexpired = tokens.expires_at.is_none_or(|at| at > now);
                old_enough && unexpired
            }
        };
        if possible {
            Renewal::Possible
        } else {
            Renewal::NotPossible
        }
    }

    /// A refresh refused because the grant is gone (not a passing failure).
    pub fn grant_is_dead(&self, error: &crate::oauth::ProviderError) -> bool {
        matches!(error, crate::oauth::ProviderError::Rejected { error } if self.dead_grant_errors.contains(error))
    }

    /// The scopes as the authorization URL carries them.
    pub fn scope_value(&self, scopes: &[String]) -> String {
        scopes.join(&self.scope_separator)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("provider catalogue {source_name} is not valid TOML: {problem}")]
    Syntax {
        source_name: String,
        problem: String,
    },
    #[error("provider catalogue file {path}: {problem}")]
    File { path: String, problem: String },
    #[error("provider `{entry}`: field `{field}`: {problem}")]
    Field {
        entry: String,
        field: String,
        problem: String,
    },
    #[error("provider `{entry}`: {problem}")]
    Entry { entry: String, problem: String },
}

pub struct ProviderCatalogue {
    providers: BTreeMap<ProviderId, Provider>,
}

type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

impl ProviderCatalogue {
    /// The embedded catalogue, then the entries of `PROVIDER_CATALOGUE_FILE` if set (an entry
    /// there replaces the embedded one of the same id), with credentials and `${VAR}` values
    /// looked up by `env`.
    pub fn load(env: Env<'_>) -> Result<Self, CatalogueError> {
        let extra = match env(OVERRIDE_FILE_VAR).filter(|p| !p.is_empty()) {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| CatalogueError::File {
                    path: path.clone(),
                    problem: e.to_string(),
                })?;
                Some((path, text))
            }
            None => None,
        };
        Self::parse_layers(
            &[("(embedded)", EMBEDDED)]
                .into_iter()
                .chain(extra.as_ref().map(|(p, t)| (p.as_str(), t.as_str())))
                .collect::<Vec<_>>(),
            env,
        )
    }

    /// One catalogue text.
    pub fn parse(text: &str, env: Env<'_>) -> Result<Self, CatalogueError> {
        Self::parse_layers(&[("(text)", text)], env)
    }

    /// Catalogue texts in order; a later entry replaces an earlier one of the same id.
    pub fn parse_layers(layers: &[(&str, &str)], env: Env<'_>) -> Result<Self, CatalogueError> {
        let mut raw: BTreeMap<String, toml::Value> = BTreeMap::new();
        for (source_name, text) in layers {
            let layer: BTreeMap<String, toml::Value> =
                toml::from_str(text).map_err(|e| CatalogueError::Syntax {
                    source_name: source_name.to_string(),
                    problem: e.message().to_string(),
                })?;
            raw.extend(layer);
        }
        let mut providers = BTreeMap::new();
        for (name, value) in raw {
            let id = ProviderId::parse(&name).map_err(|e| CatalogueError::Entry {
                entry: name.clone(),
                problem: e.to_string(),
            })?;
            let entry: RawEntry = serde_path_to_error::deserialize(value).map_err(
                |e: serde_path_to_error::Error<toml::de::Error>| {
                    let field = e.path().to_string();
                    let problem = e.into_inner().message().to_string();
                    if field == "." {
                        CatalogueError::Entry {
                            entry: name.clone(),
                            problem,
                        }
                    } else {
                        CatalogueError::Field {
                            entry: name.clone(),
                            field,
                            problem,
                        }
                    }
                },
            )?;
            let provider = resolve(id.clone(), entry, env)?;
            providers.insert(id, provider);
        }
        Ok(Self { providers })
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        let id = ProviderId::parse(id).ok()?;
        self.providers.get(&id)
    }

    pub fn all(&self) -> impl Iterator<Item = &Provider> {
        self.providers.values()
    }
}

/// An entry's values checked one field at a time, each failure naming the entry and field.
struct Checker<'a> {
    entry: String,
    env: Env<'a>,
    /// The first `${VAR}` found unset, if any (see [`EndpointSource::Unavailable`]).
    missing_var: std::cell::RefCell<Option<(String, String)>>,
}

impl Checker<'_> {
    fn field(&self, field: &str, problem: impl Into<String>) -> CatalogueError {
        CatalogueError::Field {
            entry: self.entry.clone(),
            field: field.to_string(),
            problem: problem.into(),
        }
    }

    fn expand(&self, field: &str, value: &str) -> Result<String, CatalogueError> {
        expand(value, self.env).map_err(|problem| {
            if let Some(var) = problem.strip_prefix(UNSET_PREFIX) {
                self.missing_var
                    .borrow_mut()
                    .get_or_insert_with(|| (field.to_string(), var.to_string()));
            }
            self.field(field, problem)
        })
    }

    /// An endpoint URL: HTTPS (RFC 6749 §3.1, RFC 7009 §2), plain HTTP only on loopback.
    fn url(&self, field: &str, value: &str) -> Result<Url, CatalogueError> {
        let expanded = self.expand(field, value)?;
        let parsed = Url::parse(&expanded)
            .map_err(|e| self.field(field, format!("`{expanded}` is not a URL: {e}")))?;
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && is_loopback(&parsed)) {
            return Err(self.field(
                field,
                format!("`{expanded}` must be https (plain http only on loopback)"),
            ));
        }
        Ok(parsed)
    }

    fn pointer(&self, field: &str, pointer: &str) -> Result<(), CatalogueError> {
        if pointer.is_empty() || pointer.starts_with('/') {
            Ok(())
        } else {
            Err(self.field(
                field,
                format!("`{pointer}` is not a JSON pointer (\"\" or starting with /)"),
            ))
        }
    }

    fn headers(
        &self,
        field: &str,
        headers: &BTreeMap<String, String>,
    ) -> Result<Vec<(String, String)>, CatalogueError> {
        headers
            .iter()
            .map(|(name, value)| {
                let field = format!("{field}.{name}");
                let value = self.expand(&field, value)?;
                reqwest::header::HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| self.field(&field, "not a valid header name"))?;
                reqwest::header::HeaderValue::from_str(&value)
                    .map_err(|_| self.field(&field, "not a valid header value"))?;
                Ok((name.clone(), value))
            })
            .collect()
    }

    fn parameter_name(&self, field: &str, name: &str) -> Result<(), CatalogueError> {
        let ok = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
        if ok {
            Ok(())
        } else {
            Err(self.field(field, format!("`{name}` is not a parameter name")))
        }
    }
}

fn resolve(id: ProviderId, raw: RawEntry, env: Env<'_>) -> Result<Provider, CatalogueError> {
    let check = Checker {
        entry: id.as_str().to_string(),
        env,
        missing_var: Default::default(),
    };
    if raw.display_name.trim().is_empty() {
        return Err(check.field("display_name", "must not be empty"));
    }
    for (field, pointers) in [
        ("userinfo.id", &raw.userinfo.id),
        ("userinfo.email", &raw.userinfo.email),
        ("userinfo.name", &raw.userinfo.name),
    ] {
        for p in pointers {
            check.pointer(field, p)?;
        }
    }
    for (field, pointers) in [
        ("token_response.code_path", &raw.token_response.code_path),
        (
            "token_response.refresh_path",
            &raw.token_response.refresh_path,
        ),
    ] {
        if pointers.is_empty() {
            return Err(check.field(field, "needs at least one pointer"));
        }
        for p in pointers {
            check.pointer(field, p)?;
        }
    }
    if raw.userinfo.id.iter().all(String::is_empty) {
        return Err(check.field("userinfo.id", "must point into the answer"));
    }
    check.parameter_name("scope_param", &raw.scope_param)?;
    check.parameter_name("client_id_param", &raw.client_id_param)?;
    if raw.scope_separator.is_empty() {
        return Err(check.field("scope_separator", "must not be empty"));
    }
    if raw
        .token_response
        .default_expires_in
        .is_some_and(|s| s <= 0)
    {
        return Err(check.field("token_response.default_expires_in", "must be positive"));
    }
    if raw.authorization_response_iss == Some(true) && raw.issuer.is_none() {
        return Err(check.field(
            "authorization_response_iss",
            "needs `issuer` to compare against",
        ));
    }
    match (raw.refresh, &raw.long_lived) {
        (RefreshModel::LongLived, None) => {
            return Err(check.field("long_lived", "`refresh = \"long_lived\"` needs this table"));
        }
        (model, Some(_)) if model != RefreshModel::LongLived => {
            return Err(check.field("long_lived", "only for `refresh = \"long_lived\"`"));
        }
        _ => {}
    }

    let prefix = id.env_prefix();
    let credentials = match (
        env(&format!("{prefix}_CLIENT_ID")),
        env(&format!("{prefix}_CLIENT_SECRET")),
    ) {
        (Some(client_id), Some(secret)) if !client_id.is_empty() && !secret.is_empty() => {
            Some(ClientCredentials {
                client_id,
                client_secret: SecretString::from(secret),
            })
        }
        _ => None,
    };

    match resolved_parts(&raw, &check) {
        Ok(parts) => Ok(assemble(id, raw, parts, credentials)),
        Err(error) => {
            // An entry a deployment does not use may refer to variables it never set (the
            // generic `oidc` entry's OIDC_ISSUER): listed as unconfigured, not a start-up failure.
            let missing = check.missing_var.borrow().clone();
            match (missing, credentials) {
                (Some((field, var)), None) => Ok(unavailable(
                    id,
                    raw,
                    format!("`{field}` needs {var}, which is not set"),
                )),
                _ => Err(error),
            }
        }
    }
}

/// What an entry's values become once the environment is read.
struct ResolvedParts {
    endpoints: EndpointSource,
    long_lived: Option<LongLived>,
    calendar: Option<CalendarSource>,
    documentation: Option<Url>,
    http_headers: Vec<(String, String)>,
    userinfo_headers: Vec<(String, String)>,
}

fn resolved_parts(raw: &RawEntry, check: &Checker<'_>) -> Result<ResolvedParts, CatalogueError> {
    Ok(ResolvedParts {
        endpoints: endpoint_source(raw, check)?,
        long_lived: match &raw.long_lived {
            Some(l) => Some(LongLived {
                exchange_url: check.url("long_lived.exchange_url", &l.exchange_url)?,
                exchange_grant_type: l.exchange_grant_type.clone(),
                refresh_url: check.url("long_lived.refresh_url", &l.refresh_url)?,
                refresh_grant_type: l.refresh_grant_type.clone(),
                refresh_after_secs: l.refresh_after_secs.max(0),
                renew_before_secs: l.renew_before_secs.max(0),
            }),
            None => None,
        },
        calendar: match &raw.calendar {
            Some(c) => Some(CalendarSource {
                api: c.api,
                events_url: check.url("calendar.events_url", &c.events_url)?,
            }),
            None => None,
        },
        documentation: match &raw.documentation {
            Some(d) => Some(check.url("documentation", d)?),
            None => None,
        },
        http_headers: check.headers("http_headers", &raw.http_headers)?,
        userinfo_headers: check.headers("userinfo.headers", &raw.userinfo.headers)?,
    })
}

fn assemble(
    id: ProviderId,
    raw: RawEntry,
    parts: ResolvedParts,
    credentials: Option<ClientCredentials>,
) -> Provider {
    Provider {
        id,
        display_name: raw.display_name,
        documentation: parts.documentation,
        endpoints: parts.endpoints,
        scopes: raw.scopes,
        scope_param: raw.scope_param,
        scope_separator: raw.scope_separator,
        client_id_param: raw.client_id_param,
        authorization_params: raw.authorization_params,
        http_headers: parts.http_headers,
        ok_field: raw.ok_field,
        token_response: raw.token_response,
        refresh: raw.refresh,
        dead_grant_errors: raw.dead_grant_errors,
        busy_errors: raw.busy_errors,
        long_lived: parts.long_lived,
        userinfo: Userinfo {
            method: raw.userinfo.method,
            headers: parts.userinfo_headers,
            token: raw.userinfo.token,
            id: raw.userinfo.id,
            email: raw.userinfo.email,
            name: raw.userinfo.name,
        },
        calendar: parts.calendar,
        credentials,
    }
}

fn endpoint_source(raw: &RawEntry, check: &Checker<'_>) -> Result<EndpointSource, CatalogueError> {
    let optional_url =
        |field: &str, value: &Option<String>| -> Result<Option<Url>, CatalogueError> {
            value.as_deref().map(|v| check.url(field, v)).transpose()
        };
    let revocation = match &raw.revocation {
        Some(r) => {
            let url = check.expand("revocation.url", &r.url)?;
            // Checked as a URL with the placeholder filled in; kept as text to fill in later.
            let probe = url.replace("{client_id}", "client");
            check.url("revocation.url", &probe)?;
            Some(Revocation {
                style: r.style,
                url,
                tokens: r.token.unwrap_or(match r.style {
                    RevocationStyle::Rfc7009 => RevokedTokens::Both,
                    _ => RevokedTokens::Access,
                }),
            })
        }
        None => None,
    };
    if raw.revocation.as_ref().is_some_and(|r| {
        r.style != RevocationStyle::Rfc7009 && r.token == Some(RevokedTokens::Both)
    }) {
        return Err(check.field(
            "revocation.token",
            "only an `rfc7009` revocation sends both tokens",
        ));
    }
    let issuer = optional_url("issuer", &raw.issuer)?;
    let authorization_url = optional_url("authorization_url", &raw.authorization_url)?;
    let token_url = optional_url("token_url", &raw.token_url)?;
    let userinfo_url = optional_url("userinfo.url", &raw.userinfo.url)?;
    if raw.discovery {
        let issuer = issuer.ok_or_else(|| check.field("issuer", "`discovery` needs it"))?;
        // OpenID Connect Discovery 1.0 §4: the document lives under the issuer's path.
        let document_url = Url::parse(&format!(
            "{}/.well-known/openid-configuration",
            issuer.as_str().trim_end_matches('/')
        ))
        .map_err(|e| check.field("issuer", e.to_string()))?;
        return Ok(EndpointSource::Discovery(Box::new(Discovery {
            document_url,
            overrides: EndpointOverrides {
                issuer,
                authorization_response_iss: raw.authorization_response_iss,
                authorization_url,
                token_url,
                userinfo_url,
                revocation,
                pkce: raw.pkce,
                token_auth: raw.token_auth,
            },
            resolved: tokio::sync::OnceCell::new(),
        })));
    }
    let required = |field: &str, url: Option<Url>| {
        url.ok_or_else(|| check.field(field, "required (or `discovery = true`)"))
    };
    Ok(EndpointSource::Static(Arc::new(Endpoints {
        issuer,
        authorization_response_iss: raw.authorization_response_iss.unwrap_or(false),
        authorization_url: required("authorization_url", authorization_url)?,
        token_url: required("token_url", token_url)?,
        userinfo_url: required("userinfo.url", userinfo_url)?,
        revocation,
        pkce: raw.pkce.unwrap_or(Pkce::Supported),
        // RFC 6749 §2.3.1: servers MUST support Basic.
        token_auth: raw.token_auth.unwrap_or(TokenAuth::Basic),
    })))
}

fn unavailable(id: ProviderId, raw: RawEntry, why: String) -> Provider {
    let parts = ResolvedParts {
        endpoints: EndpointSource::Unavailable(why),
        long_lived: None,
        calendar: None,
        documentation: None,
        http_headers: Vec::new(),
        userinfo_headers: Vec::new(),
    };
    assemble(id, raw, parts, None)
}

impl Endpoints {
    /// OpenID Connect Discovery 1.0 §3 / RFC 8414 §2 metadata, with the entry's own values
    /// taking precedence. The document's issuer must be the configured one (Discovery §4.3).
    pub fn from_discovery(
        overrides: &EndpointOverrides,
        document: &serde_json::Value,
    ) -> Result<Self, String> {
        let text = |name: &str| document.get(name).and_then(|v| v.as_str());
        // A remote document must not send our client secret to this machine (Lambda's Runtime
        // API listens on loopback): endpoints there only when the issuer itself is local.
        let local_issuer = is_loopback(&overrides.issuer);
        let url = |name: &str| -> Result<Option<Url>, String> {
            match text(name) {
                None => Ok(None),
                Some(v) => {
                    let u = Url::parse(v).map_err(|e| format!("`{name}`: {e}"))?;
                    let allowed = if is_loopback(&u) {
                        local_issuer && matches!(u.scheme(), "http" | "https")
                    } else {
                        u.scheme() == "https"
                    };
                    if !allowed {
                        return Err(format!("`{name}` must be https, and not on loopback"));
                    }
                    Ok(Some(u))
                }
            }
        };
        let issuer = text("issuer").ok_or("no `issuer`")?;
        if issuer.trim_end_matches('/') != overrides.issuer.as_str().trim_end_matches('/') {
            return Err(format!(
                "document issuer `{issuer}` is not the configured `{}`",
                overrides.issuer
            ));
        }
        let strings = |name: &str| -> Option<Vec<&str>> {
            document
                .get(name)
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
        };
        // PKCE S256 unless the server lists methods without it. RFC 8414 reads an absent list
        // as "no PKCE", but servers that do PKCE leave it out (Entra ID), and RFC 6749 §3.1
        // has the others ignore the unknown parameters; a list without S256 is a clear no.
        let pkce =
            overrides
                .pkce
                .unwrap_or_else(|| match strings("code_challenge_methods_supported") {
                    Some(m) if !m.contains(&"S256") => Pkce::Off,
                    _ => Pkce::Supported,
                });
        // Basic unless the server lists post without it (an absent list means Basic, RFC 8414 §2).
        let token_auth = overrides.token_auth.unwrap_or_else(|| {
            match strings("token_endpoint_auth_methods_supported") {
                Some(m)
                    if !m.contains(&"client_secret_basic") && m.contains(&"client_secret_post") =>
                {
                    TokenAuth::Post
                }
                _ => TokenAuth::Basic,
            }
        });
        let revocation = match (&overrides.revocation, url("revocation_endpoint")?) {
            (Some(r), _) => Some(r.clone()),
            (None, Some(u)) => Some(Revocation {
                style: RevocationStyle::Rfc7009,
                url: u.to_string(),
                tokens: RevokedTokens::Both,
            }),
            (None, None) => None,
        };
        let pick = |given: &Option<Url>, name: &str| -> Result<Url, String> {
            match given {
                Some(u) => Ok(u.clone()),
                None => url(name)?.ok_or_else(|| format!("no `{name}`")),
            }
        };
        Ok(Self {
            issuer: Some(overrides.issuer.clone()),
            authorization_response_iss: overrides.authorization_response_iss.unwrap_or_else(|| {
                document
                    .get("authorization_response_iss_parameter_supported")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false)
            }),
            authorization_url: pick(&overrides.authorization_url, "authorization_endpoint")?,
            token_url: pick(&overrides.token_url, "token_endpoint")?,
            userinfo_url: pick(&overrides.userinfo_url, "userinfo_endpoint")?,
            revocation,
            pkce,
            token_auth,
        })
    }
}

/// This machine: where local servers (and, in Lambda, the Runtime API) listen.
fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

const UNSET_PREFIX: &str = "environment variable is not set: ";

/// Expands `${VAR}` and `${VAR:-default}`.
fn expand(value: &str, env: Env<'_>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or_else(|| format!("unclosed `${{` in `{value}`"))?
            + start;
        let inner = &rest[start + 2..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match env(name)
            .filter(|v| !v.is_empty())
            .or_else(|| default.map(str::to_string))
        {
            Some(v) => out.push_str(v.trim_end_matches('/')),
            None => return Err(format!("{UNSET_PREFIX}{name}")),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
#[path = "tests/catalogue.rs"]
mod tests;
