//! The mechanisms catalogue entries select, as pure functions over requests and answers: the
//! authorization URL, the token request's form and client authentication, and reading a token
//! endpoint's answer wherever the provider puts the token. Unit-tested in tests/oauth_wire.rs.

use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::{ProviderError, TokenSet};
use crate::catalogue::{
    ClientCredentials, Endpoints, Provider, Revocation, RevocationStyle, RevokedTokens, TokenAuth,
    TokenPlacement, UserinfoMethod,
};

/// A request to a provider as the entry describes it; `OAuthHttp` sends it. (No `Debug`: it
/// carries credentials and tokens.)
pub struct ProviderRequest {
    pub method: reqwest::Method,
    pub url: Url,
    /// Set on the request, replacing any of the same name.
    pub headers: Vec<(String, String)>,
    pub body: RequestBody,
}

pub enum RequestBody {
    None,
    Form(Vec<(String, String)>),
    Json(serde_json::Value),
}

impl ProviderRequest {
    fn new(method: reqwest::Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: vec![("Accept".into(), "application/json".into())],
            body: RequestBody::None,
        }
    }

    /// Sets a header, replacing one of the same name.
    fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The longest token lifetime believed (ten years); Instagram's 60 days and the longest-lived
/// providers' tokens are well within it.
pub const MAX_TOKEN_LIFETIME_SECS: i64 = 10 * 365 * 24 * 3600;

/// The userinfo request: the entry's method, the token as a bearer or in the query, the
/// entry's headers over ours (GitHub's `Accept: application/vnd.github+json`).
pub fn userinfo_request(
    provider: &Provider,
    endpoints: &Endpoints,
    access_token: &SecretString,
) -> ProviderRequest {
    let userinfo = &provider.userinfo;
    let method = match userinfo.method {
        UserinfoMethod::Get => reqwest::Method::GET,
        UserinfoMethod::Post => reqwest::Method::POST,
    };
    let mut request = ProviderRequest::new(method, endpoints.userinfo_url.clone());
    match userinfo.token {
        TokenPlacement::Bearer => {
            request = request.header(
                "Authorization",
                format!("Bearer {}", access_token.expose_secret()),
            )
        }
        TokenPlacement::Query => {
            request
                .url
                .query_pairs_mut()
                .append_pair("access_token", access_token.expose_secret());
        }
    }
    for (name, value) in &userinfo.headers {
        request = request.header(name, value.clone());
    }
    request
}

/// The requests that end a grant, in the provider's style: one, or two for RFC 7009 with both
/// tokens (the refresh token first: at RFC 7009 servers it ends the whole grant).
pub fn revocation_requests(
    provider: &Provider,
    endpoints: &Endpoints,
    revocation: &Revocation,
    credentials: &ClientCredentials,
    tokens: &TokenSet,
) -> Result<Vec<ProviderRequest>, url::ParseError> {
    let url = revocation.url_for(&credentials.client_id)?;
    let access = tokens.access_token.expose_secret();
    let requests = match revocation.style {
        RevocationStyle::Rfc7009 => {
            let mut pairs = Vec::new();
            if revocation.tokens == RevokedTokens::Both
                && let Some(refresh) = &tokens.refresh_token
            {
                pairs.push((refresh.expose_secret(), "refresh_token"));
            }
            pairs.push((access, "access_token"));
            pairs
                .into_iter()
                .map(|(token, hint)| {
                    let mut form = vec![
                        ("token".to_string(), token.to_string()),
                        ("token_type_hint".to_string(), hint.to_string()),
                    ];
                    let mut request = ProviderRequest::new(reqwest::Method::POST, url.clone());
                    // Client authentication as at the token endpoint.
                    match endpoints.token_auth {
                        TokenAuth::Basic => {
                            request =
                                request.header("Authorization", basic_credentials(credentials))
                        }
                        TokenAuth::Post => {
                            form.push((
                                provider.client_id_param.clone(),
                                credentials.client_id.clone(),
                            ));
                            form.push((
                                "client_secret".into(),
                                credentials.client_secret.expose_secret().to_string(),
                            ));
                        }
                    }
                    request.body = RequestBody::Form(form);
                    request
                })
                .collect()
        }
        RevocationStyle::TokenQuery => {
            let mut request = ProviderRequest::new(reqwest::Method::POST, url)
                .header("Authorization", basic_credentials(credentials));
            request.url.query_pairs_mut().append_pair("token", access);
            vec![request]
        }
        RevocationStyle::Bearer => vec![
            ProviderRequest::new(reqwest::Method::POST, url)
                .header("Authorization", format!("Bearer {access}")),
        ],
        RevocationStyle::GrantDelete => {
            // A REST API, not an OAuth endpoint: plain RFC 7617 Basic, no form-encoding.
            use base64::Engine;
            let pair = format!(
                "{}:{}",
                credentials.client_id,
                credentials.client_secret.expose_secret()
            );
            let basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            );
            let mut request =
                ProviderRequest::new(reqwest::Method::DELETE, url).header("Authorization", basic);
            request.body = RequestBody::Json(serde_json::json!({ "access_token": access }));
            vec![request]
        }
    };
    Ok(requests)
}

/// The authorization request (RFC 6749 §4.1.1) in the provider's dialect: its client id
/// parameter name, scope parameter and separator, extra parameters, and PKCE S256 (RFC 7636)
/// unless the provider has it off. Returns the URL and the PKCE verifier to keep.
pub fn authorization_url(
    provider: &Provider,
    endpoints: &Endpoints,
    client_id: &str,
    redirect_uri: &str,
    state: &str,
    scopes: &[String],
) -> (Url, Option<SecretString>) {
    let mut url = endpoints.authorization_url.clone();
    let mut verifier = None;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair(&provider.client_id_param, client_id)
            .append_pair("redirect_uri", redirect_uri);
        if !scopes.is_empty() {
            query.append_pair(&provider.scope_param, &provider.scope_value(scopes));
        }
        query.append_pair("state", state);
        if endpoints.pkce.sent() {
            let (challenge, pkce_verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
            query
                .append_pair("code_challenge", challenge.as_str())
                .append_pair("code_challenge_method", challenge.method().as_str());
            verifier = Some(SecretString::from(pkce_verifier.secret().clone()));
        }
        for (name, value) in &provider.authorization_params {
            query.append_pair(name, value);
        }
    }
    (url, verifier)
}

/// What a token request asks for.
pub enum Grant<'a> {
    Code {
        code: &'a str,
        redirect_uri: &'a str,
        verifier: Option<&'a SecretString>,
    },
    Refresh {
        refresh_token: &'a SecretString,
    },
}

/// The token request (RFC 6749 §4.1.3, §6): the grant's form, the client authenticated by
/// Basic or in the form under the entry's parameter name.
pub fn token_request(
    provider: &Provider,
    endpoints: &Endpoints,
    credentials: &ClientCredentials,
    grant: Grant<'_>,
) -> ProviderRequest {
    let mut form: Vec<(String, String)> = Vec::new();
    let mut push = |k: &str, v: &str| form.push((k.to_string(), v.to_string()));
    match grant {
        Grant::Code {
            code,
            redirect_uri,
            verifier,
        } => {
            push("grant_type", "authorization_code");
            push("code", code);
            push("redirect_uri", redirect_uri);
            if let Some(v) = verifier {
                push("code_verifier", v.expose_secret());
            }
        }
        Grant::Refresh { refresh_token } => {
            push("grant_type", "refresh_token");
            push("refresh_token", refresh_token.expose_secret());
        }
    }
    let mut request = ProviderRequest::new(reqwest::Method::POST, endpoints.token_url.clone());
    match endpoints.token_auth {
        TokenAuth::Basic => {
            request = request.header("Authorization", basic_credentials(credentials));
        }
        TokenAuth::Post => {
            push(&provider.client_id_param, &credentials.client_id);
            push("client_secret", credentials.client_secret.expose_secret());
        }
    }
    request.body = RequestBody::Form(form);
    request
}

/// RFC 6749 §2.3.1: id and secret are form-encoded, then joined and Base64-encoded.
pub fn basic_credentials(credentials: &ClientCredentials) -> String {
    use base64::Engine;
    let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let pair = format!(
        "{}:{}",
        encode(&credentials.client_id),
        encode(credentials.client_secret.expose_secret())
    );
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A provider's answer as JSON: JSON, or a form-encoded body (GitHub's default answer) read as
/// an object of strings.
pub fn answer_body(content_type: Option<&str>, body: &[u8]) -> Option<serde_json::Value> {
    let form = content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if !form && let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        return Some(value);
    }
    let text = std::str::from_utf8(body).ok()?;
    if text.trim_start().starts_with('<') || !text.contains('=') {
        return None;
    }
    let object: serde_json::Map<String, serde_json::Value> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), serde_json::Value::String(v.into_owned())))
        .collect();
    Some(serde_json::Value::Object(object))
}

/// The error an answer carries, whatever its HTTP status: RFC 6749 §5.2 `error` (GitHub and
/// Reddit send some with HTTP 200), Slack's `ok: false`, or Meta's `error_type` / `error`
/// object. Only the code, cut short: descriptions are free text from the provider.
pub fn answer_error(provider: &Provider, body: &serde_json::Value) -> Option<String> {
    let short = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .take(64)
            .collect()
    };
    if let Some(field) = &provider.ok_field
        && body.get(field).and_then(|v| v.as_bool()) == Some(false)
    {
        let code = body
            .get("error")
            .and_then(|e| e.as_str())
            .unwrap_or("ok_false");
        return Some(short(code));
    }
    match body.get("error") {
        Some(serde_json::Value::String(code)) if !code.is_empty() => return Some(short(code)),
        Some(serde_json::Value::Object(object)) => {
            // Graph-style {"error": {"type", "code", "message"}}: `OAuthException.190` (the
            // numeric code is what tells an invalid token from a rate limit).
            let kind = object.get("type").and_then(|v| v.as_str()).map(short);
            let number = object.get("code").map(|c| short(&c.to_string()));
            let code = match (kind, number) {
                (Some(kind), Some(number)) => format!("{kind}.{number}"),
                (Some(one), None) | (None, Some(one)) => one,
                (None, None) => "error".into(),
            };
            // TikTok answers every call with {"error": {"code": "ok"}}.
            if code != "ok" {
                return Some(code);
            }
        }
        _ => {}
    }
    body.get("error_type").and_then(|v| v.as_str()).map(short)
}

/// A provider's error code as our error: busy (retried later) when the entry lists it among
/// `busy_errors`, else a refusal.
pub fn refusal(provider: &Provider, status: u16, code: String) -> ProviderError {
    if provider.busy_errors.contains(&code) {
        ProviderError::Busy {
            status,
            retry_after: None,
        }
    } else {
        ProviderError::Rejected { error: code }
    }
}

/// The token set in a token endpoint's answer, at the first of `paths` (JSON pointers; "" for
/// the top level) that holds an `access_token`.
pub fn token_set(
    provider: &Provider,
    body: &serde_json::Value,
    paths: &[String],
    now: i64,
) -> Result<TokenSet, ProviderError> {
    if let Some(error) = answer_error(provider, body) {
        return Err(refusal(provider, 200, error));
    }
    let token_at = |path: &String| {
        let at = body.pointer(path)?;
        let token = at.get("access_token")?.as_str().filter(|s| !s.is_empty())?;
        Some((at, token))
    };
    let (at, access_token) = paths.iter().find_map(token_at).ok_or_else(|| {
        ProviderError::BadResponse(format!("token answer has no access_token at {paths:?}"))
    })?;
    let text = |name: &str| {
        at.get(name)
            .and_then(|v| v.as_str())
            .filter(|s| !s.is_empty())
    };
    let shape = &provider.token_response;
    let lifetime = match at.get("expires_in") {
        Some(serde_json::Value::Number(n)) => n.as_f64(),
        // Some providers send it as a string ("3600").
        Some(serde_json::Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    }
    .filter(|v| v.is_finite() && *v > 0.0)
    .map(|v| shape.expires_in_unit.to_seconds(v))
    .or(shape.default_expires_in)
    // A provider's number is not trusted to be sane: 1e300 must not wrap into the past.
    .map(|secs| secs.clamp(0, MAX_TOKEN_LIFETIME_SECS));
    let scopes = match at.get("scope") {
        Some(serde_json::Value::String(s)) => split_scopes(s),
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    Ok(TokenSet {
        access_token: SecretString::from(access_token.to_string()),
        refresh_token: text("refresh_token").map(|r| SecretString::from(r.to_string())),
        token_type: "Bearer".into(),
        expires_at: lifetime.map(|secs| now.saturating_add(secs)),
        issued_at: Some(now),
        scopes,
    })
}

/// Scope lists come space- or comma-separated (RFC 6749 §3.3; Slack, TikTok and GitHub echo
/// them with commas).
pub fn split_scopes(value: &str) -> Vec<String> {
    value
        .split([' ', ','])
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
#[path = "../tests/oauth_wire.rs"]
mod tests;
