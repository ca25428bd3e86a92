//! A resolved catalogue entry: what the OAuth client, the refresh path and the sync read. Plain
//! data; the token-lifecycle rules it implies are in `oauth/lifecycle.rs`, the wire mechanisms
//! its fields select in `oauth/wire.rs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::ids::ProviderId;

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
    /// The schedule a newly connected integration starts with (`calendar.default_sync`).
    pub default_sync: DefaultSync,
    /// The collection events are created in, and under which one is changed or deleted by
    /// id (`calendar.write_url`; Google's is `events_url` itself, Graph's is `/me/events`).
    pub write_url: Url,
    /// Scopes a token needs to write events: named in INSUFFICIENT_SCOPE, for the app to ask
    /// for them at connect (`calendar.write_scopes`).
    pub write_scopes: Vec<String>,
}

/// The wire format of a provider's contacts API (shared/src/sync/contacts.rs).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ContactsApi {
    /// People API `people.connections.list` with pageToken / syncToken (Google, `demo`).
    GooglePeople,
    /// `contacts/delta` with @odata.nextLink / @odata.deltaLink.
    MicrosoftGraph,
}

/// Where a provider's contacts are synced from.
#[derive(Debug, Clone)]
pub struct ContactsSource {
    pub api: ContactsApi,
    pub url: Url,
    /// Scopes a token needs to read them, beyond the entry's default `scopes`: what connect
    /// asks for when the app names `contacts` among its `syncTypes`.
    pub scopes: Vec<String>,
}

/// A new integration's scheduled sync: off until the app turns it on, or on at a frequency.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DefaultSync {
    #[default]
    Off,
    Hourly,
    Daily,
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

pub(super) fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
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
    /// The account's picture URL (the API's `avatarUrl`); kept only when it is an http(s) URL.
    pub avatar: Vec<String>,
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

#[derive(Debug)]
pub struct Discovery {
    pub document_url: Url,
    pub overrides: EndpointOverrides,
    pub resolved: tokio::sync::OnceCell<Arc<Endpoints>>,
}

#[derive(Debug)]
pub enum EndpointSource {
    Static(Arc<Endpoints>),
    /// OpenID Connect Discovery: fetched on first use, once per container.
    Discovery(Box<Discovery>),
    /// An entry whose environment is missing and that has no credentials either: listed, not
    /// usable. (With credentials, a missing variable is a start-up error.)
    Unavailable(String),
}

#[derive(Debug)]
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
    /// The contacts to sync; None for providers without them.
    pub contacts: Option<ContactsSource>,
    /// The name (or ARN) of the Secrets Manager secret holding the client credentials; None
    /// when the deployment has none for it: listed, but not connectable.
    pub credentials_secret: Option<String>,
}

impl Provider {
    /// Credentials present and endpoints resolvable: connectable.
    pub fn is_configured(&self) -> bool {
        self.credentials_secret.is_some()
            && !matches!(self.endpoints, EndpointSource::Unavailable(_))
    }

    /// The scopes as the authorization URL carries them.
    pub fn scope_value(&self, scopes: &[String]) -> String {
        scopes.join(&self.scope_separator)
    }
}
