//! Figures for calendar and contacts sync (printed, never asserted): 10,000 events synced from
//! the demo events API (Google Calendar's format, 250 per page) into moto: wall time, events per
//! second and DynamoDB calls by operation, next to the floor: the same page fetches and
//! BatchWriteItem calls made bare, timed alone. Then 10,000 contacts the same way
//! (sync_contacts.rs).
//! Usage: scripts/bench.sh, or `cargo run --release -p benches --bin sync-bench`.

use std::time::{Duration, Instant};

use integration_tests::{Options, TestApp};
use shared::domain::{RecordChange, RequestOrigin, SyncType, SyncedRecord};
use shared::ids::{IntegrationId, UserId};
use shared::refresh::{RefreshPolicy, fresh_tokens};
use shared::sync::records::record_of;
use shared::sync::source::{PageRequest, fetch_page};

#[path = "sync_contacts.rs"]
mod contacts;

const EVENTS: usize = 10_000;

/// An app of its own (a table of its own: moto's transactions slow down as a table grows) with
/// a connected `bench` integration behind the counting proxy.
async fn bench_app() -> (TestApp, String) {
    let t = TestApp::with(Options {
        own_oauth_server: true,
        store_proxy: true,
        sync_queue: Some((60, 3)),
        ..Options::default()
    })
    .await;
    let id = t.connect("bench").await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    (t, id)
}

/// The integration's access token, as the sync's own first page gets it.
async fn token_of(t: &TestApp, id: &str) -> anyhow::Result<secrecy::SecretString> {
    Ok(fresh_tokens(
        &t.app,
        &UserId::parse("bench")?,
        &IntegrationId::parse(id)?,
        RefreshPolicy::IfExpiringWithin(0),
        &RequestOrigin {
            correlation_id: "bench".into(),
            ip: None,
            user_agent: None,
        },
        tokio::time::Instant::now() + Duration::from_secs(55),
    )
    .await?
    .tokens
    .access_token)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (t, id) = bench_app().await;
    t.seed_events("bench", EVENTS).await;
    let store = t
        .store
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("store proxy"))?;
    store.reset_counts();

    let started = Instant::now();
    let reply = t.request_sync("bench", &id, serde_json::json!({})).await;
    anyhow::ensure!(reply.status() == 202, "sync refused: {}", reply.body());
    let (invocations, failures) = t.drain_sync_queue(Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    let job_id = reply.data()["jobId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let job = t.sync_job("bench", &id, &job_id).await;
    anyhow::ensure!(job["status"] == "succeeded", "job: {job}");
    println!("## Calendar sync: {EVENTS} events, 250 per page (demo events API, moto)");
    println!(
        "sync: {:.2} s wall ({invocations} invocation(s), {failures} failure(s)), {:.0} events/s; counts {}",
        elapsed.as_secs_f64(),
        EVENTS as f64 / elapsed.as_secs_f64(),
        job["counts"]
    );
    print_calls(store);

    // The floor: the page fetches and the record writes alone, with the same token.
    let token = token_of(&t, &id).await?;
    let provider = t
        .app
        .catalogue
        .get("demo")
        .ok_or_else(|| anyhow::anyhow!("demo"))?;
    let source = provider
        .calendar
        .clone()
        .ok_or_else(|| anyhow::anyhow!("demo calendar"))?;
    let floor = Floor::run(&t, &source, &token, "f", false).await?;
    println!(
        "floor: {:.2} s ({} page fetches {:.2} s + {} BatchWriteItem {:.2} s, {} records), {:.0} events/s → the sync runs at {:.0}% of the floor",
        floor.elapsed.as_secs_f64(),
        floor.pages,
        floor.fetching.as_secs_f64(),
        floor.written.div_ceil(25),
        floor.writing.as_secs_f64(),
        floor.written,
        EVENTS as f64 / floor.elapsed.as_secs_f64(),
        100.0 * floor.elapsed.as_secs_f64() / elapsed.as_secs_f64()
    );
    // What exact counts cost: the same floor reading each page's stored marks first
    // (BatchGetItem, 100 keys a call, a page's calls in parallel), as the sync does to tell
    // created from updated and to count a replayed page once.
    let reading = Floor::run(&t, &source, &token, "e", true).await?;
    println!(
        "floor with the read-before-write: {:.2} s ({:.2} s of reads) → the sync runs at {:.0}% of it; the read costs the floor {:.0}%",
        reading.elapsed.as_secs_f64(),
        reading.reading.as_secs_f64(),
        100.0 * reading.elapsed.as_secs_f64() / elapsed.as_secs_f64(),
        100.0 * (reading.elapsed.as_secs_f64() / floor.elapsed.as_secs_f64() - 1.0)
    );
    drop(t);
    contacts::figures().await
}

/// The DynamoDB calls the proxy saw since its last reset, by operation, with moto's time.
fn print_calls(store: &integration_tests::fault_proxy::FaultProxy) {
    let ops = [
        "GetItem",
        "BatchGetItem",
        "BatchWriteItem",
        "UpdateItem",
        "PutItem",
        "TransactWriteItems",
        "Query",
    ];
    let calls: Vec<String> = ops
        .iter()
        .map(|op| {
            format!(
                "{op} {} ({:.2} s at moto)",
                store.count(op),
                store.upstream_time(op).as_secs_f64()
            )
        })
        .collect();
    println!("DynamoDB calls: {}", calls.join(", "));
}

/// The page fetches and the record writes alone, with the same token, under another
/// integration id: the read-before-write only when asked, and never the checkpoints or the
/// token look-ups.
struct Floor {
    elapsed: Duration,
    fetching: Duration,
    reading: Duration,
    writing: Duration,
    pages: u32,
    written: usize,
}

impl Floor {
    async fn run(
        t: &TestApp,
        source: &shared::catalogue::CalendarSource,
        token: &secrecy::SecretString,
        id_letter: &str,
        read_first: bool,
    ) -> anyhow::Result<Floor> {
        let id = IntegrationId::parse(&id_letter.repeat(32))?;
        let job = shared::ids::JobId::new();
        let mut floor = Floor {
            elapsed: Duration::ZERO,
            fetching: Duration::ZERO,
            reading: Duration::ZERO,
            writing: Duration::ZERO,
            pages: 0,
            written: 0,
        };
        let started = Instant::now();
        let mut next: Option<String> = None;
        loop {
            let request = match &next {
                Some(token) => PageRequest::Next(token),
                None => PageRequest::Start { cursor: None },
            };
            let fetched = Instant::now();
            let page = fetch_page(t.app.oauth.http()?, source, token, request)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            floor.fetching += fetched.elapsed();
            floor.pages += 1;
            if read_first {
                let reading = Instant::now();
                let ids: Vec<String> = page.events.iter().map(|e| e.external_id.clone()).collect();
                t.app
                    .synced_records()
                    .marks(&id, SyncType::Calendar, &ids)
                    .await?;
                floor.reading += reading.elapsed();
            }
            let writing = Instant::now();
            // The same records, written the same way (BatchWriteItem, 25 per call, a page's
            // calls in parallel).
            let records: Vec<(SyncedRecord, RecordChange)> = page
                .events
                .iter()
                .map(|e| {
                    (
                        SyncedRecord::Event(record_of(&id, e)),
                        RecordChange::Created,
                    )
                })
                .collect();
            t.app
                .synced_records()
                .put_page(&id, &records, &job, floor.pages)
                .await?;
            floor.written += records.len();
            floor.writing += writing.elapsed();
            match page.next_page {
                Some(token) => next = Some(token),
                None => break,
            }
        }
        floor.elapsed = started.elapsed();
        Ok(floor)
    }
}
