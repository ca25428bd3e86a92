//! Figures for the foundation: the catalogue's load at cold start, the OIDC discovery cache, and
//! KMS calls per token write (binary sizes and cold starts: cold_start.rs).
//! Usage: scripts/bench.sh.

use std::time::{Duration, Instant};

use shared::crypto::{RowBinding, SealPurpose};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // A local stack for the functions that talk to AWS on their request path.
    let t = integration_tests::TestApp::with(integration_tests::Options {
        key_cache: true,
        ..Default::default()
    })
    .await;
    println!("## Provider catalogue (debug build of the bench)");
    let started = Instant::now();
    let mut entries = 0;
    for _ in 0..1000 {
        entries = shared::catalogue::ProviderCatalogue::load(&|_: &str| None)?
            .all()
            .count();
    }
    println!(
        "load the embedded catalogue, then resolve all {entries} entries (a cold start does the \
         load; each entry is resolved at its first use): {:.0} µs",
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
            // 21 connects of one user in a few ms: above the product's per-minute budget.
            integration_tests::unlimited_rate_limits(),
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
