//! Endpoints from an OpenID Connect discovery document (OIDC Discovery 1.0, RFC 8414).

use url::Url;

use super::model::*;
use super::resolve::is_loopback;

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
