use super::*;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn embedded_catalogue_loads_and_marks_providers_without_credentials() {
    let env = env_of(&[
        ("DEMO_CLIENT_ID", "demo-client"),
        ("DEMO_CLIENT_SECRET", "s"),
        ("DEMO_OAUTH_URL", "http://127.0.0.1:1234/"),
    ]);
    let catalogue = ProviderCatalogue::load(&env).unwrap();
    let demo = catalogue.get("demo").unwrap();
    assert!(demo.credentials.is_some());
    assert_eq!(demo.token_url.as_str(), "http://127.0.0.1:1234/token");
    let google = catalogue.get("google").unwrap();
    assert!(google.credentials.is_none());
    assert_eq!(
        google
            .authorization_params
            .get("access_type")
            .map(String::as_str),
        Some("offline")
    );
    let microsoft = catalogue.get("microsoft").unwrap();
    assert!(microsoft.authorization_url.as_str().contains("/common/"));
    assert!(microsoft.scopes.iter().any(|s| s == "offline_access"));
    assert!(catalogue.get("myspace").is_none());
    assert!(catalogue.get("../x").is_none());
}

#[test]
fn a_malformed_entry_names_the_entry_and_field() {
    let text = r#"
        [acme]
        display_name = "Acme"
        authorization_url = "not a url"
        token_url = "https://acme.example/token"
        userinfo_url = "https://acme.example/me"
        userinfo = { id = "/sub" }
    "#;
    let err = ProviderCatalogue::parse(text, &env_of(&[]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`acme`") && err.contains("authorization_url"),
        "{err}"
    );
    let plain_http = text.replace("not a url", "http://acme.example/auth");
    let err = ProviderCatalogue::parse(&plain_http, &env_of(&[]))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("authorization_url") && err.contains("https"),
        "{err}"
    );

    let unknown_field = "[acme]\ndisplay_name = \"A\"\nauthorization_url = \"https://a/\"\ntoken_url = \"https://a/\"\nuserinfo_url = \"https://a/\"\nuserinfo = { id = \"/sub\" }\ncolour = \"red\"\n";
    let err = ProviderCatalogue::parse(unknown_field, &env_of(&[]))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("`acme`") && err.contains("colour"), "{err}");

    let unset = "[acme]\ndisplay_name = \"A\"\nauthorization_url = \"${ACME_URL}/auth\"\ntoken_url = \"https://a/\"\nuserinfo_url = \"https://a/\"\nuserinfo = { id = \"/sub\" }\n";
    let err = ProviderCatalogue::parse(unset, &env_of(&[]))
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("ACME_URL"), "{err}");
}
