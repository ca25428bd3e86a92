//! Figures for the token lifecycle (printed, never asserted):
//! - the refresh scheduler over BENCH_INTEGRATIONS integrations (default 100,000) of which 1%
//!   are due, on moto: wall time, index items read, messages sent;
//! - refreshes per second through the one refresh path at concurrency 1, 8 and 32 against the
//!   local OAuth server, next to the floor: the same provider and store calls made bare;
//! - KMS calls per 1,000 refreshes.
//!
//! Usage: scripts/bench.sh, or `cargo run --release -p benches --bin lifecycle-bench`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use futures_util::StreamExt;
use integration_tests::{Options, TestApp};
use secrecy::{ExposeSecret, SecretString};
use shared::clock::now_epoch;
use shared::domain::RequestOrigin;
use shared::ids::{IntegrationId, ProviderId, UserId};
use shared::refresh::{RefreshPolicy, fresh_tokens};
use shared::store::keys;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let total: usize = std::env::var("BENCH_INTEGRATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    scheduler(total).await?;
    refreshes().await?;
    where_the_time_goes().await?;
    Ok(())
}

async fn scheduler(total: usize) -> anyhow::Result<()> {
    let t = TestApp::with(Options {
        refresh_queue: Some((30, 3)),
        key_cache: true,
        ..Options::default()
    })
    .await;
    let now = now_epoch();
    let margin = t.app.settings.refresh_margin_secs;
    let provider = ProviderId::parse("demo")?;
    let due_every = 100;
    let seeding = Instant::now();
    let mut writes = Vec::with_capacity(total);
    for i in 0..total {
        let user = format!("bench{i}");
        let id = IntegrationId::derive(&UserId::parse(&user)?, &provider, &user);
        let expires_at = if i % due_every == 0 {
            now + 60
        } else {
            now + margin + 600 + (i % 3000) as i64
        };
        let item = HashMap::from([
            (keys::PK.to_string(), AttributeValue::S(keys::user(&user))),
            (
                keys::SK.to_string(),
                AttributeValue::S(keys::integration(id.as_str())),
            ),
            ("status".into(), AttributeValue::S("connected".into())),
            (
                "expiresAt".into(),
                AttributeValue::N(expires_at.to_string()),
            ),
            (
                keys::GSI1PK.into(),
                AttributeValue::S(keys::refresh_partition(keys::refresh_shard(id.as_str()))),
            ),
            (
                keys::GSI1SK.into(),
                AttributeValue::S(keys::refresh_sort(expires_at, id.as_str())),
            ),
        ]);
        writes.push(
            WriteRequest::builder()
                .put_request(PutRequest::builder().set_item(Some(item)).build()?)
                .build(),
        );
    }
    let batches: Vec<Vec<WriteRequest>> = writes.chunks(25).map(<[_]>::to_vec).collect();
    let results: Vec<anyhow::Result<()>> = futures_util::stream::iter(batches)
        .map(|batch| {
            let (dynamodb, table) = (t.dynamodb.clone(), t.table_name.clone());
            async move {
                let mut pending = HashMap::from([(table, batch)]);
                while !pending.is_empty() {
                    let out = dynamodb
                        .batch_write_item()
                        .set_request_items(Some(pending))
                        .send()
                        .await?;
                    pending = out.unprocessed_items.unwrap_or_default();
                    pending.retain(|_, v| !v.is_empty());
                }
                Ok(())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    results.into_iter().collect::<anyhow::Result<()>>()?;
    println!(
        "## Refresh scheduler ({total} integrations, {} due; seeded in {:.0} s)",
        total / due_every,
        seeding.elapsed().as_secs_f64()
    );
    // The index queries alone, then whole runs (queries + SendMessageBatch). moto answers a GSI
    // query by scanning the whole table in Python, so its wall time grows with all items; on
    // DynamoDB a query's cost and latency follow the items it reads (the figure that matters).
    let started = Instant::now();
    let scans = futures_util::future::join_all(
        (0..keys::REFRESH_SHARDS).map(|shard| t.app.refresh_index().due(shard, now + margin)),
    )
    .await;
    let read: usize = scans
        .into_iter()
        .map(|s| s.map(|s| s.items_read))
        .sum::<Result<usize, _>>()?;
    println!(
        "index queries alone (8 shards in parallel): {:.0} ms on moto, {read} items read",
        started.elapsed().as_secs_f64() * 1e3
    );
    for run in 1..=2 {
        let started = Instant::now();
        let report = shared::jobs::schedule_refreshes(&t.app, now).await?;
        println!(
            "run {run}: {:.0} ms on moto; due {}, sent {}, index items read {}, query pages {}",
            started.elapsed().as_secs_f64() * 1e3,
            report.due,
            report.sent,
            report.items_read,
            report.pages
        );
    }
    Ok(())
}

async fn refreshes() -> anyhow::Result<()> {
    let t = Arc::new(
        TestApp::with(Options {
            own_oauth_server: true,
            key_cache: true,
            // 64 connects from one address in seconds: above the callback's per-IP budget.
            env: vec![integration_tests::unlimited_rate_limits()],
            ..Options::default()
        })
        .await,
    );
    // 32 integrations for the refresh path, 32 others for the floor: the floor rotates its
    // grants' refresh tokens without storing them, which would spend the path's.
    let users: Vec<String> = (0..32).map(|i| format!("rb{i}")).collect();
    let mut ids = Vec::new();
    for user in &users {
        ids.push(
            t.connect(user).await["id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
    }
    let (mut chains, mut own) = (Vec::new(), Vec::new());
    for i in 0..32 {
        chains.push(floor_chain(&t, &format!("floor{i}")).await?);
        own.push(floor_chain(&t, &format!("own{i}")).await?);
    }
    println!(
        "\n## Refreshes per second (local OAuth server with rotation; moto; debug or release as built)"
    );
    let origin = RequestOrigin {
        correlation_id: "bench".into(),
        ip: None,
        user_agent: None,
    };
    let kms_before = t.keys.calls();
    let mut refreshed = 0usize;
    for concurrency in [1usize, 8, 32] {
        let per_task = 240 / concurrency;
        let started = Instant::now();
        let tasks = (0..concurrency).map(|task| {
            let (t, user, id, origin) = (
                t.clone(),
                users[task].clone(),
                ids[task].clone(),
                origin.clone(),
            );
            async move {
                let user = UserId::parse(&user)?;
                let id = IntegrationId::parse(&id)?;
                for _ in 0..per_task {
                    let deadline = tokio::time::Instant::now() + Duration::from_secs(55);
                    // A window of 0 s: every call refreshes, as the worker does for a due token.
                    let fresh = fresh_tokens(
                        &t.app,
                        &user,
                        &id,
                        RefreshPolicy::UnlessRefreshedWithin(0),
                        &origin,
                        deadline,
                    )
                    .await?;
                    anyhow::ensure!(fresh.refreshed, "not refreshed");
                }
                anyhow::Ok(())
            }
        });
        for r in futures_util::future::join_all(tasks).await {
            r?;
        }
        let path = (per_task * concurrency) as f64 / started.elapsed().as_secs_f64();
        refreshed += per_task * concurrency;
        let floor = floor(&t, &t.dynamodb, &mut chains[..concurrency], per_task).await?;
        let own = same_requests(&t, &mut own[..concurrency], per_task).await?;
        println!(
            "concurrency {concurrency:>2}: {path:>6.1} refreshes/s through the refresh path; floor {floor:>6.1}/s (token call + GetItem + 2 UpdateItem, bare) → {:.0}% of the floor; the path's own requests bare {own:>6.1}/s → {:.0}%",
            100.0 * path / floor,
            100.0 * path / own
        );
    }
    println!(
        "KMS calls: {} for {refreshed} refreshes ({:.2} per 1,000)",
        t.keys.calls() - kms_before,
        (t.keys.calls() - kms_before) as f64 * 1000.0 / refreshed as f64
    );
    Ok(())
}

/// A connected integration for the floor, with its refresh token in the clear: the floor
/// rotates it at the provider without storing it.
async fn floor_chain(t: &TestApp, user: &str) -> anyhow::Result<(String, String, String)> {
    let id = t.connect(user).await["id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let fresh = fresh_tokens(
        &t.app,
        &UserId::parse(user)?,
        &IntegrationId::parse(&id)?,
        RefreshPolicy::IfExpiringWithin(0),
        &RequestOrigin {
            correlation_id: "floor".into(),
            ip: None,
            user_agent: None,
        },
        tokio::time::Instant::now() + Duration::from_secs(55),
    )
    .await?;
    let refresh = fresh
        .tokens
        .refresh_token
        .ok_or_else(|| anyhow::anyhow!("refresh token"))?;
    Ok((user.to_string(), id, refresh.expose_secret().to_string()))
}

/// Where a refresh's time goes: moto's time per DynamoDB operation (at a proxy), for the path
/// and its floor, one refresh at a time.
async fn where_the_time_goes() -> anyhow::Result<()> {
    const N: usize = 60;
    let t = Arc::new(
        TestApp::with(Options {
            own_oauth_server: true,
            key_cache: true,
            store_proxy: true,
            env: vec![integration_tests::unlimited_rate_limits()],
            ..Options::default()
        })
        .await,
    );
    let proxy = t
        .store
        .as_ref()
        .ok_or_else(|| anyhow::anyhow!("no proxy"))?;
    let through_proxy = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&t.stack.aws)
            .endpoint_url(proxy.url())
            .build(),
    );
    let user = UserId::parse("where")?;
    let id = IntegrationId::parse(
        t.connect(user.as_str()).await["id"]
            .as_str()
            .unwrap_or_default(),
    )?;
    let mut chain = [floor_chain(&t, "wherefloor").await?];
    let mut own = [floor_chain(&t, "whereown").await?];
    let origin = RequestOrigin {
        correlation_id: "bench".into(),
        ip: None,
        user_agent: None,
    };
    const OPERATIONS: [&str; 5] = [
        "GetItem",
        "UpdateItem",
        "PutItem",
        "TransactWriteItems",
        "Query",
    ];
    println!(
        "\n## Where a refresh's time goes ({N} in a row, moto's time per operation at a proxy)"
    );
    proxy.reset_counts();
    let started = Instant::now();
    for _ in 0..N {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(55);
        fresh_tokens(
            &t.app,
            &user,
            &id,
            RefreshPolicy::UnlessRefreshedWithin(0),
            &origin,
            deadline,
        )
        .await?;
    }
    let path = started.elapsed() / N as u32;
    let path_ops = per_refresh(proxy, &OPERATIONS, N);
    proxy.reset_counts();
    let started = Instant::now();
    floor(&t, &through_proxy, &mut chain, N).await?;
    let floor = started.elapsed() / N as u32;
    let floor_ops = per_refresh(proxy, &OPERATIONS, N);
    proxy.reset_counts();
    let started = Instant::now();
    same_requests(&t, &mut own, N).await?;
    let bare = started.elapsed() / N as u32;
    let bare_ops = per_refresh(proxy, &OPERATIONS, N);
    println!(
        "path: {:.2} ms a refresh; {path_ops}",
        path.as_secs_f64() * 1e3
    );
    println!(
        "floor: {:.2} ms a refresh; {floor_ops}",
        floor.as_secs_f64() * 1e3
    );
    println!(
        "the path's own requests, bare: {:.2} ms a refresh; {bare_ops}",
        bare.as_secs_f64() * 1e3
    );
    Ok(())
}

fn per_refresh(
    proxy: &integration_tests::fault_proxy::FaultProxy,
    operations: &[&str],
    n: usize,
) -> String {
    operations
        .iter()
        .filter(|op| proxy.count(op) > 0)
        .map(|op| {
            format!(
                "{op} {:.2}× {:.2} ms",
                proxy.count(op) as f64 / n as f64,
                proxy.upstream_time(op).as_secs_f64() * 1e3 / n as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The refresh path's own requests, made bare: the same GetItem, lease UpdateItem, token call,
/// fenced UpdateItem (ALL_NEW) and audit PutItem through the app's store, without the path's
/// decisions, crypto, metrics and logs. What the path adds to its own calls.
async fn same_requests(
    t: &Arc<TestApp>,
    chains: &mut [(String, String, String)],
    per_task: usize,
) -> anyhow::Result<f64> {
    let provider = t
        .app
        .catalogue
        .get("demo")
        .ok_or_else(|| anyhow::anyhow!("demo provider"))?;
    let concurrency = chains.len();
    let origin = RequestOrigin {
        correlation_id: "floor".into(),
        ip: None,
        user_agent: None,
    };
    let started = Instant::now();
    let tasks = chains.iter_mut().map(|(user, id, refresh)| {
        let (t, origin) = (t.clone(), origin.clone());
        async move {
            let (user, id) = (UserId::parse(user)?, IntegrationId::parse(id)?);
            for _ in 0..per_task {
                let (integration, envelope) = t
                    .app
                    .integrations()
                    .get_with_tokens(&user, &id)
                    .await?
                    .ok_or_else(|| anyhow::anyhow!("integration"))?;
                let envelope = envelope.ok_or_else(|| anyhow::anyhow!("envelope"))?;
                let now_ms = shared::clock::now_epoch_ms();
                let lease = shared::store::RefreshLease {
                    owner: shared::ids::random_id(),
                    until_ms: now_ms + 60_000,
                };
                anyhow::ensure!(
                    t.app.leases().acquire(&integration, &lease, now_ms).await?,
                    "lease"
                );
                let tokens = token_call(&t, provider, refresh).await?;
                // The envelope read is written back: its bytes cost moto what new ones would.
                let refreshed = shared::store::RefreshedTokens {
                    envelope: &envelope,
                    expires_at: tokens.expires_at,
                    refresh_at: provider.refresh_at(&tokens),
                    refreshed_at: now_epoch(),
                    clear_error: false,
                };
                t.app
                    .leases()
                    .complete(&integration, &lease, refreshed)
                    .await?;
                t.app
                    .audit(
                        shared::domain::AuditEntry::new(
                            shared::domain::AuditEvent::TokenRefreshed,
                            Some(&user),
                            &origin,
                        )
                        .integration(&integration),
                    )
                    .await;
            }
            anyhow::Ok(())
        }
    });
    for r in futures_util::future::join_all(tasks).await {
        r?;
    }
    Ok((per_task * concurrency) as f64 / started.elapsed().as_secs_f64())
}

/// The provider's token endpoint with the chain's refresh token, which it rotates: the next
/// call uses the one this call got.
async fn token_call(
    t: &TestApp,
    provider: &shared::catalogue::Provider,
    refresh: &mut String,
) -> anyhow::Result<shared::oauth::TokenSet> {
    let current = shared::oauth::TokenSet {
        access_token: SecretString::from(String::new()),
        refresh_token: Some(SecretString::from(refresh.clone())),
        token_type: "Bearer".into(),
        expires_at: None,
        issued_at: None,
        scopes: Vec::new(),
    };
    let tokens = t.app.oauth.refresh(provider, &current, now_epoch()).await?;
    if let Some(next) = &tokens.refresh_token {
        *refresh = next.expose_secret().to_string();
    }
    Ok(tokens)
}

/// The refresh path's unavoidable calls made bare, at the same concurrency: the provider's
/// token endpoint (with rotation, so each call uses the refresh token the last one returned),
/// one GetItem and two UpdateItems (what lease and fenced write cost), no crypto or audit.
async fn floor(
    t: &Arc<TestApp>,
    dynamodb: &aws_sdk_dynamodb::Client,
    chains: &mut [(String, String, String)],
    per_task: usize,
) -> anyhow::Result<f64> {
    let provider = t
        .app
        .catalogue
        .get("demo")
        .ok_or_else(|| anyhow::anyhow!("demo provider"))?;
    let concurrency = chains.len();
    let started = Instant::now();
    let tasks = chains.iter_mut().map(|(user, id, refresh)| {
        let (t, dynamodb) = (t.clone(), dynamodb.clone());
        async move {
            for _ in 0..per_task {
                let key = |c: aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder| {
                    c.table_name(&t.table_name)
                        .key(keys::PK, AttributeValue::S(keys::user(user)))
                        .key(keys::SK, AttributeValue::S(keys::integration(id)))
                };
                dynamodb
                    .get_item()
                    .table_name(&t.table_name)
                    .key(keys::PK, AttributeValue::S(keys::user(user)))
                    .key(keys::SK, AttributeValue::S(keys::integration(id)))
                    .consistent_read(true)
                    .send()
                    .await?;
                key(dynamodb.update_item())
                    .update_expression("SET benchLease = :v")
                    .expression_attribute_values(":v", AttributeValue::N("1".into()))
                    .send()
                    .await?;
                token_call(&t, provider, refresh).await?;
                key(dynamodb.update_item())
                    .update_expression("REMOVE benchLease")
                    .send()
                    .await?;
            }
            anyhow::Ok(())
        }
    });
    for r in futures_util::future::join_all(tasks).await {
        r?;
    }
    Ok((per_task * concurrency) as f64 / started.elapsed().as_secs_f64())
}
