use super::*;
use crate::oauth::{Renewal, TokenSet};
use secrecy::SecretString;
use url::Url;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

fn static_endpoints(p: &Provider) -> &Endpoints {
    match &p.endpoints {
        EndpointSource::Static(e) => e,
        _ => panic!("{} has no static endpoints", p.id),
    }
}

/// Parsed with credentials for `acme`: a missing variable is then an error, not "unconfigured".
fn error_of(text: &str) -> String {
    let env = env_of(&[("ACME_CREDENTIALS_SECRET", "secrets/acme")]);
    match ProviderCatalogue::parse(text, &env) {
        Ok(_) => panic!("accepted:\n{text}"),
        Err(e) => e.to_string(),
    }
}

const ACME: &str = r#"
[acme]
display_name = "Acme"
authorization_url = "https://acme.example/auth"
token_url = "https://acme.example/token"
userinfo = { url = "https://acme.example/me", id = "/sub" }
"#;

#[test]
fn the_embedded_entries_hold_the_tree_of_providers_toml() {
    // What a container reads (build.rs's conversion) is the catalogue as written.
    let from_toml = serde_json::to_value(toml::from_str::<toml::Table>(EMBEDDED).unwrap()).unwrap();
    let mut from_entries = serde_json::Map::new();
    for entry in EMBEDDED_ENTRIES {
        from_entries.insert(
            entry.id.to_string(),
            serde_json::from_str(entry.json).unwrap(),
        );
    }
    assert_eq!(serde_json::Value::Object(from_entries), from_toml);
    assert!(
        from_toml
            .get("google")
            .is_some_and(|g| g.get("calendar").is_some())
    );
}

/// Every variable the entry's resolution asks for, beside its credentials secret's name.
fn variables_read(entry: &EmbeddedEntry, env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let asked = std::cell::RefCell::new(Vec::new());
    let recording = |name: &str| {
        asked.borrow_mut().push(name.to_string());
        env(name)
    };
    let raw = typed(entry.id, deferred::tree_of(entry).unwrap()).unwrap();
    let id = ProviderId::parse(entry.id).unwrap();
    let _ = resolve(id.clone(), raw, &recording);
    let credentials = format!("{}_CREDENTIALS_SECRET", id.env_prefix());
    let mut asked: Vec<String> = asked
        .into_inner()
        .into_iter()
        .filter(|n| *n != credentials)
        .collect();
    asked.sort();
    asked.dedup();
    asked
}

#[test]
fn build_rs_lists_every_variable_an_entry_reads() {
    // A deferred entry is resolved without the environment: a variable build.rs missed would
    // be read as unset there. Every variable set, so that resolution reads all of them.
    let all_set = |_: &str| Some("https://set.example".to_string());
    let mut seen = 0;
    for entry in EMBEDDED_ENTRIES {
        let mut listed: Vec<String> = entry.variables.iter().map(|(n, _)| n.to_string()).collect();
        listed.sort();
        listed.dedup();
        assert_eq!(variables_read(entry, &all_set), listed, "{}", entry.id);
        seen += listed.len();
    }
    assert!(
        seen >= 4,
        "DEMO_OAUTH_URL, OIDC_ISSUER, MICROSOFT_TENANT, REDDIT_USER_AGENT"
    );
}

#[test]
fn every_entry_a_start_defers_resolves_and_as_it_would_at_start() {
    // What makes deferring safe: an entry deferred under some environment resolves, and to
    // what the same environment resolved eagerly gives. Each entry with and without its
    // credentials, its variables unset and at their defaults.
    for entry in EMBEDDED_ENTRIES {
        let id = ProviderId::parse(entry.id).unwrap();
        let credentials = format!("{}_CREDENTIALS_SECRET", id.env_prefix());
        for with_credentials in [false, true] {
            for at_defaults in [false, true] {
                let env = |name: &str| {
                    if name == credentials {
                        return with_credentials.then(|| "secrets/x".to_string());
                    }
                    let default = entry.variables.iter().find(|(n, _)| *n == name)?.1;
                    at_defaults
                        .then(|| default.map(|d| format!("{d}/")))
                        .flatten()
                };
                let Some(Slot::Deferred(deferred)) = Slot::deferred(entry, &id, &env) else {
                    // Checked at start: only with credentials and a variable without default.
                    assert!(with_credentials, "{} not deferred", entry.id);
                    assert!(
                        entry.variables.iter().any(|(_, d)| d.is_none()),
                        "{}",
                        entry.id
                    );
                    continue;
                };
                let later = deferred
                    .resolve()
                    .unwrap_or_else(|e| panic!("{}: {e}", entry.id));
                let now = resolve(
                    id.clone(),
                    typed(entry.id, deferred::tree_of(entry).unwrap()).unwrap(),
                    &env,
                )
                .unwrap();
                assert_eq!(format!("{later:?}"), format!("{now:?}"), "{}", entry.id);
            }
        }
    }
}

#[test]
fn a_variable_set_away_from_its_default_is_checked_at_start() {
    // A header value with a line break: refused at start, as before deferring.
    let env = env_of(&[("REDDIT_USER_AGENT", "bad\nagent")]);
    let error = ProviderCatalogue::load(&env)
        .err()
        .expect("a start-up error")
        .to_string();
    assert!(
        error.contains("`reddit`") && error.contains("User-Agent"),
        "{error}"
    );
    // At its default, an entry is deferred and resolves as written; elsewhere it is not.
    let env = env_of(&[("MICROSOFT_TENANT", "common")]);
    let catalogue = ProviderCatalogue::load(&env).unwrap();
    assert!(matches!(
        catalogue
            .providers
            .get(&ProviderId::parse("microsoft").unwrap()),
        Some(Slot::Deferred(_))
    ));
    let microsoft = catalogue.get("microsoft").unwrap();
    assert!(
        static_endpoints(microsoft)
            .token_url
            .as_str()
            .contains("/common/")
    );
    let env = env_of(&[("MICROSOFT_TENANT", "contoso.onmicrosoft.com")]);
    let catalogue = ProviderCatalogue::load(&env).unwrap();
    assert!(matches!(
        catalogue
            .providers
            .get(&ProviderId::parse("microsoft").unwrap()),
        Some(Slot::Ready(_))
    ));
    assert!(
        static_endpoints(catalogue.get("microsoft").unwrap())
            .token_url
            .as_str()
            .contains("/contoso.onmicrosoft.com/")
    );
}

#[test]
fn embedded_catalogue_loads_and_marks_providers_without_credentials() {
    let env = env_of(&[
        ("DEMO_CREDENTIALS_SECRET", "secrets/demo"),
        ("DEMO_OAUTH_URL", "http://127.0.0.1:1234/"),
    ]);
    let catalogue = ProviderCatalogue::load(&env).unwrap();
    let demo = catalogue.get("demo").unwrap();
    assert!(demo.is_configured());
    assert_eq!(
        static_endpoints(demo).token_url.as_str(),
        "http://127.0.0.1:1234/token"
    );
    let google = catalogue.get("google").unwrap();
    assert!(!google.is_configured());
    assert_eq!(
        google
            .authorization_params
            .get("access_type")
            .map(String::as_str),
        Some("offline")
    );
    let microsoft = catalogue.get("microsoft").unwrap();
    assert!(
        static_endpoints(microsoft)
            .authorization_url
            .as_str()
            .contains("/common/")
    );
    let ids: Vec<&str> = catalogue.all().map(|p| p.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "demo",
            "github",
            "google",
            "instagram",
            "microsoft",
            "oidc",
            "reddit",
            "slack",
            "tiktok",
            "zoom"
        ]
    );
    // The generic OIDC entry without OIDC_ISSUER and credentials: listed, not usable.
    let oidc = catalogue.get("oidc").unwrap();
    assert!(
        matches!(&oidc.endpoints, EndpointSource::Unavailable(why) if why.contains("OIDC_ISSUER"))
    );
    assert!(catalogue.get("myspace").is_none());
    assert!(catalogue.get("../x").is_none());
}

#[test]
fn credentials_without_the_variables_their_entry_needs_stop_start_up() {
    let env = env_of(&[("OIDC_CREDENTIALS_SECRET", "secrets/oidc")]);
    let error = ProviderCatalogue::load(&env).err().unwrap().to_string();
    assert!(
        error.contains("`oidc`") && error.contains("issuer") && error.contains("OIDC_ISSUER"),
        "{error}"
    );
    let env = env_of(&[
        ("OIDC_CREDENTIALS_SECRET", "secrets/oidc"),
        ("OIDC_ISSUER", "https://login.example.com/"),
    ]);
    let catalogue = ProviderCatalogue::load(&env).unwrap();
    match &catalogue.get("oidc").unwrap().endpoints {
        EndpointSource::Discovery(discovery) => assert_eq!(
            discovery.document_url.as_str(),
            "https://login.example.com/.well-known/openid-configuration"
        ),
        _ => panic!("oidc must use discovery"),
    }
}

#[test]
fn malformed_entries_name_the_entry_and_field() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "authorization_url = \"https://acme.example/auth\"",
            "authorization_url = \"not a url\"",
            "authorization_url",
        ),
        (
            "authorization_url = \"https://acme.example/auth\"",
            "authorization_url = \"http://acme.example/auth\"",
            "https",
        ),
        ("[acme]\n", "[acme]\ncolour = \"red\"\n", "colour"),
        (
            "[acme]\n",
            "[acme]\ntoken_auth = \"digest\"\n",
            "token_auth",
        ),
        ("[acme]\n", "[acme]\npkce = true\n", "pkce"),
        ("id = \"/sub\"", "id = \"sub\"", "userinfo.id"),
        (
            "id = \"/sub\"",
            "id = \"/sub\", method = \"PUT\"",
            "userinfo.method",
        ),
        (
            "[acme]\n",
            "[acme]\nrefresh = \"long_lived\"\n",
            "long_lived",
        ),
        (
            "[acme]\n",
            "[acme]\nrevocation = { style = \"carrier_pigeon\", url = \"https://a/r\" }\n",
            "revocation.style",
        ),
        (
            "[acme]\n",
            "[acme]\ntoken_response = { code_path = \"authed_user\" }\n",
            "token_response.code_path",
        ),
        (
            "[acme]\n",
            "[acme]\nscope_param = \"scope&x\"\n",
            "scope_param",
        ),
        (
            "[acme]\n",
            "[acme]\nauthorization_url = \"${ACME_URL}/auth\"\n",
            "authorization_url",
        ),
        (
            "token_url = \"https://acme.example/token\"\n",
            "",
            "token_url",
        ),
    ];
    for (from, to, field) in cases {
        let text = ACME.replacen(from, to, 1);
        // A duplicate key is a TOML error of its own; drop the original line where replaced.
        let text = if to.starts_with("[acme]\nauthorization_url") {
            text.replacen("authorization_url = \"https://acme.example/auth\"\n", "", 1)
        } else {
            text
        };
        let error = error_of(&text);
        assert!(
            error.contains("`acme`") && error.contains(field),
            "want `acme` and {field} in: {error}"
        );
    }
    assert!(ProviderCatalogue::parse(ACME, &env_of(&[])).is_ok());
    // Without credentials, an entry whose variables are unset is listed, not usable.
    let unset = ACME.replace("https://acme.example/token", "${ACME_URL}/token");
    let catalogue = ProviderCatalogue::parse(&unset, &env_of(&[])).unwrap();
    assert!(!catalogue.get("acme").unwrap().is_configured());
}

#[test]
fn a_later_layer_replaces_an_entry_and_adds_others() {
    let replacement = ACME.replace("Acme", "Acme (ours)");
    let other = ACME.replace("[acme]", "[widgets]");
    let catalogue = ProviderCatalogue::parse_layers(
        &[("a", ACME), ("b", &replacement), ("c", &other)],
        &env_of(&[]),
    )
    .unwrap();
    assert_eq!(catalogue.get("acme").unwrap().display_name, "Acme (ours)");
    assert!(catalogue.get("widgets").is_some());
    let error = ProviderCatalogue::parse_layers(&[("mine.toml", "[x")], &env_of(&[]))
        .err()
        .unwrap()
        .to_string();
    assert!(error.contains("mine.toml"), "{error}");
}

fn tokens(refresh: bool, issued_at: Option<i64>, expires_at: Option<i64>) -> TokenSet {
    TokenSet {
        access_token: SecretString::from("a"),
        refresh_token: refresh.then(|| SecretString::from("r")),
        token_type: "Bearer".into(),
        expires_at,
        issued_at,
        scopes: Vec::new(),
    }
}

#[test]
fn refresh_models_decide_what_is_renewable_and_indexed() {
    let catalogue = ProviderCatalogue::load(&env_of(&[])).unwrap();
    let now = 1_800_000_000;
    let google = catalogue.get("google").unwrap();
    assert!(google.renews(&tokens(true, Some(now), Some(now + 3600))));
    assert!(!google.renews(&tokens(false, Some(now), Some(now + 3600))));
    assert!(!google.renews(&tokens(true, Some(now), None)));
    assert_eq!(
        google.renewal(&tokens(true, Some(now), Some(now + 10)), now),
        Renewal::Possible
    );
    assert_eq!(
        google.renewal(&tokens(false, Some(now), Some(now + 10)), now),
        Renewal::NotPossible
    );

    let github = catalogue.get("github").unwrap();
    assert!(!github.renews(&tokens(true, Some(now), Some(now + 3600))));
    assert_eq!(
        github.renewal(&tokens(true, Some(now), Some(now + 10)), now),
        Renewal::NotPossible
    );

    // Instagram: renewable once 24 h old and not expired, with no refresh token at all.
    let instagram = catalogue.get("instagram").unwrap();
    let day = 86_400;
    assert!(instagram.renews(&tokens(false, Some(now), Some(now + 60 * day))));
    let young = tokens(false, Some(now - day + 60), Some(now + 59 * day));
    let old = tokens(false, Some(now - day), Some(now + 59 * day));
    let expired = tokens(false, Some(now - 61 * day), Some(now - 1));
    assert_eq!(instagram.renewal(&young, now), Renewal::NotPossible);
    assert_eq!(instagram.renewal(&old, now), Renewal::Possible);
    assert_eq!(instagram.renewal(&expired, now), Renewal::NotPossible);
}

fn discovery_overrides(issuer: &str) -> EndpointOverrides {
    EndpointOverrides {
        issuer: Url::parse(issuer).unwrap(),
        authorization_response_iss: None,
        authorization_url: None,
        token_url: None,
        userinfo_url: None,
        revocation: None,
        pkce: None,
        token_auth: None,
    }
}

#[test]
fn discovery_documents_fill_in_endpoints_and_server_facts() {
    let document = serde_json::json!({
        "issuer": "https://login.example.com",
        "authorization_endpoint": "https://login.example.com/authorize",
        "token_endpoint": "https://login.example.com/token",
        "userinfo_endpoint": "https://login.example.com/userinfo",
        "revocation_endpoint": "https://login.example.com/revoke",
        "code_challenge_methods_supported": ["plain", "S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "authorization_response_iss_parameter_supported": true
    });
    let endpoints = Endpoints::from_discovery(
        &discovery_overrides("https://login.example.com/"),
        &document,
    )
    .unwrap();
    assert_eq!(
        endpoints.token_url.as_str(),
        "https://login.example.com/token"
    );
    assert_eq!(endpoints.pkce, Pkce::Supported);
    assert_eq!(endpoints.token_auth, TokenAuth::Post);
    assert!(endpoints.authorization_response_iss);
    let revocation = endpoints.revocation.unwrap();
    assert_eq!(revocation.style, RevocationStyle::Rfc7009);

    // No methods listed → PKCE S256 anyway, Basic (RFC 8414); no iss; no revocation.
    let mut bare = document.clone();
    for key in [
        "code_challenge_methods_supported",
        "token_endpoint_auth_methods_supported",
        "authorization_response_iss_parameter_supported",
        "revocation_endpoint",
    ] {
        bare.as_object_mut().unwrap().remove(key);
    }
    let endpoints =
        Endpoints::from_discovery(&discovery_overrides("https://login.example.com"), &bare)
            .unwrap();
    assert_eq!(endpoints.pkce, Pkce::Supported);
    assert_eq!(endpoints.token_auth, TokenAuth::Basic);
    let mut plain_only = bare.clone();
    plain_only["code_challenge_methods_supported"] = serde_json::json!(["plain"]);
    let endpoints = Endpoints::from_discovery(
        &discovery_overrides("https://login.example.com"),
        &plain_only,
    )
    .unwrap();
    assert_eq!(endpoints.pkce, Pkce::Off);
    assert!(!endpoints.authorization_response_iss && endpoints.revocation.is_none());

    // Discovery §4.3: a document for another issuer is refused.
    let error =
        Endpoints::from_discovery(&discovery_overrides("https://evil.example.com"), &document)
            .unwrap_err();
    assert!(error.contains("issuer"), "{error}");
    let mut plain = document.clone();
    plain["token_endpoint"] = "http://login.example.com/token".into();
    assert!(
        Endpoints::from_discovery(&discovery_overrides("https://login.example.com"), &plain)
            .is_err()
    );
    // A remote issuer's document cannot point our credentials at this machine.
    for local in ["http://127.0.0.1:9001/token", "https://localhost/token"] {
        let mut inward = document.clone();
        inward["token_endpoint"] = local.into();
        assert!(
            Endpoints::from_discovery(&discovery_overrides("https://login.example.com"), &inward)
                .is_err(),
            "{local}"
        );
    }
    let mut local = document.clone();
    for (key, value) in [
        ("issuer", "http://127.0.0.1:9400"),
        ("authorization_endpoint", "http://127.0.0.1:9400/auth"),
        ("token_endpoint", "http://127.0.0.1:9400/token"),
        ("userinfo_endpoint", "http://127.0.0.1:9400/me"),
        ("revocation_endpoint", "http://127.0.0.1:9400/revoke"),
    ] {
        local[key] = value.into();
    }
    assert!(
        Endpoints::from_discovery(&discovery_overrides("http://127.0.0.1:9400"), &local).is_ok()
    );
}
