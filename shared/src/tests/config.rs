use super::*;

fn settings(origins: &str) -> Settings {
    let origins = origins.to_string();
    Settings::from_env(&move |k: &str| match k {
        "STATE_KEY_SECRET" => Some("secrets/state-key".into()),
        "TABLE_NAME" => Some("t".into()),
        "KMS_KEY_ID" => Some("k".into()),
        "RETURN_TO_ALLOWED_ORIGINS" => Some(origins.clone()),
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
