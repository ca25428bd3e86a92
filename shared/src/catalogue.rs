//! The provider catalogue: providers as data (shared/providers.toml, embedded at build time),
//! resolved against the environment once at cold start.

use std::collections::BTreeMap;

use secrecy::SecretString;
use serde::Deserialize;
use url::Url;

use crate::ids::ProviderId;

const EMBEDDED: &str = include_str!("../providers.toml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    display_name: String,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    authorization_response_iss: bool,
    authorization_url: String,
    token_url: String,
    #[serde(default)]
    revocation_url: Option<String>,
    userinfo_url: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default = "yes")]
    pkce: bool,
    #[serde(default)]
    token_auth: TokenAuth,
    #[serde(default)]
    authorization_params: BTreeMap<String, String>,
    userinfo: UserinfoMapping,
    #[serde(default)]
    calendar: Option<RawCalendar>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCalendar {
    api: CalendarApi,
    events_url: String,
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

fn yes() -> bool {
    true
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum TokenAuth {
    /// HTTP Basic (`client_secret_basic`).
    #[default]
    Basic,
    /// Client id and secret in the form body (`client_secret_post`).
    Post,
}

/// JSON pointers (RFC 6901) into the userinfo response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserinfoMapping {
    pub id: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

pub struct Provider {
    pub id: ProviderId,
    pub display_name: String,
    /// The authorization server's issuer identifier: checked against the callback's RFC 9207 `iss`.
    pub issuer: Option<Url>,
    /// The server sends `iss` in every authorization response (RFC 9207 metadata
    /// `authorization_response_iss_parameter_supported`): a response without it is refused.
    pub authorization_response_iss: bool,
    pub authorization_url: Url,
    pub token_url: Url,
    pub revocation_url: Option<Url>,
    pub userinfo_url: Url,
    pub scopes: Vec<String>,
    pub pkce: bool,
    pub token_auth: TokenAuth,
    pub authorization_params: BTreeMap<String, String>,
    pub userinfo: UserinfoMapping,
    /// The calendar to sync; None for providers without one.
    pub calendar: Option<CalendarSource>,
    /// None when the deployment has no credentials for it: listed, but not connectable.
    pub credentials: Option<ClientCredentials>,
}

#[derive(Debug, thiserror::Error)]
pub enum CatalogueError {
    #[error("provider catalogue is not valid TOML: {0}")]
    Syntax(String),
    #[error("provider `{entry}`: field `{field}`: {problem}")]
    Field {
        entry: String,
        field: &'static str,
        problem: String,
    },
    #[error("provider `{entry}`: {problem}")]
    Entry { entry: String, problem: String },
}

pub struct ProviderCatalogue {
    providers: BTreeMap<ProviderId, Provider>,
}

impl ProviderCatalogue {
    /// The embedded catalogue, with credentials and `${VAR}` values looked up by `env`.
    pub fn load(env: &dyn Fn(&str) -> Option<String>) -> Result<Self, CatalogueError> {
        Self::parse(EMBEDDED, env)
    }

    pub fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, CatalogueError> {
        let raw: BTreeMap<String, toml::Value> =
            toml::from_str(text).map_err(|e| CatalogueError::Syntax(e.to_string()))?;
        let mut providers = BTreeMap::new();
        for (name, value) in raw {
            let id = ProviderId::parse(&name).map_err(|e| CatalogueError::Entry {
                entry: name.clone(),
                problem: e.to_string(),
            })?;
            let entry: RawEntry =
                value
                    .try_into()
                    .map_err(|e: toml::de::Error| CatalogueError::Entry {
                        entry: name.clone(),
                        problem: e.message().to_string(),
                    })?;
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

fn resolve(
    id: ProviderId,
    raw: RawEntry,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Provider, CatalogueError> {
    let entry = id.as_str().to_string();
    let url = |field: &'static str, value: &str| -> Result<Url, CatalogueError> {
        let expanded = expand(value, env).map_err(|problem| CatalogueError::Field {
            entry: entry.clone(),
            field,
            problem,
        })?;
        let parsed = Url::parse(&expanded).map_err(|e| CatalogueError::Field {
            entry: entry.clone(),
            field,
            problem: format!("`{expanded}` is not a URL: {e}"),
        })?;
        // RFC 6749 §3.1 / RFC 7009 §2: endpoints are HTTPS. Plain HTTP only on loopback (local servers).
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
            return Err(CatalogueError::Field {
                entry: entry.clone(),
                field,
                problem: format!("`{expanded}` must be https (plain http only on loopback)"),
            });
        }
        Ok(parsed)
    };
    let userinfo = raw.userinfo.clone();
    for (field, pointer) in [
        ("userinfo.id", Some(&userinfo.id)),
        ("userinfo.email", userinfo.email.as_ref()),
        ("userinfo.name", userinfo.name.as_ref()),
    ] {
        if let Some(p) = pointer
            && !p.starts_with('/')
        {
            return Err(CatalogueError::Field {
                entry: entry.clone(),
                field,
                problem: format!("`{p}` is not a JSON pointer (must start with /)"),
            });
        }
    }
    if raw.authorization_response_iss && raw.issuer.is_none() {
        return Err(CatalogueError::Field {
            entry: entry.clone(),
            field: "authorization_response_iss",
            problem: "needs `issuer` to compare against".into(),
        });
    }
    if raw.display_name.trim().is_empty() {
        return Err(CatalogueError::Field {
            entry: entry.clone(),
            field: "display_name",
            problem: "must not be empty".into(),
        });
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
    Ok(Provider {
        issuer: raw
            .issuer
            .as_deref()
            .map(|u| url("issuer", u))
            .transpose()?,
        authorization_response_iss: raw.authorization_response_iss,
        authorization_url: url("authorization_url", &raw.authorization_url)?,
        token_url: url("token_url", &raw.token_url)?,
        revocation_url: raw
            .revocation_url
            .as_deref()
            .map(|u| url("revocation_url", u))
            .transpose()?,
        userinfo_url: url("userinfo_url", &raw.userinfo_url)?,
        calendar: match &raw.calendar {
            Some(c) => Some(CalendarSource {
                api: c.api,
                events_url: url("calendar.events_url", &c.events_url)?,
            }),
            None => None,
        },
        id,
        display_name: raw.display_name,
        scopes: raw.scopes,
        pkce: raw.pkce,
        token_auth: raw.token_auth,
        authorization_params: raw.authorization_params,
        userinfo,
        credentials,
    })
}

/// Expands `${VAR}` and `${VAR:-default}`.
fn expand(value: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
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
            None => return Err(format!("environment variable {name} is not set")),
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
#[path = "tests/catalogue.rs"]
mod tests;
