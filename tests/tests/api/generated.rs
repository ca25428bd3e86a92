//! Traffic nobody here wrote: Schemathesis (from PyPI into .venv, dev/requirements.txt)
//! generates requests from docs/openapi.yaml alone and sends them to the dev gateway over this
//! test's own stack, with every check and phase (examples, coverage, fuzzing, and the stateful
//! phase along the spec's links), a fixed seed and a bounded number of examples. Any failure
//! fails the test: a response outside the contract, a schema-valid request refused, a
//! schema-violating one accepted, a 5xx, or an AWS call the template does not grant (the IAM
//! check sees every request). tests/schemathesis/schemathesis.toml says which answers are
//! right where the generator cannot know it.

use devstack::jwt;
use integration_tests::browser::authorize;
use integration_tests::{Options, TestApp};

/// Every catalogue entry configured, so that each provider the spec lists is one the service
/// serves; limits no generated run reaches.
fn environment(oauth_url: &str) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "BACKEND_PRINCIPAL_ARNS".to_string(),
            "app-backend".to_string(),
        ),
        ("OIDC_ISSUER".to_string(), oauth_url.to_string()),
        (
            "REDDIT_USER_AGENT".to_string(),
            "web:generated-test:1.0 (by /u/test)".to_string(),
        ),
    ];
    let unreachable = shared::routes::LimitClass::ALL
        .iter()
        .map(|c| format!("{}=1000000", c.name()))
        .collect::<Vec<_>>()
        .join(",");
    env.push(("RATE_LIMITS".into(), unreachable));
    for id in [
        "microsoft",
        "slack",
        "zoom",
        "github",
        "reddit",
        "tiktok",
        "instagram",
        "oidc",
    ] {
        let upper = id.to_uppercase();
        env.push((format!("{upper}_CLIENT_ID"), format!("{id}-client")));
        env.push((format!("{upper}_CLIENT_SECRET"), format!("{id}-secret")));
    }
    env
}

#[tokio::test]
async fn schemathesis_finds_nothing_outside_the_contract() {
    let stack = integration_tests::stack().await;
    let t = TestApp::with(Options {
        env: environment(&stack.oauth_url),
        sync_queue: Some((30, 3)),
        ..Default::default()
    })
    .await;
    // One connected integration, for the stateful phase's links to start from.
    let auth_url = t.start_connect("alice", serde_json::json!({})).await;
    let redirect = authorize(&auth_url, "alice").await;
    let connected = t.send(redirect.callback_request().build()).await;
    assert_eq!(connected.status(), 200, "{}", connected.body());
    let list = t
        .send(
            integration_tests::request(lambda_http::http::Method::GET, "/integrations")
                .user("alice")
                .build(),
        )
        .await;
    let integration_id = list.data()["integrations"][0]["id"]
        .as_str()
        .expect("alice's integration")
        .to_string();

    let secret = "generated-test-secret-0123456789abcdef".to_string();
    let (base, serving) = t.serve_gateway(&secret).await;
    let user_token = jwt::issue(&secret, "alice", 3600).unwrap();
    let backend_token =
        jwt::issue_for(&secret, "app-backend", jwt::DEV_BACKEND_AUDIENCE, 3600).unwrap();

    let root = devstack::repo_root();
    let run = tokio::task::spawn_blocking(move || {
        std::process::Command::new(root.join(".venv/bin/st"))
            .current_dir(&root)
            .env("USER_TOKEN", user_token)
            .env("BACKEND_TOKEN", backend_token)
            .env("INTEGRATION_ID", integration_id)
            .env("SCHEMATHESIS_HOOKS", "")
            .args([
                "--no-color",
                "--config-file",
                "tests/schemathesis/schemathesis.toml",
            ])
            .args(["run", "docs/openapi.yaml", "--url", &base])
            // Every check is on by default; the config file turns one off for one operation.
            .args(["--phases", "examples,coverage,fuzzing,stateful"])
            .args([
                "--seed",
                "20261130",
                "--max-examples",
                "25",
                "--workers",
                "1",
            ])
            .args(["--request-timeout", "20"])
            .output()
            .expect("Schemathesis runs (.venv/bin/st: make bootstrap)")
    })
    .await
    .unwrap();
    serving.abort();
    let output = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "Schemathesis found failures:\n{output}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    // One operation per route of the route table.
    let operations = format!("Tested: {}", shared::routes::ROUTES.len());
    assert!(
        output.contains(&operations),
        "every operation tested:\n{output}"
    );
}
