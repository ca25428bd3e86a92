//! From a raw entry to a [`Provider`]: `${VAR}` expansion, the credentials secret's name from the
//! environment,
//! and a check of every value, each failure naming the entry and the field.

use std::collections::BTreeMap;

use url::Url;

use super::model::*;
use super::schema::RawEntry;
use super::{CatalogueError, Env};
use crate::ids::ProviderId;
use std::sync::Arc;

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

pub(super) fn resolve(
    id: ProviderId,
    raw: RawEntry,
    env: Env<'_>,
) -> Result<Provider, CatalogueError> {
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
        ("userinfo.avatar", &raw.userinfo.avatar),
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

    // The *name* of the provider's credentials secret, never the credentials: they are read
    // from Secrets Manager at first use (crate::secrets).
    let credentials =
        env(&format!("{}_CREDENTIALS_SECRET", id.env_prefix())).filter(|v| !v.is_empty());

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
    contacts: Option<ContactsSource>,
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
            Some(c) => {
                let events_url = check.url("calendar.events_url", &c.events_url)?;
                let write_url = match &c.write_url {
                    Some(url) => check.url("calendar.write_url", url)?,
                    None => events_url.clone(),
                };
                Some(CalendarSource {
                    api: c.api,
                    events_url,
                    default_sync: c.default_sync,
                    write_url,
                    write_scopes: c.write_scopes.clone(),
                })
            }
            None => None,
        },
        contacts: match &raw.contacts {
            Some(c) => Some(ContactsSource {
                api: c.api,
                url: check.url("contacts.url", &c.url)?,
                scopes: c.scopes.clone(),
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
    credentials: Option<String>,
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
            avatar: raw.userinfo.avatar,
        },
        calendar: parts.calendar,
        contacts: parts.contacts,
        credentials_secret: credentials,
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

pub(super) fn unavailable(id: ProviderId, raw: RawEntry, why: String) -> Provider {
    let parts = ResolvedParts {
        endpoints: EndpointSource::Unavailable(why),
        long_lived: None,
        calendar: None,
        contacts: None,
        documentation: None,
        http_headers: Vec::new(),
        userinfo_headers: Vec::new(),
    };
    assemble(id, raw, parts, None)
}

/// This machine: where local servers (and, in Lambda, the Runtime API) listen.
pub(super) fn is_loopback(url: &Url) -> bool {
    matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

pub(super) const UNSET_PREFIX: &str = "environment variable is not set: ";

/// Expands `${VAR}` and `${VAR:-default}`.
pub(super) fn expand(value: &str, env: Env<'_>) -> Result<String, String> {
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
