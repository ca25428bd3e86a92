use super::*;

fn settings(origins: &str) -> Settings {
    let origins = origins.to_string();
    Settings::from_env(&move |k: &str| match k {
        "STATE_KEY_SECRET" => Some("secrets/state-key".into()),
        "TABLE_NAME" => Some("t".into()),
        "KMS_KEY_ID" => Some("k".into()),
        "APP_ORIGINS" => Some(origins.clone()),
        _ => None,
    })
    .unwrap()
}

#[test]
fn only_allowlisted_origins_are_redirect_targets() {
    let s = settings("http://localhost:3000, https://app.example.com/");
    assert!(
        s.allowed_return_to("http://localhost:3000/settings?tab=1")
            .is_some()
    );
    assert!(s.allowed_return_to("https://app.example.com/x").is_some());
    for bad in [
        "https://evil.example/steal",
        "https://app.example.com.evil.example/",
        "https://app.example.com:8443/",
        "http://app.example.com/",
        "javascript:alert(1)",
        "//evil.example/",
        "/relative",
        "https://evil.example\\@app.example.com/",
    ] {
        assert!(s.allowed_return_to(bad).is_none(), "{bad}");
    }
    assert!(
        settings("")
            .allowed_return_to("http://localhost:3000/")
            .is_none()
    );
}

#[test]
fn the_token_route_allowlist_matches_users_roles_and_their_sessions() {
    let env = |k: &str| {
        match k {
        "STATE_KEY_SECRET" => Some("secrets/state-key".into()),
        "TABLE_NAME" | "KMS_KEY_ID" => Some("x".into()),
        "BACKEND_PRINCIPAL_ARNS" => Some(
            "arn:aws:iam::123456789012:user/app-backend, arn:aws:iam::123456789012:role/svc/Backend"
                .into(),
        ),
        _ => None,
    }
    };
    let settings = Settings::from_env(&env).unwrap();
    assert!(settings.backend_allowed("arn:aws:iam::123456789012:user/app-backend"));
    assert!(settings.backend_allowed("arn:aws:sts::123456789012:assumed-role/Backend/i-0abc"));
    assert!(!settings.backend_allowed("arn:aws:sts::123456789012:assumed-role/BackendX/i-0abc"));
    assert!(!settings.backend_allowed("arn:aws:sts::999999999999:assumed-role/Backend/s"));
    assert!(!settings.backend_allowed("arn:aws:iam::123456789012:user/admin"));
    let none = Settings::from_env(&|k: &str| match k {
        "STATE_KEY_SECRET" => Some("secrets/state-key".into()),
        "TABLE_NAME" | "KMS_KEY_ID" => Some("x".into()),
        _ => None,
    })
    .unwrap();
    assert!(!none.backend_allowed("arn:aws:iam::123456789012:user/app-backend"));
}

#[test]
fn app_origins_are_origins_and_the_former_variable_still_counts() {
    let env = |vars: Vec<(&'static str, &'static str)>| {
        move |k: &str| match k {
            "STATE_KEY_SECRET" => Some("secrets/state-key".to_string()),
            "TABLE_NAME" | "KMS_KEY_ID" => Some("x".into()),
            _ => vars
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string()),
        }
    };
    let alias = Settings::from_env(&env(vec![(
        "RETURN_TO_ALLOWED_ORIGINS",
        "https://old.example",
    )]))
    .unwrap();
    assert_eq!(alias.app_origins, ["https://old.example"]);
    assert_eq!(
        alias.callback_completion,
        CallbackCompletion::App,
        "the app completes by default (account-linking CSRF)"
    );
    let both = Settings::from_env(&env(vec![
        ("APP_ORIGINS", "https://new.example:8443"),
        ("RETURN_TO_ALLOWED_ORIGINS", "https://old.example"),
    ]))
    .unwrap();
    assert_eq!(both.app_origins, ["https://new.example:8443"]);
    for bad in [
        "https://app.example.com/path",
        "null",
        "ftp://x.example",
        "https://a.example?x=1",
    ] {
        let error = Settings::from_env(&env(vec![("APP_ORIGINS", bad)]))
            .err()
            .unwrap_or_else(|| panic!("{bad} accepted"))
            .to_string();
        assert!(
            error.contains("APP_ORIGINS") && error.contains(bad),
            "{error}"
        );
    }
}

#[test]
fn rate_limits_default_to_the_product_numbers_and_take_overrides() {
    use crate::config::{Budget, RateLimits};
    use crate::routes::LimitClass;
    let per_minute = |limit| Budget {
        limit,
        window_secs: 60,
    };
    let defaults = RateLimits::parse("").unwrap();
    assert_eq!(defaults.budget(LimitClass::Read), per_minute(60));
    assert_eq!(defaults.budget(LimitClass::Connect), per_minute(10));
    assert_eq!(defaults.budget(LimitClass::Callback), per_minute(20));
    assert_eq!(defaults.budget(LimitClass::Refresh), per_minute(30));
    assert_eq!(defaults.budget(LimitClass::Disconnect), per_minute(20));
    let set = RateLimits::parse(" connect=5 , read=100/30,token=6000").unwrap();
    assert_eq!(set.budget(LimitClass::Connect), per_minute(5));
    assert_eq!(
        set.budget(LimitClass::Read),
        Budget {
            limit: 100,
            window_secs: 30
        }
    );
    assert_eq!(set.budget(LimitClass::Token), per_minute(6000));
    assert_eq!(set.budget(LimitClass::Refresh), per_minute(30));
    for bad in [
        "connect",
        "conect=5",
        "connect=0",
        "connect=x",
        "connect=5/0",
        "read=1/7200",
    ] {
        let error = RateLimits::parse(bad).unwrap_err().to_string();
        assert!(error.contains("RATE_LIMITS"), "{bad}: {error}");
    }
}
