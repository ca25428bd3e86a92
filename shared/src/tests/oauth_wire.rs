use secrecy::{ExposeSecret, SecretString};

use super::*;
use crate::catalogue::{EndpointSource, ProviderCatalogue};

fn catalogue() -> ProviderCatalogue {
    let env = |name: &str| -> Option<String> {
        let id = name.split('_').next()?.to_ascii_lowercase();
        // (`oidc` with credentials would need OIDC_ISSUER too.)
        if id == "oidc" {
            return None;
        }
        name.ends_with("_CREDENTIALS_SECRET")
            .then(|| format!("secrets/{id}"))
    };
    ProviderCatalogue::load(&env).unwrap()
}

/// What each provider's credentials secret would hold.
fn credentials(p: &Provider) -> crate::catalogue::ClientCredentials {
    crate::catalogue::ClientCredentials {
        client_id: format!("{}-id", p.id),
        client_secret: SecretString::from(format!("{} secret&+", p.id)),
    }
}

fn endpoints(p: &Provider) -> &Endpoints {
    match &p.endpoints {
        EndpointSource::Static(e) => e,
        _ => panic!("static endpoints"),
    }
}

fn query(url: &Url) -> std::collections::BTreeMap<String, String> {
    url.query_pairs().into_owned().collect()
}

#[test]
fn authorization_urls_speak_each_providers_dialect() {
    let catalogue = catalogue();
    let tiktok = catalogue.get("tiktok").unwrap();
    let scopes = tiktok.scopes.clone();
    let (url, verifier) = authorization_url(
        tiktok,
        endpoints(tiktok),
        "tiktok-id",
        "https://api/cb",
        "st",
        &scopes,
    );
    let q = query(&url);
    assert_eq!(q["client_key"], "tiktok-id");
    assert!(!q.contains_key("client_id") && !q.contains_key("code_challenge"));
    assert_eq!(q["scope"], "user.info.basic,user.info.profile");
    assert!(verifier.is_none());

    let slack = catalogue.get("slack").unwrap();
    let (url, _) = authorization_url(
        slack,
        endpoints(slack),
        "id",
        "https://api/cb",
        "st",
        &slack.scopes,
    );
    let q = query(&url);
    assert_eq!(q["user_scope"], "users:read");
    assert!(!q.contains_key("scope"));

    let google = catalogue.get("google").unwrap();
    let (url, verifier) = authorization_url(
        google,
        endpoints(google),
        "id",
        "https://api/cb",
        "st",
        &google.scopes,
    );
    let q = query(&url);
    assert_eq!(q["code_challenge_method"], "S256");
    assert_eq!(q["access_type"], "offline");
    assert!(q["scope"].contains("openid email"));
    // RFC 7636 §4.2: challenge = BASE64URL(SHA256(verifier)).
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest(verifier.unwrap().expose_secret().as_bytes());
    assert_eq!(
        q["code_challenge"],
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    );
}

#[test]
fn token_requests_authenticate_the_way_the_provider_expects() {
    let catalogue = catalogue();
    let refresh = SecretString::from("rt");
    let tiktok = catalogue.get("tiktok").unwrap();
    let request = token_request(
        tiktok,
        endpoints(tiktok),
        &credentials(tiktok),
        Grant::Refresh {
            refresh_token: &refresh,
        },
    );
    let form = form_of(&request);
    assert_eq!(form["client_key"], "tiktok-id");
    assert_eq!(form["grant_type"], "refresh_token");
    assert!(!form.contains_key("client_id") && request.header_value("Authorization").is_none());
    assert_eq!(
        request.url.as_str(),
        "https://open.tiktokapis.com/v2/oauth/token/"
    );

    let reddit = catalogue.get("reddit").unwrap();
    let request = token_request(
        reddit,
        endpoints(reddit),
        &credentials(reddit),
        Grant::Code {
            code: "c",
            redirect_uri: "https://api/cb",
            verifier: None,
        },
    );
    let form = form_of(&request);
    assert!(!form.contains_key("client_secret") && !form.contains_key("code_verifier"));
    assert_eq!(form["grant_type"], "authorization_code");
    // RFC 6749 §2.3.1: form-encoded before Base64 ("reddit secret&+" → "reddit+secret%26%2B").
    use base64::Engine;
    let basic = request.header_value("Authorization").unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(basic.strip_prefix("Basic ").unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(decoded).unwrap(),
        "reddit-id:reddit+secret%26%2B"
    );
}

#[test]
fn tokens_are_read_wherever_the_provider_puts_them() {
    let catalogue = catalogue();
    let now = 1_000;
    let slack = catalogue.get("slack").unwrap();
    let answer = serde_json::json!({"ok": true, "access_token": "xoxb-bot", "authed_user": {"access_token": "xoxp-user", "refresh_token": "xoxe-1", "expires_in": 43200, "scope": "users:read,users:read.email"}});
    let tokens = token_set(slack, &answer, &slack.token_response.code_path, now).unwrap();
    let top = [String::new()];
    assert_eq!(tokens.access_token.expose_secret(), "xoxp-user");
    assert_eq!(tokens.expires_at, Some(now + 43200));
    assert_eq!(tokens.scopes, ["users:read", "users:read.email"]);
    let refused = serde_json::json!({"ok": false, "error": "invalid_code"});
    assert!(matches!(
        token_set(slack, &refused, &slack.token_response.code_path, now),
        Err(ProviderError::Rejected { error }) if error == "invalid_code"
    ));

    let instagram = catalogue.get("instagram").unwrap();
    let answer = serde_json::json!({"data": [{"access_token": "IG-short", "user_id": "1", "permissions": "instagram_business_basic"}]});
    let paths = &instagram.token_response.code_path;
    let tokens = token_set(instagram, &answer, paths, now).unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "IG-short");
    assert_eq!(tokens.expires_at, None);
    // The flat shape of older Instagram clients is read too.
    let flat = serde_json::json!({"access_token": "IG-flat", "user_id": 1});
    let tokens = token_set(instagram, &flat, paths, now).unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "IG-flat");
    // Nowhere: a bad response, not a panic or a wrong token.
    assert!(matches!(
        token_set(instagram, &serde_json::json!({"data": []}), paths, now),
        Err(ProviderError::BadResponse(_))
    ));
    let meta_error = serde_json::json!({"error_type": "OAuthException", "code": 400, "error_message": "Matching code was not found"});
    assert!(matches!(
        token_set(instagram, &meta_error, paths, now),
        Err(ProviderError::Rejected { error }) if error == "OAuthException"
    ));

    // GitHub: errors with HTTP 200, and a form-encoded answer when JSON was not negotiated.
    let github = catalogue.get("github").unwrap();
    let error = serde_json::json!({"error": "bad_verification_code", "error_description": "The code passed is incorrect or expired."});
    assert!(matches!(
        token_set(github, &error, &top, now),
        Err(ProviderError::Rejected { error }) if error == "bad_verification_code"
    ));
    let form = answer_body(
        Some("application/x-www-form-urlencoded; charset=utf-8"),
        b"access_token=gho_x&scope=repo%2Cgist&token_type=bearer",
    )
    .unwrap();
    let tokens = token_set(github, &form, &top, now).unwrap();
    assert_eq!(tokens.access_token.expose_secret(), "gho_x");
    assert_eq!(tokens.scopes, ["repo", "gist"]);
    assert_eq!(tokens.expires_at, None);
    assert!(answer_body(Some("text/html"), b"<html>502</html>").is_none());
}

#[test]
fn lifetimes_come_as_numbers_strings_other_units_or_not_at_all() {
    let text = |shape: &str| {
        format!(
            "[acme]\ndisplay_name = \"A\"\nauthorization_url = \"https://a.example/a\"\ntoken_url = \"https://a.example/t\"\nuserinfo = {{ url = \"https://a.example/me\", id = \"/id\" }}\n{shape}"
        )
    };
    let env = |_: &str| None;
    let now = 1_000;
    let read = |shape: &str, answer: serde_json::Value| {
        let catalogue = ProviderCatalogue::parse(&text(shape), &env).unwrap();
        let acme = catalogue.get("acme").unwrap();
        token_set(acme, &answer, &[String::new()], now)
            .unwrap()
            .expires_at
    };
    assert_eq!(
        read(
            "",
            serde_json::json!({"access_token": "a", "expires_in": 3600})
        ),
        Some(4600)
    );
    assert_eq!(
        read(
            "",
            serde_json::json!({"access_token": "a", "expires_in": "3600"})
        ),
        Some(4600)
    );
    assert_eq!(
        read(
            "",
            serde_json::json!({"access_token": "a", "expires_in": 3599.9})
        ),
        Some(4599)
    );
    assert_eq!(read("", serde_json::json!({"access_token": "a"})), None);
    assert_eq!(
        read(
            "",
            serde_json::json!({"access_token": "a", "expires_in": "soon"})
        ),
        None
    );
    assert_eq!(
        read(
            "token_response = { expires_in_unit = \"milliseconds\" }",
            serde_json::json!({"access_token": "a", "expires_in": 3_600_000})
        ),
        Some(4600)
    );
    assert_eq!(
        read(
            "token_response = { expires_in_unit = \"minutes\" }",
            serde_json::json!({"access_token": "a", "expires_in": "60"})
        ),
        Some(4600)
    );
    assert_eq!(
        read(
            "token_response = { default_expires_in = 3600 }",
            serde_json::json!({"access_token": "a"})
        ),
        Some(4600)
    );
    // An absurd lifetime is clamped, never wrapped into the past.
    for absurd in [
        serde_json::json!(1e300),
        serde_json::json!("1e300"),
        serde_json::json!(i64::MAX),
    ] {
        assert_eq!(
            read(
                "",
                serde_json::json!({"access_token": "a", "expires_in": absurd})
            ),
            Some(1000 + MAX_TOKEN_LIFETIME_SECS),
            "{absurd}"
        );
    }
}

#[test]
fn provider_errors_are_found_in_every_envelope_but_tiktoks_ok() {
    let catalogue = catalogue();
    let tiktok = catalogue.get("tiktok").unwrap();
    let fine = serde_json::json!({"data": {"user": {"open_id": "o"}}, "error": {"code": "ok", "message": "", "log_id": "x"}});
    assert_eq!(answer_error(tiktok, &fine), None);
    let bad =
        serde_json::json!({"data": {}, "error": {"code": "access_token_invalid", "message": "…"}});
    assert_eq!(
        answer_error(tiktok, &bad).as_deref(),
        Some("access_token_invalid")
    );
    let graph =
        serde_json::json!({"error": {"message": "x", "type": "OAuthException", "code": 190}});
    assert_eq!(
        answer_error(tiktok, &graph).as_deref(),
        Some("OAuthException.190")
    );
    // Free text never passes through: only a short code.
    let noisy = serde_json::json!({"error": "bad code <script> with spaces and a token xoxp-123"});
    let code = answer_error(tiktok, &noisy).unwrap();
    assert!(
        !code.contains(' ') && !code.contains('<') && code.len() <= 64,
        "{code}"
    );
}

fn tokens(access: &str, refresh: Option<&str>) -> TokenSet {
    TokenSet {
        access_token: SecretString::from(access.to_string()),
        refresh_token: refresh.map(|r| SecretString::from(r.to_string())),
        token_type: "Bearer".into(),
        expires_at: None,
        issued_at: None,
        scopes: Vec::new(),
    }
}

fn form_of(request: &ProviderRequest) -> std::collections::BTreeMap<String, String> {
    match &request.body {
        RequestBody::Form(form) => form.iter().cloned().collect(),
        _ => Default::default(),
    }
}

#[test]
fn revocation_requests_follow_each_style() {
    let catalogue = catalogue();
    let revoke = |id: &str, t: &TokenSet| {
        let p = catalogue.get(id).unwrap();
        let e = endpoints(p);
        revocation_requests(p, e, e.revocation.as_ref().unwrap(), &credentials(p), t).unwrap()
    };
    let both = tokens("at", Some("rt"));

    // RFC 7009, both tokens, refresh token first; credentials as at the token endpoint.
    let google = revoke("google", &both);
    assert_eq!(google.len(), 2);
    assert_eq!(form_of(&google[0])["token"], "rt");
    assert_eq!(form_of(&google[0])["token_type_hint"], "refresh_token");
    assert_eq!(form_of(&google[1])["token"], "at");
    assert_eq!(form_of(&google[1])["client_secret"], "google secret&+");
    let reddit = revoke("reddit", &both);
    assert!(
        reddit[0]
            .header_value("Authorization")
            .unwrap()
            .starts_with("Basic ")
    );
    assert!(!form_of(&reddit[0]).contains_key("client_secret"));
    // TikTok: the access token only, with client_key.
    let tiktok = revoke("tiktok", &both);
    assert_eq!(tiktok.len(), 1);
    assert_eq!(form_of(&tiktok[0])["token"], "at");
    assert_eq!(form_of(&tiktok[0])["client_key"], "tiktok-id");

    // Zoom: POST ?token=, Basic (RFC 6749 form-encoded credentials).
    let zoom = revoke("zoom", &both);
    assert_eq!(zoom[0].method, reqwest::Method::POST);
    assert_eq!(zoom[0].url.query(), Some("token=at"));
    assert_eq!(
        zoom[0].header_value("Authorization"),
        Some(basic_credentials(&credentials(catalogue.get("zoom").unwrap())).as_str())
    );

    // Slack: the token revokes itself, as the bearer.
    let slack = revoke("slack", &both);
    assert_eq!(slack[0].header_value("Authorization"), Some("Bearer at"));
    assert!(matches!(slack[0].body, RequestBody::None));

    // GitHub: DELETE /applications/{client_id}/grant, plain RFC 7617 Basic, JSON body.
    let github = revoke("github", &both);
    assert_eq!(github[0].method, reqwest::Method::DELETE);
    assert_eq!(github[0].url.path(), "/applications/github-id/grant");
    use base64::Engine;
    let plain = base64::engine::general_purpose::STANDARD.encode("github-id:github secret&+");
    assert_eq!(
        github[0].header_value("Authorization"),
        Some(format!("Basic {plain}").as_str())
    );
    assert!(matches!(&github[0].body, RequestBody::Json(j) if j["access_token"] == "at"));
}

#[test]
fn userinfo_requests_follow_the_entry() {
    let catalogue = catalogue();
    let token = SecretString::from("tok");
    let request = |id: &str| {
        let p = catalogue.get(id).unwrap();
        userinfo_request(p, endpoints(p), &token)
    };
    let slack = request("slack");
    assert_eq!(slack.method, reqwest::Method::POST);
    assert_eq!(slack.header_value("authorization"), Some("Bearer tok"));
    let instagram = request("instagram");
    assert_eq!(instagram.header_value("Authorization"), None);
    let query: std::collections::BTreeMap<_, _> =
        instagram.url.query_pairs().into_owned().collect();
    assert_eq!(query["access_token"], "tok");
    assert_eq!(query["fields"], "user_id,username");
    let github = request("github");
    assert_eq!(
        github.header_value("accept"),
        Some("application/vnd.github+json")
    );
    assert_eq!(
        github
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("accept"))
            .count(),
        1
    );
    assert_eq!(
        github.header_value("X-GitHub-Api-Version"),
        Some("2022-11-28")
    );
}

#[test]
fn throttling_sent_as_an_error_code_is_busy_not_a_refusal() {
    let catalogue = catalogue();
    let instagram = catalogue.get("instagram").unwrap();
    let throttled = serde_json::json!({"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": 4}});
    assert!(matches!(
        token_set(instagram, &throttled, &[String::new()], 0),
        Err(ProviderError::Busy { status: 200, .. })
    ));
    let dead = serde_json::json!({"error": {"message": "Error validating access token", "type": "OAuthException", "code": 190}});
    let refused = token_set(instagram, &dead, &[String::new()], 0).unwrap_err();
    assert!(!refused.is_transient() && instagram.grant_is_dead(&refused));
    // Another provider does not read Meta's codes as throttling.
    let google = catalogue.get("google").unwrap();
    assert!(matches!(
        refusal(google, 403, "OAuthException.4".into()),
        ProviderError::Rejected { .. }
    ));
}

#[test]
fn userinfo_fields_take_the_first_pointer_with_a_value() {
    let catalogue = catalogue();
    let microsoft = catalogue.get("microsoft").unwrap();
    let me = serde_json::json!({"id": "u1", "mail": null, "userPrincipalName": "ada@contoso.com", "displayName": "Ada"});
    let account = crate::oauth::account_from_userinfo(microsoft, &me).unwrap();
    assert_eq!(account.email.as_deref(), Some("ada@contoso.com"));
    let me = serde_json::json!({"id": "u1", "mail": "ada@example.com", "userPrincipalName": "ada@contoso.com"});
    let account = crate::oauth::account_from_userinfo(microsoft, &me).unwrap();
    assert_eq!(account.email.as_deref(), Some("ada@example.com"));
    assert_eq!(account.display_name, None);
    // GitHub's numeric id becomes text; no id at all is a bad response.
    let github = catalogue.get("github").unwrap();
    let account = crate::oauth::account_from_userinfo(
        github,
        &serde_json::json!({"id": 583231, "login": "ada"}),
    )
    .unwrap();
    assert_eq!(account.external_account_id, "583231");
    assert!(
        crate::oauth::account_from_userinfo(github, &serde_json::json!({"login": "ada"})).is_err()
    );
}

#[test]
fn an_avatar_is_kept_only_as_an_http_url_of_bounded_length() {
    let catalogue = catalogue();
    let github = catalogue.get("github").unwrap();
    let avatar = |value: serde_json::Value| {
        let me = serde_json::json!({"id": 1, "login": "ada", "avatar_url": value});
        crate::oauth::account_from_userinfo(github, &me)
            .unwrap()
            .avatar_url
    };
    let url = "https://avatars.githubusercontent.com/u/583231?v=4";
    assert_eq!(avatar(url.into()).as_deref(), Some(url));
    // An app puts it in an <img src> as it is: no script, data or relative URL gets there.
    for refused in [
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "/u/583231",
        "",
    ] {
        assert_eq!(avatar(refused.into()), None, "{refused}");
    }
    let long = format!(
        "https://example.com/{}",
        "a".repeat(crate::oauth::MAX_AVATAR_URL)
    );
    assert_eq!(avatar(long.into()), None);
    assert_eq!(avatar(serde_json::Value::Null), None);
    // Microsoft gives no picture URL: its entry has no avatar pointer.
    let microsoft = catalogue.get("microsoft").unwrap();
    let me = serde_json::json!({"id": "u1", "displayName": "Ada", "avatar_url": url});
    let account = crate::oauth::account_from_userinfo(microsoft, &me).unwrap();
    assert_eq!(account.avatar_url, None);
}
