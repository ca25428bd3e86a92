//! The provider catalogue: each entry's contract against a local fake of the provider's
//! documented wire format (tests/providers/<id>.toml), the mechanisms' edge cases end to end, and
//! the catalogue's start-up checks.

use integration_tests::browser;
use integration_tests::provider_fake::Scripted;
use integration_tests::recording::{Contract, Step, integration_of, replay, token_of};
use integration_tests::{CLIENT_ID, CLIENT_SECRET, Options, TestApp, request};
use lambda_http::http::Method;

#[tokio::test(flavor = "multi_thread")]
async fn google_follows_its_documented_wire_format() {
    replay("google").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn microsoft_follows_its_documented_wire_format() {
    replay("microsoft").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slack_follows_its_documented_wire_format() {
    replay("slack").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn zoom_follows_its_documented_wire_format() {
    replay("zoom").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn github_follows_its_documented_wire_format() {
    replay("github").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reddit_follows_its_documented_wire_format() {
    replay("reddit").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tiktok_follows_its_documented_wire_format() {
    replay("tiktok").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn instagram_follows_its_documented_wire_format() {
    replay("instagram").await;
}

/// Slack answers a bad code with HTTP 200 and `{"ok": false}`: that is a refusal, not tokens.
#[tokio::test(flavor = "multi_thread")]
async fn slack_ok_false_is_a_callback_error() {
    let mut contract = Contract::start("slack").await;
    let params = contract.authorize().await;
    let refusal = Scripted {
        method: "POST".into(),
        url: "https://slack.com/api/oauth.v2.access".into(),
        status: 200,
        content_type: Some("application/json; charset=utf-8".into()),
        body: r#"{"ok":false,"error":"invalid_code"}"#.into(),
    };
    // A second authorization for the app-completed variant (POST), whose answer is the JSON
    // envelope; the first is for the browser's GET callback below.
    let state = contract.authorize().await["state"].clone();
    // The app-completed variant (POST), whose answer is the JSON envelope.
    contract.fake.script([refusal.clone()]);
    let reply = contract
        .app
        .send(
            request(Method::POST, "/providers/slack/callback")
                .user(contract.user)
                .path_param("provider", "slack")
                .json(serde_json::json!({"code": "slack-code-1", "state": state}))
                .build(),
        )
        .await;
    assert_eq!(reply.status(), 400, "{}", reply.body());
    assert_eq!(reply.error_code(), "OAUTH_CALLBACK_ERROR");
    let message = reply.json()["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(message.contains("invalid_code"), "{message}");
    // And the browser's GET callback reports the same to the app.
    let page = contract.callback(&params["state"], vec![refusal]).await;
    assert_eq!(page.status(), 400, "{}", page.body());
    assert!(
        page.body().contains("OAUTH_CALLBACK_ERROR"),
        "{}",
        page.body()
    );
    let list = contract
        .app
        .send(
            request(Method::GET, "/integrations")
                .user(contract.user)
                .build(),
        )
        .await;
    assert_eq!(list.data()["integrations"], serde_json::json!([]));
}

/// Instagram renews a long-lived token only once it is 24 h old: a younger one is handed out as
/// it is, with no provider call, however hard the refresh is asked for.
#[tokio::test(flavor = "multi_thread")]
async fn instagram_does_not_refresh_a_token_younger_than_a_day() {
    let mut contract = Contract::start("instagram").await;
    let integration = contract.connect().await;
    let id = integration["id"].as_str().unwrap_or_default().to_string();
    assert!(contract.in_refresh_index(&id).await);
    let expect_token = contract.recording.expect.access_token.clone();
    let reply = contract.app.manual_refresh(contract.user, &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    contract.check("refresh of a young token", Vec::new(), "");
    assert_eq!(
        token_of(&contract.app, contract.user, &id).await,
        expect_token
    );

    // 23 h later: still too young. 25 h: renewed, with the access token itself.
    integration_tests::recording::age_tokens(&contract.app, contract.user, &id, 23 * 3600).await;
    let reply = contract.app.manual_refresh(contract.user, &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    contract.check("refresh at 23 h", Vec::new(), "");
    assert_eq!(
        token_of(&contract.app, contract.user, &id).await,
        expect_token
    );
    integration_tests::recording::age_tokens(&contract.app, contract.user, &id, 2 * 3600).await;
    contract
        .fake
        .script(contract.recording.scripted(Step::Refresh, &contract.values));
    let reply = contract.app.manual_refresh(contract.user, &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    contract.check(
        "refresh at 25 h",
        contract.recording.exchanges(Step::Refresh).collect(),
        "",
    );
}

/// A GitHub OAuth app's token does not expire: the refresh index holds it (to count it) under
/// a key that is never due, and neither the worker nor a forced refresh calls GitHub for it.
#[tokio::test(flavor = "multi_thread")]
async fn github_tokens_are_never_due_in_the_refresh_index() {
    let mut contract = Contract::start("github").await;
    let integration = contract.connect().await;
    let id = integration["id"].as_str().unwrap_or_default().to_string();
    let item = contract.app.integration_item(contract.user, &id).await;
    let never = shared::store::keys::refresh_sort(shared::store::keys::NEVER_DUE, &id);
    assert!(
        item.get("GSI1SK").and_then(|s| s.as_s().ok()) == Some(&never)
            && !item.contains_key("expiresAt"),
        "{item:?}"
    );
    assert!(!contract.in_refresh_index(&id).await);
    let failures = contract
        .app
        .run_worker(&[integration_tests::lifecycle::refresh_message(
            contract.user,
            &id,
        )])
        .await;
    assert!(failures.is_empty());
    let reply = contract.app.manual_refresh(contract.user, &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    contract.check("refresh", Vec::new(), "");
    assert!(!contract.in_refresh_index(&id).await);
}

/// The generic `oidc` entry finds the local OAuth server (node oidc-provider, a certified
/// OpenID Provider) from its issuer alone, then runs the whole lifecycle on what the discovery
/// document says: endpoints, PKCE, client authentication, RFC 9207 `iss`, revocation.
#[tokio::test(flavor = "multi_thread")]
async fn oidc_entry_runs_on_the_discovery_document() {
    let stack = integration_tests::stack().await;
    let app = TestApp::with(Options {
        env: vec![
            ("OIDC_ISSUER".into(), stack.oauth_url.clone()),
            ("OIDC_CLIENT_ID".into(), CLIENT_ID.into()),
            ("OIDC_CLIENT_SECRET".into(), CLIENT_SECRET.into()),
        ],
        ..Options::default()
    })
    .await;
    let started = app
        .send(
            request(Method::POST, "/providers/oidc/connect")
                .user("grace")
                .path_param("provider", "oidc")
                .build(),
        )
        .await;
    assert_eq!(started.status(), 200, "{}", started.body());
    let auth_url = started.data()["authUrl"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        auth_url.starts_with(&format!("{}/auth?", stack.oauth_url)),
        "{auth_url}"
    );
    assert!(
        auth_url.contains("code_challenge_method=S256"),
        "{auth_url}"
    );
    let redirect = browser::authorize(&auth_url, "grace").await;
    assert!(redirect.param("iss").is_some(), "RFC 9207 iss expected");
    let reply = app.send(redirect.callback_request().build()).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let integration = integration_of(&app, "oidc", "grace").await;
    assert_eq!(integration["externalAccountId"], "grace");
    let id = integration["id"].as_str().unwrap_or_default().to_string();
    let before = token_of(&app, "grace", &id).await;
    let refreshed = app.manual_refresh("grace", &id).await;
    assert_eq!(refreshed.status(), 200, "{}", refreshed.body());
    assert_ne!(token_of(&app, "grace", &id).await, before);
    let removed = app
        .send(
            request(Method::DELETE, &format!("/integrations/{id}"))
                .user("grace")
                .build(),
        )
        .await;
    assert_eq!(removed.data()["revoked"], true, "{}", removed.body());
}

/// GET /providers lists every entry, and which ones this deployment can connect.
#[tokio::test(flavor = "multi_thread")]
async fn providers_lists_every_entry_with_its_configuration() {
    let app = TestApp::with(Options {
        env: vec![
            ("SLACK_CLIENT_ID".into(), "slack-id".into()),
            ("SLACK_CLIENT_SECRET".into(), "slack-secret".into()),
            // Only half the credentials: not configured.
            ("ZOOM_CLIENT_ID".into(), "zoom-id".into()),
        ],
        ..Options::default()
    })
    .await;
    let reply = app.send(request(Method::GET, "/providers").build()).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let providers = reply.data()["providers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let listed: Vec<(String, bool)> = providers
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap_or_default().to_string(),
                p["configured"] == true,
            )
        })
        .collect();
    let expected = [
        ("demo", true),
        ("github", false),
        ("google", true),
        ("instagram", false),
        ("microsoft", false),
        ("oidc", false),
        ("reddit", false),
        ("slack", true),
        ("tiktok", false),
        ("zoom", false),
    ];
    assert_eq!(
        listed,
        expected.map(|(id, c)| (id.to_string(), c)).to_vec(),
        "{}",
        reply.body()
    );
    // An unconfigured entry cannot be connected.
    let refused = app
        .send(
            request(Method::POST, "/providers/oidc/connect")
                .user("ada")
                .path_param("provider", "oidc")
                .build(),
        )
        .await;
    assert_eq!(refused.status(), 400, "{}", refused.body());
    assert_eq!(refused.error_code(), "INVALID_PROVIDER");
}

/// A deployment's own catalogue file: a malformed entry stops start-up with an error naming the
/// entry and the field; a good one adds a provider.
#[tokio::test(flavor = "multi_thread")]
async fn catalogue_file_errors_name_the_entry_and_field() {
    let stack = integration_tests::stack().await;
    let dir = std::env::temp_dir().join(format!("catalogue-{}", shared::ids::random_id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("providers.toml");
    let base_env = |path: &std::path::Path| {
        let path = path.to_string_lossy().to_string();
        move |name: &str| match name {
            "PROVIDER_CATALOGUE_FILE" => Some(path.clone()),
            "TABLE_NAME" => Some("t".into()),
            "KMS_KEY_ID" => Some("k".into()),
            "STATE_KEY_SECRET" => Some("unread-at-start".into()),
            _ => None,
        }
    };
    let entry = r#"
[acme]
display_name = "Acme"
authorization_url = "https://acme.example/oauth/authorize"
token_url = "https://acme.example/oauth/token"
token_auth = "digest"
userinfo = { url = "https://acme.example/me", id = "/id" }
"#;
    std::fs::write(&file, entry).expect("write");
    let error = shared::App::from_lookup(&base_env(&file), &stack.aws)
        .err()
        .expect("a start-up error")
        .to_string();
    assert!(
        error.contains("`acme`") && error.contains("token_auth"),
        "{error}"
    );

    std::fs::write(
        &file,
        entry
            .replace("\"digest\"", "\"post\"")
            .replace("id = \"/id\"", "id = \"id\""),
    )
    .expect("write");
    let error = shared::App::from_lookup(&base_env(&file), &stack.aws)
        .err()
        .expect("a start-up error")
        .to_string();
    assert!(
        error.contains("`acme`") && error.contains("userinfo.id"),
        "{error}"
    );

    std::fs::write(&file, entry.replace("\"digest\"", "\"post\"")).expect("write");
    let app = shared::App::from_lookup(&base_env(&file), &stack.aws).expect("starts");
    assert!(app.catalogue.get("acme").is_some() && app.catalogue.get("google").is_some());
    let _ = std::fs::remove_dir_all(&dir);
}

/// Scopes the app adds join the entry's defaults with the provider's separator; a scope that
/// contains the separator would read as two, and is refused.
#[tokio::test(flavor = "multi_thread")]
async fn extra_scopes_use_the_providers_separator() {
    let contract = Contract::start("tiktok").await;
    let connect = |body: serde_json::Value| {
        request(Method::POST, "/providers/tiktok/connect")
            .user("ada")
            .path_param("provider", "tiktok")
            .json(body)
            .build()
    };
    let started = contract
        .app
        .send(connect(serde_json::json!({"scopes": ["video.list"]})))
        .await;
    assert_eq!(started.status(), 200, "{}", started.body());
    let url = url::Url::parse(started.data()["authUrl"].as_str().unwrap_or_default()).unwrap();
    let scope = url
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned());
    assert_eq!(
        scope.as_deref(),
        Some("user.info.basic,user.info.profile,video.list")
    );
    let refused = contract
        .app
        .send(connect(
            serde_json::json!({"scopes": ["video.list,video.upload"]}),
        ))
        .await;
    assert_eq!(refused.status(), 400, "{}", refused.body());
    assert_eq!(refused.error_code(), "VALIDATION_ERROR");
}

/// Slack reports a spent or revoked refresh token as HTTP 200 `invalid_refresh_token`: the
/// grant is gone, so the integration expires and leaves the refresh index instead of being
/// retried by every scheduler run.
#[tokio::test(flavor = "multi_thread")]
async fn slack_dead_refresh_token_expires_the_integration() {
    let mut contract = Contract::start("slack").await;
    let integration = contract.connect().await;
    let id = integration["id"].as_str().unwrap_or_default().to_string();
    assert!(contract.in_refresh_index(&id).await);
    contract.fake.script([Scripted {
        method: "POST".into(),
        url: "https://slack.com/api/oauth.v2.access".into(),
        status: 200,
        content_type: Some("application/json".into()),
        body: r#"{"ok":false,"error":"invalid_refresh_token"}"#.into(),
    }]);
    let reply = contract.app.manual_refresh(contract.user, &id).await;
    assert_eq!(reply.error_code(), "TOKEN_EXPIRED", "{}", reply.body());
    let after = integration_of(&contract.app, "slack", contract.user).await;
    assert_eq!(after["status"], "expired", "{after}");
    assert!(!contract.in_refresh_index(&id).await);
}

/// An Instagram token is offered for renewal a week before it expires (an expired one cannot
/// be renewed, so the window must outlast an outage), and no sooner than it may be renewed.
#[tokio::test(flavor = "multi_thread")]
async fn instagram_renewal_is_due_a_week_before_expiry() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut contract = Contract::start("instagram").await;
    let integration = contract.connect().await;
    let id = integration["id"].as_str().unwrap_or_default().to_string();
    let item = contract.app.integration_item(contract.user, &id).await;
    let number = |name: &str| match item.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<i64>().unwrap_or_default(),
        _ => 0,
    };
    let expires_at = number("expiresAt");
    let sort = match item.get("GSI1SK") {
        Some(AttributeValue::S(s)) => s.clone(),
        other => panic!("not indexed: {other:?}"),
    };
    let due: i64 = sort
        .split('#')
        .next()
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();
    assert_eq!(expires_at - due, 7 * 86_400, "{sort}");
}

/// Zoom revokes by access token. An hour after the last refresh the stored one has expired, so
/// disconnect renews it first and revokes with the live token.
#[tokio::test(flavor = "multi_thread")]
async fn zoom_disconnect_renews_an_expired_access_token_before_revoking() {
    let mut contract = Contract::start("zoom").await;
    let integration = contract.connect().await;
    let id = integration["id"].as_str().unwrap_or_default().to_string();
    integration_tests::recording::expire_tokens(&contract.app, contract.user, &id).await;
    // The recording's refresh, then its revocation (which names the refreshed token).
    let mut answers = contract.recording.scripted(Step::Refresh, &contract.values);
    answers.extend(
        contract
            .recording
            .scripted(Step::Disconnect, &contract.values),
    );
    contract.fake.script(answers);
    let removed = contract
        .app
        .send(
            request(Method::DELETE, &format!("/integrations/{id}"))
                .user(contract.user)
                .build(),
        )
        .await;
    let expected: Vec<_> = contract
        .recording
        .exchanges(Step::Refresh)
        .chain(contract.recording.exchanges(Step::Disconnect))
        .collect();
    contract.check("disconnect", expected, removed.body());
    assert_eq!(removed.data()["revoked"], true, "{}", removed.body());
}

/// Meta throttles with HTTP 400 and Graph code 4: the refresh waits and tries again, as for a
/// 429, instead of recording a refusal.
#[tokio::test(flavor = "multi_thread")]
async fn instagram_throttling_is_waited_out() {
    let mut contract = Contract::start("instagram").await;
    let integration = contract.connect().await;
    let id = integration["id"].as_str().unwrap_or_default().to_string();
    integration_tests::recording::age_tokens(&contract.app, contract.user, &id, 25 * 3600).await;
    let renewal = contract.recording.scripted(Step::Refresh, &contract.values);
    let throttled = Scripted {
        status: 400,
        content_type: Some("application/json".into()),
        body: r#"{"error":{"message":"(#4) Application request limit reached","type":"OAuthException","code":4}}"#.into(),
        ..renewal[0].clone()
    };
    contract.fake.script([throttled].into_iter().chain(renewal));
    let reply = contract.app.manual_refresh(contract.user, &id).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let expected: Vec<_> = contract
        .recording
        .exchanges(Step::Refresh)
        .chain(contract.recording.exchanges(Step::Refresh))
        .collect();
    contract.check("throttled, then renewed", expected, reply.body());
    let want = contract
        .recording
        .expect
        .refreshed_access_token
        .clone()
        .unwrap_or_default();
    assert_eq!(token_of(&contract.app, contract.user, &id).await, want);
}
