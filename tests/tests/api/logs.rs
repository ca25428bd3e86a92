//! No access token, refresh token, code, PKCE verifier or client secret in any log line, at any
//! level, from any crate, during a whole connect → callback → refresh → token → disconnect flow.

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use integration_tests::browser::authorize;
use integration_tests::logs::CapturedLogs;
use integration_tests::{CLIENT_ID, CLIENT_SECRET, TestApp, request};
use lambda_http::http::Method;
use secrecy::ExposeSecret;
use shared::crypto::{Envelope, RowBinding, SealPurpose};

/// The PKCE verifier of the one pending authorization in the table, decrypted.
async fn pending_verifier(t: &TestApp, user: &str) -> String {
    let items = t
        .dynamodb
        .scan()
        .table_name(&t.table_name)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let state = items
        .iter()
        .find(|i| i["PK"].as_s().is_ok_and(|pk| pk.starts_with("STATE#")))
        .expect("a pending state");
    let state_id = state["PK"]
        .as_s()
        .unwrap()
        .trim_start_matches("STATE#")
        .to_string();
    let AttributeValue::M(e) = &state["pkceVerifier"] else {
        panic!("verifier not sealed")
    };
    let bytes = |k: &str| e[k].as_b().unwrap().clone().into_inner();
    let envelope = Envelope {
        version: 1,
        key_id: e["keyId"].as_s().unwrap().clone(),
        encrypted_data_key: bytes("edk"),
        nonce: bytes("nonce"),
        ciphertext: bytes("ct"),
    };
    let row = RowBinding {
        user_id: user,
        record_id: &state_id,
        provider: "demo",
    };
    String::from_utf8(
        t.app
            .cipher
            .open(SealPurpose::PkceVerifier, &row, &envelope)
            .await
            .unwrap()
            .to_vec(),
    )
    .unwrap()
}

#[tokio::test]
async fn no_secret_reaches_any_log_line_during_a_full_flow() {
    let t = TestApp::new().await;
    let logs = CapturedLogs::default();
    let started = logs
        .capture(
            t.send(
                request(Method::POST, "/providers/demo/connect")
                    .user("alice")
                    .build(),
            ),
        )
        .await;
    let verifier = pending_verifier(&t, "alice").await;
    let redirect = authorize(started.data()["authUrl"].as_str().unwrap(), "alice").await;
    let code = redirect.param("code").unwrap();
    let callback = logs
        .capture(t.send(redirect.callback_request().build()))
        .await;
    assert_eq!(callback.status(), 200);
    let list = logs
        .capture(t.send(request(Method::GET, "/integrations").user("alice").build()))
        .await;
    let id = list.data()["integrations"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let tokens = t.stored_tokens("alice", &id).await.unwrap();
    let access = tokens.access_token.expose_secret().to_string();
    let refresh = tokens
        .refresh_token
        .as_ref()
        .unwrap()
        .expose_secret()
        .to_string();
    // The refresh path and the token route handle tokens too: a refresh, then a hand-out.
    let refreshed = logs
        .capture(
            t.send(
                request(Method::POST, &format!("/integrations/{id}/refresh"))
                    .user("alice")
                    .build(),
            ),
        )
        .await;
    assert_eq!(refreshed.status(), 200, "{}", refreshed.body());
    let handed_out = logs
        .capture(
            t.send(
                request(
                    Method::GET,
                    &format!("/users/alice/integrations/{id}/token"),
                )
                .backend()
                .build(),
            ),
        )
        .await;
    assert_eq!(handed_out.status(), 200, "{}", handed_out.body());
    let rotated = t.stored_tokens("alice", &id).await.unwrap();
    let rotated_access = rotated.access_token.expose_secret().to_string();
    let rotated_refresh = rotated.refresh_token.unwrap().expose_secret().to_string();
    assert_ne!(
        rotated_refresh, refresh,
        "the refresh rotated the refresh token"
    );
    assert_eq!(handed_out.data()["accessToken"], rotated_access.as_str());
    let reply = logs
        .capture(
            t.send(
                request(Method::DELETE, &format!("/integrations/{id}"))
                    .user("alice")
                    .build(),
            ),
        )
        .await;
    assert_eq!(reply.data()["revoked"], true);

    let text = logs.text();
    let lines = text.lines().count();
    assert!(
        lines > 20,
        "the capture must see the flow's logs (TRACE, all crates); saw {lines} lines"
    );
    assert!(
        text.contains(&id),
        "ids are logged, so the capture is not empty of context"
    );
    // The client secret travels base64-encoded in the Basic header: search for that form too.
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"));
    let mut secrets = vec![
        ("access token", access.clone()),
        ("refresh token", refresh.clone()),
        ("refreshed access token", rotated_access.clone()),
        ("rotated refresh token", rotated_refresh.clone()),
        ("code", code.clone()),
        ("PKCE verifier", verifier.clone()),
        ("client secret", CLIENT_SECRET.to_string()),
        ("client credentials (Basic)", basic),
        ("state secret", t.state_secret.clone()),
    ];
    let data_keys = t.keys.seen_plaintext.lock().unwrap().clone();
    assert!(!data_keys.is_empty(), "the flow used KMS data keys");
    secrets.extend(data_keys.into_iter().map(|k| ("data key", k)));
    for target in ["aws_smithy", "hyper", "shared::"] {
        assert!(
            text.contains(target),
            "the capture must include {target}'s log lines"
        );
    }
    for (name, secret) in &secrets {
        assert!(secret.len() >= 8, "{name} too short to search for");
        assert!(
            !text.contains(secret.as_str()),
            "{name} appears in the logs"
        );
    }
}

/// The same for every catalogue entry's contract (tests/providers/*.toml): none of the tokens the
/// provider hands out, nor the client secret or the code, in any log line, whatever the
/// provider's dialect (Instagram's tokens travel in query strings).
#[tokio::test]
async fn no_provider_secret_reaches_any_log_line_in_any_contract() {
    use integration_tests::recording::{Placeholders, Recording, replay};
    for id in [
        "google",
        "microsoft",
        "slack",
        "zoom",
        "github",
        "reddit",
        "tiktok",
        "instagram",
    ] {
        let logs = CapturedLogs::default();
        logs.capture(replay(id)).await;
        let text = logs.text();
        assert!(
            text.contains("integration connected"),
            "{id}: no logs captured"
        );
        let values = Placeholders::for_provider(id);
        let tokens = Recording::load(id).tokens();
        assert!(!tokens.is_empty(), "{id}: no tokens in the recording");
        for secret in tokens.iter().chain([&values.client_secret, &values.code]) {
            assert!(
                !text.contains(secret.as_str()),
                "{id}: `{secret}` is in the logs"
            );
        }
    }
}

/// The failure paths too: Instagram's long-lived exchange carries the short-lived token and the
/// client secret in its query string; when that exchange fails, neither reaches a log line.
#[tokio::test]
async fn no_secret_reaches_a_log_line_when_a_query_string_exchange_fails() {
    use integration_tests::recording::{Contract, Step};
    let mut contract = Contract::start("instagram").await;
    let params = contract.authorize().await;
    // Only the code exchange is answered: the exchange for the long-lived token gets a 404.
    let answers = contract
        .recording
        .scripted(Step::Callback, &contract.values)
        .into_iter()
        .take(1)
        .collect();
    let logs = CapturedLogs::default();
    let reply = logs
        .capture(contract.callback(&params["state"], answers))
        .await;
    assert_ne!(reply.status(), 200, "{}", reply.body());
    let text = logs.text();
    assert!(!text.is_empty(), "the failure was not logged at all");
    let short_lived = &contract.recording.tokens()[0];
    for secret in [
        short_lived,
        &contract.values.client_secret,
        &contract.values.code,
    ] {
        assert!(!text.contains(secret.as_str()), "`{secret}` is in the logs");
    }
}

/// A real function binary (the callback function's start-up and handler, built by this crate:
/// tests/src/bin/callback_under_test.rs) under a local Lambda Runtime API at the highest log level, with an event carrying a
/// bearer JWT, a code and a state: nothing it prints holds any of them. `lambda_runtime` traces
/// every raw event; the binaries cap the runtime and transport crates at INFO whatever
/// `LogLevel` says (shared/src/lambda.rs).
#[tokio::test]
async fn a_function_binary_at_trace_prints_no_credential_of_its_event() {
    let t = TestApp::new().await;
    let root = devstack::repo_root();
    let binary = env!("CARGO_BIN_EXE_callback-under-test");

    let (jwt, code, state) = (
        "eyJhbGciOiJSUzI1NiJ9.jwt-secret-payload.jwt-secret-signature",
        "code-secret-4f2a9c",
        "state-secret-77d1e0",
    );
    let mut event: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("events/callback-post-bad-state.json")).unwrap(),
    )
    .unwrap();
    event["headers"]["authorization"] = format!("Bearer {jwt}").into();
    event["body"] = serde_json::json!({"code": code, "state": state})
        .to_string()
        .into();
    let devstack::runtime_api::RuntimeApi {
        port,
        responses: mut answers,
        ..
    } = devstack::runtime_api::runtime_api(event.to_string())
        .await
        .unwrap();
    let child = tokio::process::Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "callback")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("RUST_LOG", "trace")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", &t.stack.moto_url)
        .env("TABLE_NAME", &t.table_name)
        .env("KMS_KEY_ID", &t.kms_key_id)
        .envs(t.secret_names.iter().cloned())
        .env("PUBLIC_BASE_URL", integration_tests::API_BASE)
        .env("DEMO_OAUTH_URL", &t.oauth_url)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Read what it prints while it runs: a full pipe would block it.
    let mut child = child;
    let drain = |pipe: Option<Box<dyn tokio::io::AsyncRead + Unpin + Send>>| {
        tokio::spawn(async move {
            let mut out = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = tokio::io::AsyncReadExt::read_to_end(&mut pipe, &mut out).await;
            }
            out
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let (_, answer) = tokio::time::timeout(std::time::Duration::from_secs(30), answers.recv())
        .await
        .expect("the function answered")
        .unwrap();
    let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
    assert_eq!(answer["statusCode"], 400, "{answer}");
    // Give the last lines a moment, then end it and read everything it printed.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    child.start_kill().unwrap();
    let _ = child.wait().await;
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout.await.unwrap()),
        String::from_utf8_lossy(&stderr.await.unwrap())
    );
    assert!(
        printed.contains("\"level\":\"TRACE\"") || printed.contains("\"level\":\"DEBUG\""),
        "the binary logged at the level asked for: {printed}"
    );
    assert!(printed.contains("request done"), "{printed}");
    for secret in [jwt, "jwt-secret-payload", code, state] {
        assert!(
            !printed.contains(secret),
            "`{secret}` printed by the binary:\n{printed}"
        );
    }
}
