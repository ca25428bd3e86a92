//! A headless "browser" for the local OAuth server: follows redirects with a cookie jar and
//! submits its login and consent forms, until the provider redirects back to our callback.

use lambda_http::http::Method;
use url::Url;

use crate::{API_BASE, RequestBuilder, request};

/// Where the provider sent the browser back: our callback URL with its query.
pub struct ProviderRedirect {
    pub url: Url,
}

impl ProviderRedirect {
    pub fn param(&self, name: &str) -> Option<String> {
        self.url
            .query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    /// The GET callback request API Gateway would pass to the callback function.
    pub fn callback_request(&self) -> RequestBuilder {
        let mut builder = request(Method::GET, self.url.path());
        for (k, v) in self.url.query_pairs() {
            builder = builder.query(&k, &v);
        }
        builder
    }
}

/// The `state` parameter of an authorization URL.
pub fn state_of(auth_url: &str) -> String {
    let url = Url::parse(auth_url).unwrap_or_else(|e| panic!("not a URL: {auth_url}: {e}"));
    url.query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Logs in as `login` (any password) and consents; panics with the page when a step fails.
pub async fn authorize(auth_url: &str, login: &str) -> ProviderRedirect {
    try_authorize(auth_url, login)
        .await
        .unwrap_or_else(|e| panic!("authorization at the local OAuth server failed: {e:#}"))
}

pub async fn try_authorize(auth_url: &str, login: &str) -> anyhow::Result<ProviderRedirect> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut next = Url::parse(auth_url)?;
    // Back at the client when the provider redirects to the authorization request's
    // redirect_uri (the tests' API_BASE, or a running dev system's).
    let back = next
        .query_pairs()
        .find(|(k, _)| k == "redirect_uri")
        .map_or_else(|| API_BASE.to_string(), |(_, v)| v.into_owned());
    let mut response = client.get(next.clone()).send().await?;
    for _ in 0..20 {
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .ok_or_else(|| anyhow::anyhow!("redirect without Location"))?;
            next = next.join(location)?;
            if next.as_str().starts_with(&back) {
                return Ok(ProviderRedirect { url: next });
            }
            response = client.get(next.clone()).send().await?;
            continue;
        }
        let page = response.text().await?;
        if !status.is_success() {
            anyhow::bail!("{next} answered {status}: {page}");
        }
        let action = attribute_after(&page, "<form", "action")
            .ok_or_else(|| anyhow::anyhow!("no form on {next}: {page}"))?;
        let target = next.join(&action)?;
        let form: Vec<(&str, &str)> = if page.contains(r#"name="login""#) {
            vec![
                ("prompt", "login"),
                ("login", login),
                ("password", "any-password"),
            ]
        } else {
            vec![("prompt", "consent")]
        };
        response = client.post(target.clone()).form(&form).send().await?;
        next = target;
    }
    anyhow::bail!("too many steps before the redirect back to {back}")
}

/// The value of `attribute` in the first `tag` element of `html`.
fn attribute_after(html: &str, tag: &str, attribute: &str) -> Option<String> {
    let start = html.find(tag)?;
    let element = &html[start..start + html[start..].find('>')?];
    let key = format!("{attribute}=\"");
    let from = element.find(&key)? + key.len();
    let value = &element[from..from + element[from..].find('"')?];
    Some(value.replace("&amp;", "&"))
}

/// RFC 7662 introspection at the local OAuth server: is `token` active?
pub async fn introspect(
    oauth_url: &str,
    client_id: &str,
    client_secret: &str,
    token: &str,
) -> bool {
    let response = reqwest::Client::new()
        .post(format!("{oauth_url}/token/introspection"))
        .basic_auth(client_id, Some(client_secret))
        .form(&[("token", token)])
        .send()
        .await
        .and_then(|r| r.error_for_status());
    match response {
        Ok(r) => r
            .json::<serde_json::Value>()
            .await
            .map(|v| v["active"] == true)
            .unwrap_or(false),
        Err(e) => panic!("introspection failed: {e}"),
    }
}
