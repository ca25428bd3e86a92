//! Metrics as CloudWatch Embedded Metric Format (EMF) lines: one JSON object per line on
//! standard output, which Lambda sends to CloudWatch Logs and CloudWatch turns into metrics, with
//! no API call on the request path and no permission beyond the logs the function already writes.
//! Spec followed: docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html
//!
//! A small writer rather than a crate: each line is one `serde_json` object, and the crates that
//! exist wrap the `metrics` facade's global recorder, which batches across requests and needs a
//! flush per invocation; here every line is complete when written. Names, dimensions and units
//! are listed in docs/operations.md; the template's alarms and dashboard read them.
//!
//! Each metric is emitted with few, bounded dimensions (`Service` and at most two of route,
//! provider, outcome, status, class): each combination is a custom metric CloudWatch bills for.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

/// Where EMF lines go.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    namespace: String,
    service: String,
    sink: Sink,
}

enum Sink {
    /// Lambda: standard output, one line per write.
    Stdout,
    /// `make dev`: appended to a file (`METRICS_FILE`).
    File(Mutex<std::fs::File>),
    /// Tests: kept in memory.
    Memory(Mutex<Vec<String>>),
    Off,
}

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy)]
pub enum Unit {
    Count,
    Milliseconds,
    Seconds,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Self::Count => "Count",
            Self::Milliseconds => "Milliseconds",
            Self::Seconds => "Seconds",
        }
    }
}

/// One EMF directive: values recorded under one set of dimensions.
pub struct Directive<'a> {
    pub dimensions: &'a [(&'static str, &'a str)],
    pub values: &'a [(&'static str, f64, Unit)],
}

/// Every metric name written here (docs/operations.md lists them with their dimensions); the
/// template's alarms and dashboard may read only these.
pub const METRIC_NAMES: &[&str] = &[
    "Requests",
    "Latency",
    "Refreshes",
    "RefreshLatency",
    "ProviderErrors",
    "SyncJobs",
    "SyncDuration",
    "RecordsSynced",
    "SchedulerRuns",
    "RefreshesDue",
    "SchedulerLag",
    "SyncsScheduled",
    "ConnectedIntegrations",
    "RateLimited",
    "RateLimiterUnavailable",
    "TokenRecoveries",
    "EventsUnpublished",
];

pub const DEFAULT_NAMESPACE: &str = "OAuthConnector";
pub const DEFAULT_SERVICE: &str = "oauth-connector";

impl Metrics {
    /// `METRICS_NAMESPACE` and `METRICS_SERVICE` (template.yaml: the stack's namespace and
    /// name), to standard output, or appended to `METRICS_FILE` when set (`make dev`).
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> std::io::Result<Self> {
        let sink = match env("METRICS_FILE").filter(|p| !p.is_empty()) {
            Some(path) => Sink::File(Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            )),
            None => Sink::Stdout,
        };
        Ok(Self::with_sink(
            env("METRICS_NAMESPACE").unwrap_or_else(|| DEFAULT_NAMESPACE.into()),
            env("METRICS_SERVICE").unwrap_or_else(|| DEFAULT_SERVICE.into()),
            sink,
        ))
    }

    /// Lines kept in memory, for tests ([`Metrics::lines`]).
    pub fn memory() -> Self {
        Self::with_sink(
            DEFAULT_NAMESPACE.into(),
            DEFAULT_SERVICE.into(),
            Sink::Memory(Mutex::default()),
        )
    }

    pub fn off() -> Self {
        Self::with_sink(String::new(), String::new(), Sink::Off)
    }

    fn with_sink(namespace: String, service: String, sink: Sink) -> Self {
        Self {
            inner: Arc::new(Inner {
                namespace,
                service,
                sink,
            }),
        }
    }

    /// The lines written so far (memory sink only).
    pub fn lines(&self) -> Vec<String> {
        match &self.inner.sink {
            Sink::Memory(lines) => lines.lock().map(|l| l.clone()).unwrap_or_default(),
            _ => Vec::new(),
        }
    }

    /// One EMF line: the directives' values under their dimensions (each with `Service`), and
    /// `properties` as searchable fields that are not metrics (ids, codes).
    pub fn emit(&self, directives: &[Directive<'_>], properties: &[(&str, &str)]) {
        if matches!(self.inner.sink, Sink::Off) {
            return;
        }
        let line = self.line(directives, properties);
        match &self.inner.sink {
            Sink::Stdout => {
                // One write of the whole line, so that it never interleaves with a log line.
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
            }
            Sink::File(file) => {
                if let Ok(mut file) = file.lock() {
                    let _ = file.write_all(line.as_bytes());
                }
            }
            Sink::Memory(lines) => {
                if let Ok(mut lines) = lines.lock() {
                    lines.push(line.trim_end().to_string());
                }
            }
            Sink::Off => {}
        }
    }

    fn line(&self, directives: &[Directive<'_>], properties: &[(&str, &str)]) -> String {
        let mut root = Map::new();
        let mut cloudwatch = Vec::new();
        root.insert("Service".into(), json!(self.inner.service));
        for directive in directives {
            let mut names = vec!["Service"];
            for (name, value) in directive.dimensions {
                names.push(name);
                root.insert((*name).into(), json!(value));
            }
            let metrics: Vec<Value> = directive
                .values
                .iter()
                .map(|(name, value, unit)| {
                    root.insert((*name).into(), json!(value));
                    json!({ "Name": name, "Unit": unit.name() })
                })
                .collect();
            cloudwatch.push(json!({
                "Namespace": self.inner.namespace,
                "Dimensions": [names],
                "Metrics": metrics,
            }));
        }
        for (name, value) in properties {
            root.entry(*name).or_insert_with(|| json!(value));
        }
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        root.insert(
            "_aws".into(),
            json!({ "Timestamp": timestamp, "CloudWatchMetrics": cloudwatch }),
        );
        let mut line = Value::Object(root).to_string();
        line.push('\n');
        line
    }

    /// An API request: its count and latency by route, and its count by status class.
    pub fn request(&self, route: &str, status: u16, latency: Duration, correlation_id: &str) {
        let class = status_class(status);
        self.emit(
            &[
                Directive {
                    dimensions: &[("Route", route)],
                    values: &[
                        ("Requests", 1.0, Unit::Count),
                        ("Latency", millis(latency), Unit::Milliseconds),
                    ],
                },
                Directive {
                    dimensions: &[("StatusClass", class)],
                    values: &[("Requests", 1.0, Unit::Count)],
                },
            ],
            &[
                ("correlationId", correlation_id),
                ("status", &status.to_string()),
            ],
        );
    }

    /// A refresh attempt's outcome (`refreshed`, `reused`, `expired`, `failed`), by provider and
    /// overall; its latency by provider when the provider was asked.
    pub fn refresh(&self, provider: &str, outcome: &str, latency: Option<Duration>) {
        let overall = [("Outcome", outcome)];
        let by_provider = [("Provider", provider), ("Outcome", outcome)];
        let provider_only = [("Provider", provider)];
        let counted = [("Refreshes", 1.0, Unit::Count)];
        let timed = latency.map(|l| [("RefreshLatency", millis(l), Unit::Milliseconds)]);
        let mut directives = vec![
            Directive {
                dimensions: &overall,
                values: &counted,
            },
            Directive {
                dimensions: &by_provider,
                values: &counted,
            },
        ];
        if let Some(timed) = &timed {
            directives.push(Directive {
                dimensions: &provider_only,
                values: timed,
            });
        }
        self.emit(&directives, &[]);
    }

    /// A provider answer that was an error (`status`: the HTTP status, or `network`).
    pub fn provider_error(&self, provider: &str, status: &str) {
        self.emit(
            &[Directive {
                dimensions: &[("Provider", provider), ("Status", status)],
                values: &[("ProviderErrors", 1.0, Unit::Count)],
            }],
            &[],
        );
    }

    /// A sync job's end (`succeeded`, `failed`): its duration and the records it wrote.
    pub fn sync_job(&self, outcome: &str, duration: Duration, records: u64, job_id: &str) {
        self.emit(
            &[Directive {
                dimensions: &[("Outcome", outcome)],
                values: &[
                    ("SyncJobs", 1.0, Unit::Count),
                    ("SyncDuration", millis(duration), Unit::Milliseconds),
                    ("RecordsSynced", records as f64, Unit::Count),
                ],
            }],
            &[("jobId", job_id)],
        );
    }

    /// A scheduler run: refreshes due, how late the oldest of them is (0 when on time), syncs
    /// queued, and the connected integrations when they could be counted.
    pub fn scheduler_run(
        &self,
        due: usize,
        lag_secs: i64,
        syncs_queued: usize,
        connected: Option<usize>,
    ) {
        let run = [
            ("SchedulerRuns", 1.0, Unit::Count),
            ("RefreshesDue", due as f64, Unit::Count),
            ("SchedulerLag", lag_secs.max(0) as f64, Unit::Seconds),
            ("SyncsScheduled", syncs_queued as f64, Unit::Count),
        ];
        let counted = connected.map(|c| [("ConnectedIntegrations", c as f64, Unit::Count)]);
        let mut directives = vec![Directive {
            dimensions: &[],
            values: &run,
        }];
        if let Some(counted) = &counted {
            directives.push(Directive {
                dimensions: &[],
                values: counted,
            });
        }
        self.emit(&directives, &[]);
    }

    /// A request refused by its caller's rate limit.
    pub fn rate_limited(&self, class: &str) {
        self.emit(
            &[Directive {
                dimensions: &[("LimitClass", class)],
                values: &[("RateLimited", 1.0, Unit::Count)],
            }],
            &[],
        );
    }

    /// The rate limiter's store failed; the request was admitted.
    pub fn rate_limiter_unavailable(&self) {
        self.emit(
            &[Directive {
                dimensions: &[],
                values: &[("RateLimiterUnavailable", 1.0, Unit::Count)],
            }],
            &[],
        );
    }

    /// A lifecycle event EventBridge did not take (crate::publish).
    pub fn event_unpublished(&self, detail_type: &str) {
        self.emit(
            &[Directive {
                dimensions: &[],
                values: &[("EventsUnpublished", 1.0, Unit::Count)],
            }],
            &[("detailType", detail_type)],
        );
    }

    /// Tokens handed to the recovery queue (`queued`), or taken from it (`applied`,
    /// `obsolete`, `retry`, `malformed`).
    pub fn token_recovery(&self, outcome: &str) {
        self.emit(
            &[Directive {
                dimensions: &[("Outcome", outcome)],
                values: &[("TokenRecoveries", 1.0, Unit::Count)],
            }],
            &[],
        );
    }
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn status_class(status: u16) -> &'static str {
    match status {
        500.. => "5xx",
        400.. => "4xx",
        _ => "2xx",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_valid_emf_with_each_directives_dimensions_and_values() {
        let metrics = Metrics::memory();
        metrics.request(
            "GET /integrations",
            503,
            Duration::from_micros(12_345),
            "c-1",
        );
        let lines = metrics.lines();
        assert_eq!(lines.len(), 1);
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        let aws = &line["_aws"];
        assert!(aws["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
        let directives = aws["CloudWatchMetrics"].as_array().unwrap();
        assert_eq!(directives.len(), 2);
        assert_eq!(directives[0]["Namespace"], DEFAULT_NAMESPACE);
        assert_eq!(directives[0]["Dimensions"], json!([["Service", "Route"]]));
        assert_eq!(
            directives[0]["Metrics"],
            json!([{"Name": "Requests", "Unit": "Count"}, {"Name": "Latency", "Unit": "Milliseconds"}])
        );
        assert_eq!(
            directives[1]["Dimensions"],
            json!([["Service", "StatusClass"]])
        );
        // Every dimension and metric a directive names is a member of the line (the spec's
        // one hard rule: otherwise CloudWatch drops the line).
        for directive in directives {
            for name in directive["Dimensions"][0].as_array().unwrap() {
                assert!(line[name.as_str().unwrap()].is_string(), "{name}");
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                assert!(line[metric["Name"].as_str().unwrap()].is_number());
            }
        }
        assert_eq!(line["Service"], DEFAULT_SERVICE);
        assert_eq!(line["Route"], "GET /integrations");
        assert_eq!(line["StatusClass"], "5xx");
        assert_eq!(line["Latency"], 12.345);
        assert_eq!(line["correlationId"], "c-1");
    }

    #[test]
    fn the_helpers_write_exactly_the_listed_metrics() {
        let metrics = Metrics::memory();
        metrics.request("GET /health", 200, Duration::from_millis(1), "c");
        metrics.refresh("demo", "refreshed", Some(Duration::from_millis(5)));
        metrics.provider_error("demo", "503");
        metrics.sync_job("succeeded", Duration::from_secs(1), 3, "j");
        metrics.scheduler_run(1, 0, 0, Some(4));
        metrics.rate_limited("read");
        metrics.rate_limiter_unavailable();
        metrics.token_recovery("applied");
        metrics.event_unpublished("sync.failed");
        let mut written = std::collections::BTreeSet::new();
        for line in metrics.lines() {
            let line: Value = serde_json::from_str(&line).unwrap();
            for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
                for metric in directive["Metrics"].as_array().unwrap() {
                    written.insert(metric["Name"].as_str().unwrap().to_string());
                }
            }
        }
        let listed: std::collections::BTreeSet<String> =
            METRIC_NAMES.iter().map(|n| n.to_string()).collect();
        assert_eq!(written, listed);
    }

    #[test]
    fn status_classes_and_an_untimed_refresh() {
        assert_eq!(status_class(200), "2xx");
        assert_eq!(status_class(302), "2xx");
        assert_eq!(status_class(429), "4xx");
        assert_eq!(status_class(500), "5xx");
        let metrics = Metrics::memory();
        metrics.refresh("google", "reused", None);
        let line: Value = serde_json::from_str(&metrics.lines()[0]).unwrap();
        assert_eq!(
            line["_aws"]["CloudWatchMetrics"].as_array().unwrap().len(),
            2
        );
        assert!(line.get("RefreshLatency").is_none());
        assert_eq!(line["Outcome"], "reused");
    }

    #[test]
    fn off_writes_nothing_and_a_file_sink_appends_lines() {
        Metrics::off().scheduler_run(3, 0, 0, None);
        let dir = std::env::temp_dir().join(format!("emf-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("metrics.jsonl");
        let _ = std::fs::remove_file(&path);
        let env = |name: &str| (name == "METRICS_FILE").then(|| path.display().to_string());
        let metrics = Metrics::from_env(&env).unwrap();
        metrics.scheduler_run(3, 42, 1, None);
        metrics.rate_limited("read");
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["SchedulerLag"], 42.0);
        assert_eq!(lines[1]["LimitClass"], "read");
    }
}
