//! `make soak`: the whole dev system (the `dev` binary, as `make dev` runs it) under mixed
//! traffic for SOAK_SECONDS (default 1,800), on loopback. SOAK_INTEGRATIONS (default 200)
//! integrations over 10 users, access tokens that live 300 s (so the scheduler refreshes each
//! about every three minutes, through the queue, while the traffic refreshes them by hand too),
//! and two clients interleaving lists, reads, token hand-outs, manual refreshes, syncs, settings
//! changes and event pages.
//!
//! It prints the figures (operations, answers by status and code, p50/p99 per route, peak RSS
//! of the stack), then checks what must hold after any amount of this: no message in any
//! dead-letter queue once the queues have drained; every integration hands out a token; and,
//! from one Scan of the table, every integration still connected, every sync job succeeded,
//! each integration's live events exactly the provider's, one `token_issued` audit entry per
//! token handed out. It exits non-zero when a check fails, and stops dev (with moto and the
//! OAuth server) on SIGTERM or SIGINT too. Never part of `make test`.

use std::collections::{BTreeMap, HashMap};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::AsyncBufReadExt;

const USERS: usize = 10;
const EVENTS_PER_ACCOUNT: usize = 20;
/// Clients sending traffic, each pausing this long between requests: the load moto (one Python
/// process holding every table in memory) sustains for half an hour on this machine. Four
/// clients without a pause saturated it: its queries slowed as the tables grew, the queues
/// stopped draining, and the checks could not finish.
const CLIENTS: usize = 2;
const PAUSE: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Figures {
    /// Route → latencies.
    latencies: BTreeMap<&'static str, Vec<Duration>>,
    /// (route, status, error code) → count.
    answers: BTreeMap<(&'static str, u16, String), u64>,
}

struct Soak {
    http: reqwest::Client,
    api: String,
    oauth: String,
    secret: String,
    backend: String,
    /// (user, integration id, account login)
    integrations: Vec<(String, String, String)>,
    figures: Mutex<Figures>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let seconds: u64 = env_number("SOAK_SECONDS", 1800);
    let total: usize = env_number("SOAK_INTEGRATIONS", 200);
    let root = devstack::repo_root();
    let ports = [(); 4].map(|_| devstack::free_port().expect("a free port"));
    let secret = "soak-jwt-secret-0123456789abcdef0123456789".to_string();
    let binary = std::env::var("DEV_BIN")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| root.join("target/release/dev"));
    let limits = shared::routes::LimitClass::ALL
        .iter()
        .map(|c| format!("{}=1000000", c.name()))
        .collect::<Vec<_>>()
        .join(",");
    let mut dev = tokio::process::Command::new(&binary)
        .current_dir(&root)
        .env("DEV_API_PORT", ports[0].to_string())
        .env("DEV_MOTO_PORT", ports[1].to_string())
        .env("DEV_OAUTH_PORT", ports[2].to_string())
        .env("DEV_APP_PORT", ports[3].to_string())
        .env("DEV_JWT_SECRET", &secret)
        .env("DEV_ACCESS_TOKEN_TTL", "300")
        .env("REFRESH_MARGIN_SECONDS", "120")
        .env("DEV_SCHEDULER_SECONDS", "30")
        .env("RATE_LIMITS", limits)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        // Not left behind when the soak stops early (dev's own children go with it).
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {} (make soak builds it)", binary.display()))?;
    let mut lines = tokio::io::BufReader::new(dev.stdout.take().unwrap()).lines();
    let api = loop {
        let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
            .await
            .context("the dev system did not start in 120 s")??
            .context("dev exited")?;
        if let Some(base) = line.strip_prefix("ready ") {
            break base.to_string();
        }
    };
    // dev's log (warnings and errors: RUST_LOG=warn) kept for the figures and for reading.
    let log_path = root.join("target/soak-dev.log");
    let mut log = std::fs::File::create(&log_path)
        .with_context(|| format!("creating {}", log_path.display()))?;
    tokio::spawn(async move {
        use std::io::Write;
        while let Ok(Some(line)) = lines.next_line().await {
            let _ = writeln!(log, "{line}");
        }
    });
    let dev_pid = dev.id().context("dev pid")?;
    // SIGTERM (as `timeout` sends) or SIGINT end the soak early, with dev stopped below.
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let outcome = tokio::select! {
        outcome = run(&secret, &ports, seconds, total, dev_pid, api) => outcome,
        _ = terminate.recv() => Err(anyhow::anyhow!("soak stopped by SIGTERM")),
        _ = tokio::signal::ctrl_c() => Err(anyhow::anyhow!("soak stopped by SIGINT")),
    };
    // SIGINT, so that dev stops moto and the OAuth server with itself, whatever happened.
    let _ = std::process::Command::new("kill")
        .args(["-INT", &dev_pid.to_string()])
        .status();
    let _ = tokio::time::timeout(Duration::from_secs(10), dev.wait()).await;
    outcome
}

async fn run(
    secret: &str,
    ports: &[u16; 4],
    seconds: u64,
    total: usize,
    dev_pid: u32,
    api: String,
) -> anyhow::Result<()> {
    let secret = secret.to_string();

    let mut soak = Soak {
        http: reqwest::Client::new(),
        api,
        oauth: format!("http://127.0.0.1:{}", ports[2]),
        backend: devstack::jwt::issue_for(
            &secret,
            "app-backend",
            devstack::jwt::DEV_BACKEND_AUDIENCE,
            7 * 24 * 3600,
        )?,
        secret,
        integrations: Vec::new(),
        figures: Mutex::default(),
    };
    let connecting = Instant::now();
    for n in 0..total {
        let user = format!("soak-user-{}", n % USERS);
        let login = format!("soak-account-{n}");
        let id = soak.connect(&user, &login).await?;
        soak.integrations.push((user, id, login));
    }
    println!(
        "soak: {total} integrations connected in {:.1} s; traffic for {seconds} s",
        connecting.elapsed().as_secs_f64()
    );

    let soak = Arc::new(soak);
    let until = Instant::now() + Duration::from_secs(seconds);
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let soak = soak.clone();
            tokio::spawn(async move { soak.traffic(c as u64, until).await })
        })
        .collect();
    for client in clients {
        client.await??;
    }
    // The traffic's figures first: the checks below may take a while on a loaded moto.
    soak.print(seconds, stack_peak_rss_kib(dev_pid));
    let checking = Instant::now();
    let failures = soak.settle_and_check(ports[1]).await?;
    println!(
        "soak: checks took {:.0} s",
        checking.elapsed().as_secs_f64()
    );
    if !failures.is_empty() {
        bail!("soak checks failed:\n{}", failures.join("\n"));
    }
    println!("soak: every check held");
    Ok(())
}

fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

impl Soak {
    fn user_token(&self, user: &str) -> String {
        devstack::jwt::issue(&self.secret, user, 3600).expect("a dev JWT")
    }

    /// Connect → the local OAuth server's login and consent → the GET callback (direct
    /// completion, as `make dev` runs), with the account's calendar seeded first.
    async fn connect(&self, user: &str, login: &str) -> anyhow::Result<String> {
        let seeded = self
            .http
            .post(format!("{}/__events/{login}/seed", self.oauth))
            .body(format!("{{\"count\":{EVENTS_PER_ACCOUNT}}}"))
            .send()
            .await?;
        anyhow::ensure!(seeded.status().is_success(), "seeding {login}");
        let token = self.user_token(user);
        let started: serde_json::Value = self
            .http
            .post(format!("{}/providers/demo/connect", self.api))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await?
            .json()
            .await?;
        let auth_url = started["data"]["authUrl"]
            .as_str()
            .with_context(|| format!("connect: {started}"))?;
        let redirect = integration_tests::browser::try_authorize(auth_url, login).await?;
        let callback = self.http.get(redirect.url.as_str()).send().await?;
        anyhow::ensure!(callback.status() == 200, "callback {}", callback.status());
        let list: serde_json::Value = self
            .http
            .get(format!("{}/integrations", self.api))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let id = list["data"]["integrations"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|i| i["externalAccountId"] == login)
            .and_then(|i| i["id"].as_str())
            .with_context(|| format!("{login} not listed: {list}"))?;
        Ok(id.to_string())
    }

    /// One client's mix until `until`; a small xorshift keeps runs repeatable per client.
    async fn traffic(&self, client: u64, until: Instant) -> anyhow::Result<()> {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64 ^ (client + 1);
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let tokens: HashMap<&str, String> = self
            .integrations
            .iter()
            .map(|(user, _, _)| (user.as_str(), self.user_token(user)))
            .collect();
        while Instant::now() < until {
            let (user, id, _) = &self.integrations[next() as usize % self.integrations.len()];
            let token = &tokens[user.as_str()];
            let api = &self.api;
            let (route, request) = match next() % 100 {
                0..25 => (
                    "GET /integrations",
                    self.http
                        .get(format!("{api}/integrations"))
                        .bearer_auth(token),
                ),
                25..40 => (
                    "GET /integrations/{id}",
                    self.http
                        .get(format!("{api}/integrations/{id}"))
                        .bearer_auth(token),
                ),
                40..65 => (
                    "GET /users/{userId}/integrations/{id}/token",
                    self.http
                        .get(format!("{api}/users/{user}/integrations/{id}/token"))
                        .bearer_auth(&self.backend),
                ),
                65..75 => (
                    "POST /integrations/{id}/refresh",
                    self.http
                        .post(format!("{api}/integrations/{id}/refresh"))
                        .bearer_auth(token),
                ),
                75..80 => (
                    "POST /integrations/{id}/sync",
                    self.http
                        .post(format!("{api}/integrations/{id}/sync"))
                        .bearer_auth(token)
                        .json(&serde_json::json!({"full": next() % 4 == 0})),
                ),
                80..85 => (
                    "PATCH /integrations/{id}",
                    self.http
                        .patch(format!("{api}/integrations/{id}"))
                        .bearer_auth(token)
                        .json(&serde_json::json!({"syncSettings": {
                            "enabled": next() % 2 == 0,
                            "syncTypes": ["calendar"],
                            "frequency": if next() % 2 == 0 { "hourly" } else { "daily" },
                        }})),
                ),
                _ => (
                    "GET /integrations/{id}/events",
                    self.http
                        .get(format!("{api}/integrations/{id}/events"))
                        .bearer_auth(token),
                ),
            };
            let started = Instant::now();
            let response = request.send().await?;
            let elapsed = started.elapsed();
            let status = response.status().as_u16();
            let code = if status >= 400 {
                let body: serde_json::Value = response.json().await.unwrap_or_default();
                body["error"]["code"]
                    .as_str()
                    .unwrap_or("(gateway)")
                    .to_string()
            } else {
                let _ = response.bytes().await;
                String::new()
            };
            {
                let mut figures = self.figures.lock().unwrap();
                figures.latencies.entry(route).or_default().push(elapsed);
                *figures.answers.entry((route, status, code)).or_default() += 1;
            }
            tokio::time::sleep(PAUSE).await;
        }
        Ok(())
    }

    /// Waits for the queues to drain, then checks what must hold; the failures, if any.
    async fn settle_and_check(&self, moto_port: u16) -> anyhow::Result<Vec<String>> {
        let aws =
            devstack::provision::local_aws_config(&format!("http://127.0.0.1:{moto_port}")).await;
        let sqs = aws_sdk_sqs::Client::new(&aws);
        let queues = sqs
            .list_queues()
            .send()
            .await?
            .queue_urls
            .unwrap_or_default();
        let depth = |url: String| {
            let sqs = sqs.clone();
            async move {
                let attributes = sqs
                    .get_queue_attributes()
                    .queue_url(&url)
                    .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                    .send()
                    .await
                    .ok()?
                    .attributes?;
                let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
                    attributes
                        .get(&name)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                use aws_sdk_sqs::types::QueueAttributeName as A;
                Some(
                    count(A::ApproximateNumberOfMessages)
                        + count(A::ApproximateNumberOfMessagesNotVisible),
                )
            }
        };
        // In-flight syncs and refreshes finish (visibility timeouts are 10-30 s).
        let settle_until = Instant::now() + Duration::from_secs(120);
        loop {
            let mut busy = 0;
            for url in queues.iter().filter(|u| !u.ends_with("-dlq")) {
                busy += depth(url.clone()).await.unwrap_or(0);
            }
            if busy == 0 || Instant::now() > settle_until {
                break;
            }
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
        let mut failures = Vec::new();
        for url in queues.iter().filter(|u| u.ends_with("-dlq")) {
            let messages = depth(url.clone()).await.unwrap_or(0);
            if messages > 0 {
                failures.push(format!("{messages} message(s) in {url}"));
            }
        }
        // Every integration hands out a token (refreshing it first where it is due).
        let mut handed_out = 0;
        for (user, id, login) in &self.integrations {
            let handed = self
                .http
                .get(format!("{}/users/{user}/integrations/{id}/token", self.api))
                .bearer_auth(&self.backend)
                .send()
                .await?;
            match handed.status().as_u16() {
                200 => handed_out += 1,
                status => failures.push(format!("{login}: token route {status}")),
            }
        }
        // The rest from one Scan of the table (moto slows with every item it holds; a request
        // per integration and event page would take longer than the soak itself).
        let dynamo = aws_sdk_dynamodb::Client::new(&aws);
        let table = dynamo
            .list_tables()
            .send()
            .await?
            .table_names
            .unwrap_or_default()
            .into_iter()
            .next()
            .context("the dev table")?;
        let rows = TableRows::scan(&dynamo, &table).await?;
        failures.extend(self.check_rows(&rows));
        let token_answers: u64 = {
            let figures = self.figures.lock().unwrap();
            figures
                .answers
                .iter()
                .filter(|((route, status, _), _)| route.ends_with("/token") && *status == 200)
                .map(|(_, count)| count)
                .sum()
        };
        let issued = rows.audit.get("token_issued").copied().unwrap_or(0);
        if issued != token_answers + handed_out {
            failures.push(format!(
                "{issued} token_issued audit entries for {} tokens handed out",
                token_answers + handed_out
            ));
        }
        println!(
            "soak: table at the end: {} items; sync jobs {:?}; audit {:?}",
            rows.items, rows.jobs, rows.audit
        );
        Ok(failures)
    }

    /// Per integration: still connected; no sync job left unfinished or failed; the synced
    /// events exactly the provider's (its 20 seeded events once any sync has succeeded, none
    /// before: the soak never changes a provider's calendar).
    fn check_rows(&self, rows: &TableRows) -> Vec<String> {
        let mut failures = Vec::new();
        for (_, id, login) in &self.integrations {
            let status = rows.status.get(id).map_or("(missing)", String::as_str);
            if status != "connected" {
                failures.push(format!("{login}: status {status}"));
            }
            let jobs = rows.jobs_of.get(id).cloned().unwrap_or_default();
            for (job_status, count) in &jobs {
                if job_status != "succeeded" {
                    failures.push(format!("{login}: {count} sync job(s) {job_status}"));
                }
            }
            let events = rows.live_events.get(id).copied().unwrap_or(0);
            let expected = if jobs.contains_key("succeeded") {
                EVENTS_PER_ACCOUNT
            } else {
                0
            };
            if events != expected {
                failures.push(format!(
                    "{login}: {events} live events stored, expected {expected}"
                ));
            }
        }
        failures
    }

    fn print(&self, seconds: u64, peak_rss: Vec<(String, u64)>) {
        let mut figures = self.figures.lock().unwrap();
        let operations: usize = figures.latencies.values().map(Vec::len).sum();
        println!(
            "soak: {operations} operations in {seconds} s ({:.0}/s) over {} integrations",
            operations as f64 / seconds.max(1) as f64,
            self.integrations.len()
        );
        println!(
            "  {:<46} {:>8} {:>9} {:>9}",
            "route", "count", "p50 ms", "p99 ms"
        );
        for (route, samples) in figures.latencies.iter_mut() {
            samples.sort();
            let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
            println!(
                "  {route:<46} {:>8} {:>9.2} {:>9.2}",
                samples.len(),
                at(0.5).as_secs_f64() * 1e3,
                at(0.99).as_secs_f64() * 1e3
            );
        }
        println!("  answers:");
        for ((route, status, code), count) in &figures.answers {
            println!("    {route:<46} {status} {code:<24} {count}");
        }
        println!("  peak RSS (VmHWM) of the stack's processes:");
        for (name, kib) in peak_rss {
            println!("    {name:<16} {:>8.1} MiB", kib as f64 / 1024.0);
        }
    }
}

/// What the end checks read from the table, by integration id.
#[derive(Default)]
struct TableRows {
    items: usize,
    status: HashMap<String, String>,
    live_events: HashMap<String, usize>,
    /// Integration → sync job status → count.
    jobs_of: HashMap<String, BTreeMap<String, usize>>,
    jobs: BTreeMap<String, usize>,
    /// Audit event → entries (anonymous roll-ups by their count).
    audit: BTreeMap<String, u64>,
}

impl TableRows {
    async fn scan(dynamo: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<Self> {
        use aws_sdk_dynamodb::types::AttributeValue;
        let mut rows = TableRows::default();
        let mut pages = dynamo.scan().table_name(table).into_paginator().send();
        while let Some(page) = pages.next().await {
            for item in page?.items.unwrap_or_default() {
                rows.items += 1;
                let text = |name: &str| match item.get(name) {
                    Some(AttributeValue::S(v)) => v.clone(),
                    _ => String::new(),
                };
                let (pk, sk) = (text("PK"), text("SK"));
                if sk.starts_with("INTEGRATION#") && pk.starts_with("USER#") {
                    rows.status.insert(text("id"), text("status"));
                } else if let Some(id) = pk.strip_prefix("INTEGRATION#") {
                    if sk.starts_with("EVENT#")
                        && !matches!(item.get("deleted"), Some(AttributeValue::Bool(true)))
                    {
                        *rows.live_events.entry(id.to_string()).or_default() += 1;
                    } else if sk.starts_with("SYNCJOB#") {
                        *rows
                            .jobs_of
                            .entry(id.to_string())
                            .or_default()
                            .entry(text("status"))
                            .or_default() += 1;
                        *rows.jobs.entry(text("status")).or_default() += 1;
                    }
                } else if sk.starts_with("AUDIT#") || pk.starts_with("AUDIT#") {
                    let count = match item.get("count") {
                        Some(AttributeValue::N(n)) => n.parse().unwrap_or(1),
                        _ => 1,
                    };
                    *rows.audit.entry(text("event")).or_default() += count;
                }
            }
        }
        Ok(rows)
    }
}

/// VmHWM of `root` and of each of its descendants by name, largest first (Linux /proc).
fn stack_peak_rss_kib(root: u32) -> Vec<(String, u64)> {
    let mut parent_of = HashMap::new();
    let mut peak = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(entry.path().join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let number = |name: &str| {
            field(name)
                .and_then(|v| v.split_whitespace().next().map(str::to_string))
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let Some(ppid) = number("PPid:") {
            parent_of.insert(pid, ppid as u32);
        }
        // moto runs as `python dev/moto_server.py`.
        let name = field("Name:")
            .map(|n| {
                if n.starts_with("python") {
                    "moto (python)".into()
                } else {
                    n
                }
            })
            .unwrap_or_default();
        peak.insert(pid, (name, number("VmHWM:").unwrap_or(0)));
    }
    let in_tree = |mut pid: u32| {
        while pid > 1 {
            if pid == root {
                return true;
            }
            pid = parent_of.get(&pid).copied().unwrap_or(0);
        }
        false
    };
    let mut stack: Vec<(String, u64)> = peak
        .into_iter()
        .filter(|(pid, (_, kib))| in_tree(*pid) && *kib > 4096)
        .map(|(_, named)| named)
        .collect();
    stack.sort_by_key(|(_, kib)| std::cmp::Reverse(*kib));
    stack
}
