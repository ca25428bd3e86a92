//! The rate limiter's cost per request (printed, never asserted), against moto: `GET
//! /integrations` served whole (`handlers::serve`: the limiter's one conditional `UpdateItem`,
//! then the handler) next to the same handler called bare, and the counter write alone;
//! p50/p99 over BENCH_REQUESTS sequential requests (default 1,000).
//!
//! Usage: scripts/bench.sh, or `cargo run --release -p benches --bin limits-bench`.

use std::time::{Duration, Instant};

use integration_tests::{Options, TestApp, request};
use lambda_http::http::Method;
use shared::Function;
use shared::clock::now_epoch;
use shared::store::RateWindow;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("BENCH_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    // A budget no run spends: every request is counted and admitted.
    let t = TestApp::with(Options {
        env: vec![("RATE_LIMITS".into(), "read=1000000/3600".into())],
        ..Options::default()
    })
    .await;
    let list = || request(Method::GET, "/integrations").user("bench").build();
    let app = t.app.clone();

    let mut bare = Vec::with_capacity(n);
    let mut served = Vec::with_capacity(n);
    let mut counts = Vec::with_capacity(n);
    // Interleaved, so that moto's drift over the run weighs on each the same.
    for _ in 0..n {
        let req = list();
        let started = Instant::now();
        let reply = shared::handlers::integrations::list(&app, &req).await;
        bare.push(started.elapsed());
        anyhow::ensure!(reply.is_ok(), "bare handler failed");

        let started = Instant::now();
        let reply = t.call(Function::ListIntegrations, list()).await;
        served.push(started.elapsed());
        anyhow::ensure!(reply.status() == 200, "served: {}", reply.body());

        let now = now_epoch();
        let window = RateWindow {
            class: "bench",
            caller: "bench",
            start: now - now % 3600,
            limit: 1_000_000,
            expires_at: now + 3600,
        };
        let started = Instant::now();
        app.rate_counters().count(&window).await?;
        counts.push(started.elapsed());
    }
    println!("rate limiter, {n} sequential GET /integrations against moto:");
    print_row("handler alone", &mut bare);
    print_row("served with the limiter", &mut served);
    print_row("counter UpdateItem alone", &mut counts);
    Ok(())
}

fn print_row(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "  {what:<26} p50 {:>7.2} ms   p99 {:>7.2} ms",
        at(0.50).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3
    );
}
