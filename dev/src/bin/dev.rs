//! `make dev`: the whole system on loopback. Ports: DEV_API_PORT (8787), DEV_MOTO_PORT (5050),
//! DEV_OAUTH_PORT (9400). Prints one line with `ready` and the API's base URL once all answer.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use devstack::gateway::Gateway;
use devstack::process::{OAuthServerOptions, start_moto, start_oauth_server};
use devstack::{jwt, provision};
use shared::App;

fn port(name: &str, default: u16) -> anyhow::Result<u16> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .with_context(|| format!("{name} must be a port number")),
        _ => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let api_port = port("DEV_API_PORT", 8787)?;
    let moto_port = port("DEV_MOTO_PORT", 5050)?;
    let oauth_port = port("DEV_OAUTH_PORT", 9400)?;
    let base_url = format!("http://127.0.0.1:{api_port}");

    let (_moto, moto_url) = start_moto(moto_port).await?;
    let aws = provision::local_aws_config(&moto_url).await;
    let resources = provision::provision(&aws, "oauth-connector-dev").await?;

    let (client_id, client_secret) = ("demo-client".to_string(), "demo-secret".to_string());
    let (_oauth, oauth_url) = start_oauth_server(&OAuthServerOptions {
        port: oauth_port,
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        redirect_uris: vec![format!("{base_url}/providers/demo/callback")],
        access_token_ttl_secs: 3600,
    })
    .await?;

    let mut state_secret = [0u8; 32];
    shared::crypto::fill_random(&mut state_secret);
    // What template.yaml sets in AWS, with local values; the process environment wins.
    let defaults: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", resources.table_name.clone()),
        ("KMS_KEY_ID", resources.kms_key_id.clone()),
        ("STATE_SECRET", shared::ids::hex(&state_secret)),
        ("PUBLIC_BASE_URL", base_url.clone()),
        (
            "RETURN_TO_ALLOWED_ORIGINS",
            format!("http://localhost:3000,{base_url}"),
        ),
        ("DEMO_OAUTH_URL", oauth_url.clone()),
        ("DEMO_CLIENT_ID", client_id),
        ("DEMO_CLIENT_SECRET", client_secret),
    ]);
    let env = |name: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| defaults.get(name).cloned())
    };
    let app = Arc::new(App::from_lookup(&env, &aws)?);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", api_port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{api_port} (set DEV_API_PORT)"))?;
    let gateway = Arc::new(Gateway {
        app,
        jwt_secret: jwt::dev_secret(),
    });
    let serving = tokio::spawn(gateway.serve(listener));
    devstack::process::wait_for_http(
        &format!("{base_url}/health"),
        std::time::Duration::from_secs(10),
    )
    .await?;

    println!("moto (DynamoDB, KMS, SQS): {moto_url}");
    println!("local OAuth server (provider `demo`): {oauth_url}  (any login/password)");
    println!("user token: make token USER=alice");
    println!("ready {base_url}");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = serving => {}
    }
    Ok(())
}
