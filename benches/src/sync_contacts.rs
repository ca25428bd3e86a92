//! The contacts half of sync-bench: 10,000 contacts from the demo contacts API (the People
//! API's format, 1,000 a page) synced into moto, next to the floor of the same page fetches and
//! BatchWriteItem calls made bare, with and without the read-before-write.

use std::time::{Duration, Instant};

use integration_tests::TestApp;
use shared::domain::{RecordChange, SyncType, SyncedRecord};
use shared::ids::IntegrationId;
use shared::sync::contacts::fetch_page;
use shared::sync::records::contact_record_of;

pub const CONTACTS: usize = 10_000;

pub async fn figures() -> anyhow::Result<()> {
    let (t, id) = super::bench_app().await;
    let (t, id) = (&t, id.as_str());
    t.seed_contacts("bench", CONTACTS).await;
    let store = t
        .store
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("store proxy"))?;
    store.reset_counts();
    let started = Instant::now();
    let reply = t
        .request_sync("bench", id, serde_json::json!({"syncTypes": ["contacts"]}))
        .await;
    anyhow::ensure!(reply.status() == 202, "sync refused: {}", reply.body());
    let (invocations, failures) = t.drain_sync_queue(Duration::from_secs(600)).await;
    let elapsed = started.elapsed();
    let job_id = reply.data()["jobId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let job = t.sync_job("bench", id, &job_id).await;
    anyhow::ensure!(job["status"] == "succeeded", "job: {job}");
    println!("## Contacts sync: {CONTACTS} contacts, 1,000 per page (demo contacts API, moto)");
    println!(
        "sync: {:.2} s wall ({invocations} invocation(s), {failures} failure(s)), {:.0} contacts/s; counts {}",
        elapsed.as_secs_f64(),
        CONTACTS as f64 / elapsed.as_secs_f64(),
        job["counts"],
    );
    super::print_calls(store);
    let source = t
        .app
        .catalogue
        .get("demo")
        .and_then(|p| p.contacts.clone())
        .ok_or_else(|| anyhow::anyhow!("demo contacts"))?;
    let token = &super::token_of(t, id).await?;
    for read_first in [false, true] {
        let floor = floor(
            t,
            &source,
            token,
            if read_first { "c" } else { "d" },
            read_first,
        )
        .await?;
        println!(
            "floor{}: {:.2} s ({:.2} s fetching, {:.2} s reading, {:.2} s writing), {:.0} contacts/s → the sync runs at {:.0}% of it",
            if read_first {
                " with the read-before-write"
            } else {
                ""
            },
            floor.0.as_secs_f64(),
            floor.1.as_secs_f64(),
            floor.2.as_secs_f64(),
            floor.3.as_secs_f64(),
            CONTACTS as f64 / floor.0.as_secs_f64(),
            100.0 * floor.0.as_secs_f64() / elapsed.as_secs_f64()
        );
    }
    Ok(())
}

/// The pages fetched and written bare under another integration id: (total, fetching,
/// reading, writing).
async fn floor(
    t: &TestApp,
    source: &shared::catalogue::ContactsSource,
    token: &secrecy::SecretString,
    id_letter: &str,
    read_first: bool,
) -> anyhow::Result<(Duration, Duration, Duration, Duration)> {
    let id = IntegrationId::parse(&id_letter.repeat(32))?;
    let job = shared::ids::JobId::new();
    let (mut fetching, mut reading, mut writing) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let started = Instant::now();
    let mut next: Option<String> = None;
    let mut pages = 0;
    loop {
        let at = Instant::now();
        let page = fetch_page(t.app.oauth.http()?, source, token, next.as_deref(), None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        fetching += at.elapsed();
        pages += 1;
        if read_first {
            let at = Instant::now();
            let ids: Vec<String> = page
                .contacts
                .iter()
                .map(|c| c.external_id.clone())
                .collect();
            t.app
                .synced_records()
                .marks(&id, SyncType::Contacts, &ids)
                .await?;
            reading += at.elapsed();
        }
        let at = Instant::now();
        let records: Vec<(SyncedRecord, RecordChange)> = page
            .contacts
            .iter()
            .map(|c| {
                let record = contact_record_of(&id, c);
                (SyncedRecord::Contact(record), RecordChange::Created)
            })
            .collect();
        t.app
            .synced_records()
            .put_page(&id, &records, &job, pages)
            .await?;
        writing += at.elapsed();
        match page.next_page {
            Some(token) => next = Some(token),
            None => break,
        }
    }
    Ok((started.elapsed(), fetching, reading, writing))
}
