//! `make dev`: the whole system on loopback. Ports: DEV_API_PORT (8787), DEV_MOTO_PORT (5050),
//! DEV_OAUTH_PORT (9400), DEV_APP_PORT (3000, the demo app). Prints one line with `ready` and the API's base URL once all answer.
//! Besides the gateway it runs the refresh scheduler every DEV_SCHEDULER_SECONDS (30) and polls
//! the refresh queue like Lambda's event source mapping, so connected integrations stay fresh.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Context;
use devstack::gateway::Gateway;
use devstack::process::{OAuthServerOptions, start_moto, start_oauth_server};
use devstack::{jwt, provision};
use shared::App;

fn u16_var(name: &str, default: u16) -> anyhow::Result<u16> {
    match std::env::var(name) {
        Ok(v) if !v.is_empty() => v
            .parse()
            .with_context(|| format!("{name} must be a whole number from 0 to 65535")),
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
    let api_port = u16_var("DEV_API_PORT", 8787)?;
    let app_port = u16_var("DEV_APP_PORT", 3000)?;
    let app_origin = format!("http://localhost:{app_port}");
    let moto_port = u16_var("DEV_MOTO_PORT", 5050)?;
    let oauth_port = u16_var("DEV_OAUTH_PORT", 9400)?;
    let base_url = format!("http://127.0.0.1:{api_port}");

    let (_moto, moto_url) = start_moto(moto_port).await?;
    let aws = provision::local_aws_config(&moto_url).await;
    let resources = provision::provision(&aws, "oauth-connector-dev").await?;
    // A short visibility timeout: a failed refresh is retried within seconds, not minutes.
    use provision::QueueKind;
    let name = "oauth-connector-dev";
    let queues = provision::provision_queues(&aws, name, QueueKind::Refresh, 10, 3).await?;
    let sync_queues = provision::provision_queues(&aws, name, QueueKind::Sync, 30, 3).await?;
    let recovery_queues =
        provision::provision_queues(&aws, name, QueueKind::Recovery, 10, 60).await?;
    // The lifecycle events' bus, and the app's side: a rule to a queue, read into a file.
    let (event_bus, app_events_queue) = provision::provision_event_bus(&aws, name).await?;
    let scheduler_every =
        std::time::Duration::from_secs(u64::from(u16_var("DEV_SCHEDULER_SECONDS", 30)?));

    let (client_id, client_secret) = ("demo-client".to_string(), "demo-secret".to_string());
    let (_oauth, oauth_url) = start_oauth_server(&OAuthServerOptions {
        port: oauth_port,
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        // The same server is also the generic `oidc` entry, found through its discovery document.
        redirect_uris: vec![
            format!("{base_url}/providers/demo/callback"),
            format!("{base_url}/providers/oidc/callback"),
        ],
        // Short lifetimes show the refresh loop at work: DEV_ACCESS_TOKEN_TTL=90 REFRESH_MARGIN_SECONDS=60.
        access_token_ttl_secs: u64::from(u16_var("DEV_ACCESS_TOKEN_TTL", 3600)?),
    })
    .await?;

    let mut state_secret = [0u8; 32];
    shared::crypto::fill_random(&mut state_secret);
    // What template.yaml sets in AWS, with local values; the process environment wins.
    let dev_logs = devstack::repo_root().join("target/dev-logs");
    std::fs::create_dir_all(&dev_logs)?;
    let metrics_file = dev_logs.join("metrics.jsonl");
    let defaults: HashMap<&str, String> = HashMap::from([
        ("TABLE_NAME", resources.table_name.clone()),
        ("KMS_KEY_ID", resources.kms_key_id.clone()),
        ("STATE_SECRET", shared::ids::hex(&state_secret)),
        ("PUBLIC_BASE_URL", base_url.clone()),
        // The demo app's origin and the gateway's own; `APP_ORIGINS=…` adds more for a run.
        (
            "APP_ORIGINS",
            [
                format!("{app_origin},{base_url}"),
                std::env::var("APP_ORIGINS").unwrap_or_default(),
            ]
            .join(",")
            .trim_end_matches(',')
            .to_string(),
        ),
        ("DEMO_OAUTH_URL", oauth_url.clone()),
        // The curl walkthrough of the README has no frontend to finish an `app` completion
        // (the product's default): `CALLBACK_COMPLETION=app make dev` for that.
        ("CALLBACK_COMPLETION", "direct".into()),
        ("DEMO_CLIENT_ID", client_id.clone()),
        ("DEMO_CLIENT_SECRET", client_secret.clone()),
        ("OIDC_ISSUER", oauth_url.clone()),
        ("OIDC_CLIENT_ID", client_id),
        ("OIDC_CLIENT_SECRET", client_secret),
        ("REFRESH_QUEUE_URL", queues.queue_url.clone()),
        ("SYNC_QUEUE_URL", sync_queues.queue_url.clone()),
        ("RECOVERY_QUEUE_URL", recovery_queues.queue_url.clone()),
        // `make backend-token` signs as `app-backend` (the dev gateway's stand-in for SigV4).
        ("BACKEND_PRINCIPAL_ARNS", "app-backend".into()),
        // The EMF lines Lambda would send to CloudWatch (docs/operations.md).
        ("METRICS_FILE", metrics_file.display().to_string()),
        ("METRICS_SERVICE", "oauth-connector-dev".into()),
        ("EVENT_BUS_NAME", event_bus.clone()),
    ]);
    let lookup = |name: &str| {
        if name == "APP_ORIGINS" {
            return defaults.get(name).cloned();
        }
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .or_else(|| defaults.get(name).cloned())
    };
    // Secret values (the state key, `<ID>_CLIENT_ID`/`_CLIENT_SECRET` pairs, from the defaults
    // or the process environment) go into moto's Secrets Manager; the app sees only their names,
    // as in AWS.
    let names = defaults
        .keys()
        .map(|k| k.to_string())
        .chain(std::env::vars().map(|(k, _)| k));
    let named =
        devstack::secrets::store_secret_values(&aws, &resources.table_name, names, &lookup).await?;
    let env = devstack::secrets::environment(&named, lookup);
    let app = Arc::new(App::from_lookup(&env, &aws)?);

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", api_port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{api_port} (set DEV_API_PORT)"))?;
    let gateway = Arc::new(Gateway {
        app: app.clone(),
        jwt_secret: jwt::dev_secret(),
    });
    let serving = tokio::spawn(gateway.serve(listener));
    let app_listener = tokio::net::TcpListener::bind(("127.0.0.1", app_port))
        .await
        .with_context(|| format!("binding 127.0.0.1:{app_port} (set DEV_APP_PORT)"))?;
    let demo = Arc::new(devstack::app_server::AppServer {
        api_base_url: base_url.clone(),
        jwt_secret: jwt::dev_secret(),
    });
    tokio::spawn(demo.serve(app_listener));
    tokio::spawn(run_scheduler(app.clone(), scheduler_every));
    tokio::spawn(poll_queue(
        app.clone(),
        aws_sdk_sqs::Client::new(&aws),
        queues.queue_url.clone(),
        Worker::Refresh,
    ));
    tokio::spawn(poll_queue(
        app.clone(),
        aws_sdk_sqs::Client::new(&aws),
        sync_queues.queue_url.clone(),
        Worker::Sync,
    ));
    tokio::spawn(poll_queue(
        app.clone(),
        aws_sdk_sqs::Client::new(&aws),
        recovery_queues.queue_url.clone(),
        Worker::Recovery,
    ));
    tokio::spawn(append_app_events(
        aws_sdk_sqs::Client::new(&aws),
        app_events_queue,
        // APP_EVENTS_FILE: elsewhere (the browser tests read their own).
        std::env::var("APP_EVENTS_FILE")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| dev_logs.join("app-events.jsonl")),
    ));
    devstack::process::wait_for_http(
        &format!("{base_url}/health"),
        std::time::Duration::from_secs(10),
    )
    .await?;

    println!("moto (DynamoDB, KMS, SQS, Secrets Manager, EventBridge): {moto_url}");
    println!(
        "lifecycle events the app would receive: target/dev-logs/app-events.jsonl; metrics: target/dev-logs/metrics.jsonl"
    );
    println!("local OAuth server (provider `demo`): {oauth_url}  (any login/password)");
    println!("user token: make token USER=alice   backend token: make backend-token");
    println!(
        "refresh scheduler every {}s; refresh queue: {}; sync queue: {}; recovery queue: {}",
        scheduler_every.as_secs(),
        queues.queue_url,
        sync_queues.queue_url,
        recovery_queues.queue_url
    );
    println!("demo calendar: curl -X POST -d '{{\"count\":50}}' {oauth_url}/__events/alice/seed");
    println!("demo app (the web kit, its own origin): {app_origin}");
    println!("ready {base_url}");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = serving => {}
    }
    Ok(())
}

/// EventBridge's schedule, locally.
async fn run_scheduler(app: Arc<App>, every: std::time::Duration) {
    let mut ticks = tokio::time::interval(every);
    loop {
        ticks.tick().await;
        if let Err(e) = shared::jobs::schedule_refreshes(&app, shared::clock::now_epoch()).await {
            tracing::error!(error = %e, "refresh scheduler run failed");
        }
    }
}

/// What the application's webhook would receive: each lifecycle event the bus delivered to the
/// app-events queue, appended to `path` as one EventBridge envelope per line.
async fn append_app_events(sqs: aws_sdk_sqs::Client, queue_url: String, path: std::path::PathBuf) {
    use std::io::Write;
    loop {
        match provision::drain_events(&sqs, &queue_url).await {
            Ok(events) => {
                if !events.is_empty()
                    && let Ok(mut file) = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&path)
                {
                    for event in events {
                        let _ = writeln!(file, "{event}");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "reading the app-events queue failed"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[derive(Clone, Copy)]
enum Worker {
    Refresh,
    Sync,
    Recovery,
}

/// A worker's event source mapping, locally (one batch at a time).
async fn poll_queue(app: Arc<App>, sqs: aws_sdk_sqs::Client, queue_url: String, worker: Worker) {
    loop {
        let polled = devstack::poller::poll_once(&sqs, &queue_url, 5, |event| {
            let app = app.clone();
            async move {
                // The workers' Lambda timeouts (template.yaml: 60 s, 120 s), less the answer margin.
                let now = tokio::time::Instant::now();
                match worker {
                    Worker::Refresh => {
                        let deadline = now + std::time::Duration::from_secs(58);
                        shared::jobs::refresh_batch(&app, event, deadline).await
                    }
                    Worker::Sync => {
                        let deadline = now + std::time::Duration::from_secs(118);
                        shared::jobs::sync_batch(&app, event, deadline).await
                    }
                    Worker::Recovery => {
                        let deadline = now + std::time::Duration::from_secs(8);
                        shared::jobs::recovery_batch(&app, event, deadline).await
                    }
                }
            }
        })
        .await;
        if let Err(e) = polled {
            tracing::error!(error = %e, queue = queue_url.as_str(), "polling a queue failed");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}
