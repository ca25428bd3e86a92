//! Child processes that never outlive the process that started them: each runs under a small
//! shell that stops it when our end of its stdin pipe closes, which the kernel does on any exit
//! of ours, a panic or a killed test run included. Output goes to a log file (no pipe to drain,
//! so a child never blocks on us); readiness is an HTTP answer.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

pub struct GuardedChild {
    child: Child,
    lifeline: Option<ChildStdin>,
    pub name: String,
    pub log: PathBuf,
}

impl GuardedChild {
    /// Starts `program args…` and waits until `ready_url` answers.
    pub async fn start(
        name: &str,
        program: &Path,
        args: &[&str],
        envs: &[(&str, String)],
        ready_url: &str,
    ) -> anyhow::Result<Self> {
        let log_dir = crate::repo_root().join("target/dev-logs");
        std::fs::create_dir_all(&log_dir)?;
        let log = log_dir.join(format!("{name}-{}.log", std::process::id()));
        let out = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new("sh");
        command
            .arg("-c")
            // A program slow to exit on SIGTERM (moto's final garbage collection of a big heap)
            // gets SIGKILL 3 s later, from a sleeper that outlives this shell if need be.
            .arg(r#""$@" </dev/null & child=$!; cat >/dev/null; kill $child 2>/dev/null; (sleep 3; kill -9 $child 2>/dev/null) & wait $child"#)
            .arg("sh")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out.try_clone()?)
            .stderr(out);
        for (k, v) in envs {
            command.env(k, v);
        }
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {name} ({})", program.display()))?;
        let lifeline = child.stdin.take().context("child stdin")?;
        let started = Self {
            child,
            lifeline: Some(lifeline),
            name: name.to_string(),
            log,
        };
        if let Err(e) = wait_for_http(ready_url, Duration::from_secs(30)).await {
            let output = std::fs::read_to_string(&started.log).unwrap_or_default();
            drop(started);
            bail!("{name} did not become ready: {e}; its output:\n{output}");
        }
        Ok(started)
    }
}

impl Drop for GuardedChild {
    fn drop(&mut self) {
        // Closing the lifeline makes the wrapper shell stop the program and exit. Killing the
        // shell instead would orphan the program, so that is only the last resort.
        drop(self.lifeline.take());
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` until it answers (any HTTP status) or `timeout` passes.
pub async fn wait_for_http(url: &str, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if client.get(url).send().await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("{url} did not answer within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The local moto server (DynamoDB, KMS, SQS, Secrets Manager) on `port`, each DynamoDB
/// request run alone (dev/moto_server.py says why).
pub async fn start_moto(port: u16) -> anyhow::Result<(GuardedChild, String)> {
    let binary = crate::repo_root().join(".venv/bin/python");
    let script = crate::repo_root().join("dev/moto_server.py");
    let script = script.to_string_lossy();
    if !binary.exists() {
        bail!(
            "{} is missing: run `make bootstrap` (`make dev` and `make test` run it) first",
            binary.display()
        );
    }
    let url = format!("http://127.0.0.1:{port}");
    let port_text = port.to_string();
    let child = GuardedChild::start(
        "moto",
        &binary,
        &[&script, "-H", "127.0.0.1", "-p", &port_text],
        &[],
        &format!("{url}/moto-api/"),
    )
    .await?;
    Ok((child, url))
}

pub struct OAuthServerOptions {
    pub port: u16,
    pub client_id: String,
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    pub access_token_ttl_secs: u64,
}

/// The local OAuth 2.0 / OIDC server (dev/oauth-server, node oidc-provider).
pub async fn start_oauth_server(
    options: &OAuthServerOptions,
) -> anyhow::Result<(GuardedChild, String)> {
    let root = crate::repo_root().join("dev/oauth-server");
    if !root.join("node_modules").exists() {
        bail!(
            "{}/node_modules is missing: run `make bootstrap` first",
            root.display()
        );
    }
    let script = root.join("server.mjs").to_string_lossy().to_string();
    let url = format!("http://127.0.0.1:{}", options.port);
    let envs = [
        ("OAUTH_PORT", options.port.to_string()),
        ("OAUTH_CLIENT_ID", options.client_id.clone()),
        ("OAUTH_CLIENT_SECRET", options.client_secret.clone()),
        ("OAUTH_REDIRECT_URIS", options.redirect_uris.join(",")),
        (
            "ACCESS_TOKEN_TTL",
            options.access_token_ttl_secs.to_string(),
        ),
    ];
    let child = GuardedChild::start(
        "oauth-server",
        Path::new("node"),
        &[&script],
        &envs,
        &format!("{url}/.well-known/openid-configuration"),
    )
    .await?;
    Ok((child, url))
}
