//! Figures for the foundation: cold start and peak memory of a release function binary under a
//! minimal Lambda Runtime API, release binary sizes, and KMS calls per token write.
//! Usage: scripts/bench.sh (builds the release binaries first).

use std::time::{Duration, Instant};

use anyhow::Context;
use shared::crypto::{RowBinding, SealPurpose};

struct ColdStart {
    to_response: Duration,
    peak_rss_kib: u64,
}

async fn cold_start(
    binary: &std::path::Path,
    event: &str,
    env: &[(String, String)],
) -> anyhow::Result<ColdStart> {
    let (port, mut responses) = devstack::runtime_api::runtime_api(event.to_string()).await?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let (answered, _) = tokio::time::timeout(Duration::from_secs(20), responses.recv())
        .await?
        .context("no response")?;
    let pid = child.id().unwrap_or_default();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    child.kill().await?;
    Ok(ColdStart {
        to_response: answered - started,
        peak_rss_kib,
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = devstack::repo_root();
    let release = root.join("target/release");

    println!(
        "## Release binaries (x86_64, profile.release: opt-level=s, thin LTO, strip, panic=abort)"
    );
    for entry in std::fs::read_dir(root.join("functions"))? {
        let name = entry?.file_name().to_string_lossy().to_string();
        let size = std::fs::metadata(release.join(&name))
            .map(|m| m.len())
            .unwrap_or(0);
        println!("{name:>18}: {:.1} MiB", size as f64 / 1_048_576.0);
    }

    // A local stack for the functions that talk to AWS on their request path.
    let t = integration_tests::TestApp::with(integration_tests::Options {
        key_cache: true,
        ..Default::default()
    })
    .await;
    let mut env: Vec<(String, String)> = vec![
        ("AWS_ENDPOINT_URL".into(), t.stack.moto_url.clone()),
        ("TABLE_NAME".into(), t.table_name.clone()),
        ("KMS_KEY_ID".into(), t.kms_key_id.clone()),
        ("PUBLIC_BASE_URL".into(), "http://127.0.0.1:1".into()),
        ("DEMO_OAUTH_URL".into(), t.stack.oauth_url.clone()),
    ];
    // The secrets' names (the values are in moto's Secrets Manager, read on first use).
    env.extend(t.secret_names.iter().cloned());
    println!("\n## Cold start: process spawn → response posted to the Runtime API (20 runs each)");
    for (function, event_file, what) in [
        ("providers", "providers-ok", "no AWS call on the request"),
        (
            "connect",
            "connect-no-body",
            "KMS GenerateDataKey + DynamoDB PutItem x2 against moto",
        ),
    ] {
        let event = std::fs::read_to_string(root.join(format!("events/{event_file}.json")))?;
        let mut times = Vec::new();
        let mut rss = Vec::new();
        for _ in 0..20 {
            let run = cold_start(&release.join(function), &event, &env).await?;
            times.push(run.to_response);
            rss.push(run.peak_rss_kib);
        }
        times.sort();
        println!(
            "{function:>18}: p50 {:.1} ms, p95 {:.1} ms, peak RSS {:.1} MiB ({what})",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.95).as_secs_f64() * 1e3,
            *rss.iter().max().unwrap_or(&0) as f64 / 1024.0
        );
    }

    println!("\n## Provider catalogue (debug build of the bench)");
    let started = Instant::now();
    let mut entries = 0;
    for _ in 0..1000 {
        entries = shared::catalogue::ProviderCatalogue::load(&|_: &str| None)?
            .all()
            .count();
    }
    println!(
        "load + validate the embedded catalogue ({entries} entries): {:.0} µs per cold start",
        started.elapsed().as_secs_f64() * 1e6 / 1000.0
    );
    // The generic `oidc` entry reads its discovery document on first use, once per container.
    let oidc = integration_tests::TestApp::with(integration_tests::Options {
        env: vec![
            ("OIDC_ISSUER".into(), t.stack.oauth_url.clone()),
            ("OIDC_CLIENT_ID".into(), integration_tests::CLIENT_ID.into()),
            (
                "OIDC_CLIENT_SECRET".into(),
                integration_tests::CLIENT_SECRET.into(),
            ),
        ],
        ..Default::default()
    })
    .await;
    let mut connects = Vec::new();
    for _ in 0..21 {
        let started = Instant::now();
        let reply = oidc
            .send(
                integration_tests::request(
                    lambda_http::http::Method::POST,
                    "/providers/oidc/connect",
                )
                .user("bench")
                .path_param("provider", "oidc")
                .build(),
            )
            .await;
        anyhow::ensure!(reply.status() == 200, "oidc connect: {}", reply.body());
        connects.push(started.elapsed());
    }
    let first = connects.remove(0);
    connects.sort();
    println!(
        "oidc connect: first {:.1} ms (discovery document fetched), then p50 {:.1} ms (cached)",
        first.as_secs_f64() * 1e3,
        percentile(&connects, 0.5).as_secs_f64() * 1e3
    );

    println!("\n## KMS calls per token write (one container, real KMS protocol on moto)");
    let before = t.keys.calls();
    let started = Instant::now();
    for i in 0..1000 {
        let id = format!("{i:032x}");
        let row = RowBinding {
            user_id: "bench",
            record_id: &id,
            provider: "demo",
        };
        t.app
            .cipher
            .seal(
                SealPurpose::TokenSet,
                &row,
                br#"{"accessToken":"x","tokenType":"Bearer"}"#,
            )
            .await?;
    }
    println!(
        "1,000 seals: {} KMS calls, {:.1} µs per seal (AES-256-GCM + cache; debug build of the bench)",
        t.keys.calls() - before,
        started.elapsed().as_secs_f64() * 1e6 / 1000.0
    );
    Ok(())
}
