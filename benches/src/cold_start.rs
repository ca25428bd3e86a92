//! Cold starts (#18), printed by `make bench`, never asserted:
//! - each function's release binary size against the 7.5 MiB target;
//! - each function's spawn → first `/next` under a minimal Runtime API, next to the floor
//!   (benches/floor: a bare lambda_http function building the same clients), runs interleaved;
//! - the token route's fresh-token path, spawn → response and peak RSS, next to its Node.js 20
//!   peer (benches/node-peer: AWS SDK v3, the same calls, row and envelope).
//!
//! Usage: scripts/bench.sh (builds the release binaries and installs the peer first).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;

const RUNS: usize = 30;
/// Each function's cold starts next to its floor's: more than the peer's, as the ratio is
/// the figure (a few percent between two ~3 ms starts on a shared 2-core machine).
const COLD_RUNS: usize = 60;
const SIZE_TARGET_MIB: f64 = 7.5;

/// What one spawn of a program under the Runtime API measured.
struct Spawn {
    to_first_poll: Duration,
    to_response: Duration,
    response: String,
    peak_rss_kib: u64,
}

/// Spawns `program args` under a Runtime API serving `event`, with `env` beside Lambda's own
/// variables, and waits for its first poll, then (`respond`) for its response.
async fn spawn_once(
    program: &Path,
    args: &[&str],
    event: &str,
    env: &[(String, String)],
    respond: bool,
) -> anyhow::Result<Spawn> {
    let mut api = devstack::runtime_api::runtime_api(event.to_string()).await?;
    let started = Instant::now();
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{}", api.port))
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("RUST_LOG", "warn")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let limit = Duration::from_secs(20);
    let polled = tokio::time::timeout(limit, &mut api.first_poll)
        .await
        .context("no poll")??;
    if !respond {
        child.kill().await?;
        return Ok(Spawn {
            to_first_poll: polled - started,
            to_response: polled - started,
            response: String::new(),
            peak_rss_kib: 0,
        });
    }
    let (answered, body) = tokio::time::timeout(limit, api.responses.recv())
        .await?
        .context("no response")?;
    // The process now waits on its second poll: its high-water mark is the first invocation's.
    let pid = child.id().unwrap_or_default();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    child.kill().await?;
    Ok(Spawn {
        to_first_poll: polled - started,
        to_response: answered - started,
        response: String::from_utf8_lossy(&body).into_owned(),
        peak_rss_kib,
    })
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The variables template.yaml gives `function` beyond the Globals: literal values, and its
/// queues' URLs (other references are left out).
fn own_variables(template: &serde_yaml::Value, function: &str) -> Vec<(String, String)> {
    let resources = template["Resources"].as_mapping().into_iter().flatten();
    resources
        .map(|(_, resource)| resource)
        .filter(|r| r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(function))
        .flat_map(|r| {
            r["Properties"]["Environment"]["Variables"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter_map(|(name, value)| {
                    let name = name.as_str()?.to_string();
                    let value = match value {
                        // `!Ref SomeQueue`: a queue URL (nothing is sent before the first poll).
                        _ if name.ends_with("_QUEUE_URL") => {
                            format!("http://127.0.0.1:1/123456789012/{}", name.to_lowercase())
                        }
                        serde_yaml::Value::String(text) => text.clone(),
                        serde_yaml::Value::Number(number) => number.to_string(),
                        _ => return None,
                    };
                    Some((name, value))
                })
        })
        .collect()
}

/// The variables template.yaml's Globals give every function in a deployment of its defaults:
/// literal values, and `!Ref Parameter` as the parameter's default (an empty default, and any
/// other reference, leaves the variable unset, as `!Ref AWS::NoValue` does).
fn global_variables(template: &serde_yaml::Value) -> Vec<(String, String)> {
    let parameters = &template["Parameters"];
    let globals = template["Globals"]["Function"]["Environment"]["Variables"].as_mapping();
    globals
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| {
            let value = match value {
                serde_yaml::Value::String(text) => text.clone(),
                serde_yaml::Value::Number(number) => number.to_string(),
                serde_yaml::Value::Tagged(tagged) if tagged.tag == "!Ref" => {
                    let default = &parameters[tagged.value.as_str()?]["Default"];
                    match default {
                        serde_yaml::Value::String(text) => text.clone(),
                        serde_yaml::Value::Number(number) => number.to_string(),
                        _ => return None,
                    }
                }
                _ => return None,
            };
            let name = name.as_str()?.to_string();
            (!value.is_empty()).then_some((name, value))
        })
        .collect()
}

/// The clients a function's container builds before its first poll (shared::app::App) from
/// template.yaml's variables (Globals: the table, the key, the secrets' names, the event bus;
/// its own: queue URLs), in the floor's `FLOOR_CLIENTS` terms. Provider HTTP is built at the
/// first provider call, so no function builds it at cold start.
fn clients_of(function: &str, own: &[(String, String)]) -> String {
    let static_route = shared::routes::Function::ALL
        .iter()
        .any(|f| f.name() == function && !f.builds_aws_clients());
    if static_route {
        return String::new();
    }
    let mut clients = "dynamodb,kms,secretsmanager,eventbridge".to_string();
    if own.iter().any(|(name, _)| name.ends_with("_QUEUE_URL")) {
        clients.push_str(",sqs");
    }
    clients
}

/// In-process, median of many: what a container does before its first poll beside building
/// clients (release build), so that the gap to the floor can be read.
fn startup_parts(env: &[(String, String)]) -> anyhow::Result<()> {
    let lambda = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
    ];
    let lookup = |name: &str| {
        let given = env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        given.or_else(|| {
            lambda
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    };
    let time = |f: &mut dyn FnMut() -> anyhow::Result<()>| -> anyhow::Result<Duration> {
        let mut times = Vec::new();
        for _ in 0..500 {
            let started = Instant::now();
            f()?;
            times.push(started.elapsed());
        }
        Ok(median(times))
    };
    let catalogue = time(&mut || {
        shared::catalogue::ProviderCatalogue::load(&lookup)?;
        Ok(())
    })?;
    let settings = time(&mut || {
        shared::config::Settings::from_env(&lookup)?;
        Ok(())
    })?;
    let aws = time(&mut || {
        let aws = shared::aws::sdk_config(&lookup)?;
        let _ = (
            aws_sdk_dynamodb::Client::new(&aws),
            aws_sdk_sqs::Client::new(&aws),
        );
        Ok(())
    })?;
    // The whole container (settings, catalogue, SDK configuration, every client, metrics) next
    // to what the floor builds: the SDK configuration and the same five clients.
    let app = time(&mut || {
        let aws = shared::aws::sdk_config(&lookup)?;
        std::hint::black_box(shared::app::App::from_lookup(&lookup, &aws)?);
        Ok(())
    })?;
    let floor_clients = time(&mut || {
        let aws = shared::aws::sdk_config(&lookup)?;
        std::hint::black_box((
            aws_sdk_dynamodb::Client::new(&aws),
            aws_sdk_kms::Client::new(&aws),
            aws_sdk_sqs::Client::new(&aws),
            aws_sdk_secretsmanager::Client::new(&aws),
            aws_sdk_eventbridge::Client::new(&aws),
        ));
        Ok(())
    })?;
    println!(
        "in-process, median of 500: the whole container (App::from_lookup with its SDK \
         configuration) {:.0} µs; the SDK configuration and the five clients alone {:.0} µs",
        app.as_secs_f64() * 1e6,
        floor_clients.as_secs_f64() * 1e6
    );
    // Where the catalogue's time goes: the TOML parse alone, and the same tree from JSON.
    let embedded = shared::catalogue::EMBEDDED;
    let tree: toml::Value = toml::from_str(embedded)?;
    let as_json = serde_json::to_string(&tree)?;
    let toml_parse = time(&mut || {
        toml::from_str::<toml::Value>(embedded)?;
        Ok(())
    })?;
    let json_parse = time(&mut || {
        serde_json::from_str::<serde_json::Value>(&as_json)?;
        Ok(())
    })?;
    println!(
        "the embedded catalogue's text alone: TOML parse {:.0} µs; the same tree as JSON {:.0} µs",
        toml_parse.as_secs_f64() * 1e6,
        json_parse.as_secs_f64() * 1e6
    );
    println!(
        "in-process, median of 500: catalogue load {:.0} µs, settings {:.0} µs, SDK \
         configuration + DynamoDB and SQS clients {:.0} µs",
        catalogue.as_secs_f64() * 1e6,
        settings.as_secs_f64() * 1e6,
        aws.as_secs_f64() * 1e6
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let root = devstack::repo_root();
    let release = root.join("target/release");
    let mut functions: Vec<String> = std::fs::read_dir(root.join("functions"))?
        .map(|e| Ok(e?.file_name().to_string_lossy().to_string()))
        .collect::<anyhow::Result<_>>()?;
    functions.sort();
    // `BENCH_FUNCTIONS=health,token`: those only, for a quicker look (`make bench` runs all).
    let only = std::env::var("BENCH_FUNCTIONS").unwrap_or_default();
    functions.retain(|name| only.is_empty() || only.split(',').any(|f| f == name));

    println!("## Release binaries (x86_64, `make build-release`): target ≤ {SIZE_TARGET_MIB} MiB");
    let mut largest = 0.0_f64;
    for name in &functions {
        let mib = std::fs::metadata(release.join(name))?.len() as f64 / 1_048_576.0;
        largest = largest.max(mib);
        let mark = if mib <= SIZE_TARGET_MIB { "" } else { "  OVER" };
        println!("{name:>18}: {mib:.2} MiB{mark}");
    }
    println!("{:>18}: {largest:.2} MiB", "largest");

    let t = integration_tests::TestApp::with(integration_tests::Options {
        key_cache: true,
        ..Default::default()
    })
    .await;
    let template: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(root.join("template.yaml"))?)?;
    // A deployment of template.yaml's defaults, on moto: the Globals, then what points them at
    // the test stack (a later variable of the same name wins).
    let mut env = global_variables(&template);
    env.extend::<Vec<(String, String)>>(vec![
        ("AWS_ENDPOINT_URL".into(), t.stack.moto_url.clone()),
        ("TABLE_NAME".into(), t.table_name.clone()),
        ("KMS_KEY_ID".into(), t.kms_key_id.clone()),
        ("PUBLIC_BASE_URL".into(), "http://127.0.0.1:1".into()),
        (
            "BACKEND_PRINCIPAL_ARNS".into(),
            integration_tests::BACKEND_PRINCIPAL.into(),
        ),
        // The Globals' bus is a `!If` (no bus on moto: nothing here publishes).
        ("EVENT_BUS_NAME".into(), "cold-start-bench".into()),
    ]);
    env.extend(t.secret_names.iter().cloned());
    let mut seen = std::collections::HashSet::new();
    env.reverse();
    env.retain(|(name, _)| seen.insert(name.clone()));

    println!(
        "\n## Cold start: spawn → first /next, medians of {COLD_RUNS}, each run beside one of its \
         floor (benches/floor building the same clients); the ratio of the medians, then the \
         median of each pair's ratio, which cancels what the machine does between pairs"
    );
    let floor = release.join("cold-start-floor");
    let health = std::fs::read_to_string(root.join("events/health-ok.json"))?;
    let mut worst = 0.0_f64;
    for name in &functions {
        let own = own_variables(&template, name);
        let clients = clients_of(name, &own);
        let mut env = env.clone();
        env.extend(own);
        let mut floor_env = env.clone();
        floor_env.push(("FLOOR_CLIENTS".into(), clients.clone()));
        let (mut ours, mut bare, mut paired) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..COLD_RUNS {
            // Any event: the figure ends at the first poll, before the event is read.
            let ours_once = spawn_once(&release.join(name), &[], &health, &env, false)
                .await?
                .to_first_poll;
            let bare_once = spawn_once(&floor, &[], &health, &floor_env, false)
                .await?
                .to_first_poll;
            ours.push(ours_once);
            bare.push(bare_once);
            paired.push(ms(ours_once) / ms(bare_once));
        }
        let (ours, bare) = (median(ours), median(bare));
        paired.sort_by(f64::total_cmp);
        let ratio = paired[paired.len() / 2];
        worst = worst.max(ratio);
        let clients = if clients.is_empty() { "none" } else { &clients };
        println!(
            "{name:>18}: {:.2} ms, floor {:.2} ms ({:.2}×) → {ratio:.2}× paired (clients: {clients})",
            ms(ours),
            ms(bare),
            ms(ours) / ms(bare)
        );
    }
    println!("{:>18}: {worst:.2}× paired (target ≤ 1.05×)", "worst");
    startup_parts(&env)?;

    peer_comparison(&root, &t, &env).await
}

/// The token route's fresh-token path in our binary and in the Node.js peer, alternately.
async fn peer_comparison(
    root: &Path,
    t: &integration_tests::TestApp,
    env: &[(String, String)],
) -> anyhow::Result<()> {
    let user = "cold-start";
    let id = t.connected(user).await;
    let mut event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("events/token-not-found.json"),
    )?)?;
    event["pathParameters"] = serde_json::json!({"userId": user, "id": id});
    let path = format!("/users/{user}/integrations/{id}/token");
    event["rawPath"] = path.clone().into();
    event["requestContext"]["http"]["path"] = path.into();
    let event = event.to_string();

    let node = PathBuf::from("/usr/bin/node");
    let peer = root.join("benches/node-peer/index.mjs");
    let peer_args = [peer.to_str().unwrap_or_default()];
    let ours_binary = root.join("target/release/token");
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ours.push(spawn_once(&ours_binary, &[], &event, env, true).await?);
        theirs.push(spawn_once(&node, &peer_args, &event, env, true).await?);
    }
    let access_token = |s: &Spawn| -> anyhow::Result<String> {
        let response: serde_json::Value = serde_json::from_str(&s.response)?;
        let body: serde_json::Value =
            serde_json::from_str(response["body"].as_str().unwrap_or_default())?;
        Ok(body["data"]["accessToken"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    };
    let (a, b) = (access_token(&ours[0])?, access_token(&theirs[0])?);
    anyhow::ensure!(
        !a.is_empty() && a == b,
        "the peer must hand out the same token: ours {}, peer {}",
        ours[0].response,
        theirs[0].response
    );
    let summary = |spawns: &[Spawn]| {
        let to_response = median(spawns.iter().map(|s| s.to_response).collect());
        let rss = spawns.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0) as f64 / 1024.0;
        (to_response, rss)
    };
    let ((ours_time, ours_rss), (peer_time, peer_rss)) = (summary(&ours), summary(&theirs));
    println!(
        "\n## The token route, fresh token (rate-limit UpdateItem, GetItem, KMS Decrypt, audit \
         PutItem against moto): spawn → response, median of {RUNS}; peak RSS, largest"
    );
    println!(
        "{:>18}: {:.1} ms, {ours_rss:.1} MiB",
        "ours (Rust)",
        ms(ours_time)
    );
    println!(
        "{:>18}: {:.1} ms, {peer_rss:.1} MiB",
        "Node.js 20 peer",
        ms(peer_time)
    );
    println!(
        "{:>18}: {:.1}× faster, {:.1}× less memory",
        "ratio",
        ms(peer_time) / ms(ours_time),
        peer_rss / ours_rss
    );
    Ok(())
}
