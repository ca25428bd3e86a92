//! What every function's `main.rs` calls: tracing, the [`App`] built once, then the runtime loop.

use std::convert::Infallible;
use std::future::Future;

use tokio::time::Instant;

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{aws_lambda_events, service_fn};

use crate::app::App;
use crate::handlers::{Handler, serve, serve_unlimited};
use crate::http::ApiRequest;
use crate::routes::Function;

type SqsEvent = aws_lambda_events::event::sqs::SqsEvent;
type SqsBatchResponse = aws_lambda_events::event::sqs::SqsBatchResponse;

/// An HTTP function: `handler` serves every request API Gateway sends to `function`.
pub async fn run_http<H>(function: Function, handler: H) -> Result<(), lambda_http::Error>
where
    H: for<'a> Handler<'a> + Copy + Send + Sync + 'static,
{
    // JSON lines when Lambda's LoggingConfig says so (template.yaml); the request id is on each line's span.
    init_logging();
    let app: &'static App = Box::leak(Box::new(App::from_env()?));
    serve_http(app, function, handler).await
}

/// A static route's function (`/health`, `/providers`): as [`run_http`], with a container that
/// builds no AWS client ([`App::without_aws`]), so its binary links none of the SDK.
pub async fn run_static_http<H>(function: Function, handler: H) -> Result<(), lambda_http::Error>
where
    H: for<'a> Handler<'a> + Copy + Send + Sync + 'static,
{
    init_logging();
    let app: &'static App = Box::leak(Box::new(App::without_aws()?));
    lambda_http::run(service_fn(move |event: lambda_http::Request| async move {
        let request = ApiRequest::from_lambda(event);
        let response = serve_unlimited(app, function, handler, request).await;
        Ok::<_, Infallible>(response.into_lambda())
    }))
    .await
}

async fn serve_http<H>(
    app: &'static App,
    function: Function,
    handler: H,
) -> Result<(), lambda_http::Error>
where
    H: for<'a> Handler<'a> + Copy + Send + Sync + 'static,
{
    lambda_http::run(service_fn(move |event: lambda_http::Request| async move {
        let response = serve(app, function, handler, ApiRequest::from_lambda(event)).await;
        Ok::<_, Infallible>(response.into_lambda())
    }))
    .await
}

/// The refresh scheduler (`jobs::schedule_refreshes`): an EventBridge schedule's events. A run that could not send every
/// message fails, so Lambda's retry of the asynchronous invocation (and the next run) sends them.
pub async fn run_refresh_scheduler() -> Result<(), lambda_http::Error> {
    init_logging();
    let app: &'static App = Box::leak(Box::new(App::from_env()?));
    if app.refresh_queue.is_none() {
        return Err(crate::jobs::SchedulerError::NoQueue.into());
    }
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<aws_lambda_events::event::eventbridge::EventBridgeEvent>| async move {
            let report = crate::jobs::schedule_refreshes(app, crate::clock::now_epoch()).await?;
            if report.unsent > 0 {
                return Err(format!("{} refresh messages not sent", report.unsent).into());
            }
            Ok::<_, lambda_http::Error>(report)
        },
    ))
    .await
}

/// A queue worker (`refresh-worker`, `sync-worker`): `handler` takes each SQS batch with the
/// invocation's deadline and answers with a partial batch response.
pub async fn run_queue_worker<H>(handler: H) -> Result<(), lambda_http::Error>
where
    H: for<'a> BatchHandler<'a> + Copy + Send + Sync + 'static,
{
    init_logging();
    let app: &'static App = Box::leak(Box::new(App::from_env()?));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
        let deadline = invocation_deadline(event.context.deadline);
        Ok::<_, Infallible>(handler(app, event.payload, deadline).await)
    }))
    .await
}

/// A queue worker's handler (`jobs::refresh_batch`, `jobs::sync_batch`); the helper trait names
/// the returned future so that it can be required `Send`, as for [`crate::handlers::Handler`].
pub trait BatchHandler<'a>: Fn(&'a App, SqsEvent, Instant) -> Self::Answer {
    type Answer: Future<Output = SqsBatchResponse> + Send + 'a;
}

impl<'a, F, A> BatchHandler<'a> for F
where
    F: Fn(&'a App, SqsEvent, Instant) -> A,
    A: Future<Output = SqsBatchResponse> + Send + 'a,
{
    type Answer = A;
}

/// The invocation's deadline (epoch ms from the Runtime API) as an Instant, less a safety margin
/// for answering: the refresh path takes no lease it could not see through before it.
fn invocation_deadline(deadline_epoch_ms: u64) -> Instant {
    const ANSWER_MARGIN_MS: i64 = 2_000;
    let left_ms = deadline_epoch_ms as i64 - crate::clock::now_epoch_ms() - ANSWER_MARGIN_MS;
    Instant::now() + std::time::Duration::from_millis(left_ms.max(0) as u64)
}

/// Crates that see raw events, HTTP bodies and headers (the bearer JWT, the callback's code and
/// state, a provider's token answer): `lambda_runtime` traces every raw event. Whatever
/// `LogLevel` says, nothing below INFO of theirs is written.
const TRANSPORT_TARGETS: &[&str] = &[
    "lambda_runtime",
    "lambda_runtime_api_client",
    "lambda_http",
    "hyper",
    "hyper_util",
    "h2",
    "reqwest",
    "rustls",
    "tower",
    "oauth2",
    "aws_smithy",
    "aws_sdk",
    "aws_config",
    "aws_runtime",
];

/// `level` or `target=level,…` (RUST_LOG's syntax without span and field filters: `Targets`
/// needs no regex engine, which `EnvFilter` links into every binary). Targets not named log at
/// INFO, unless a bare level says otherwise; all of it when empty or invalid.
fn log_levels(spec: &str) -> lambda_http::tracing::subscriber::filter::Targets {
    use lambda_http::tracing::subscriber::filter::{LevelFilter, Targets};
    let targets = match spec.trim() {
        "" => Targets::new(),
        spec => spec.parse::<Targets>().unwrap_or_default(),
    };
    match targets.default_level() {
        Some(_) => targets,
        None => targets.with_default(LevelFilter::INFO),
    }
}

/// Logging as Lambda's advanced logging controls ask (`AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`,
/// else info; JSON lines when `AWS_LAMBDA_LOG_FORMAT=JSON`), with the transport crates capped
/// at INFO.
fn init_logging() {
    use lambda_http::tracing::subscriber::filter::filter_fn;
    use lambda_http::tracing::subscriber::prelude::*;
    use lambda_http::tracing::subscriber::{Layer, fmt, registry};

    let spec = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_default();
    let levels = log_levels(&spec);
    let quiet = filter_fn(|meta| {
        *meta.level() <= tracing::Level::INFO
            || !TRANSPORT_TARGETS
                .iter()
                .any(|t| meta.target().starts_with(t))
    });
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let lines = fmt::layer().with_target(false).without_time();
    let lines = if json {
        lines.json().boxed()
    } else {
        lines.boxed()
    };
    let _ = registry()
        .with(levels)
        .with(lines.with_filter(quiet))
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::log_levels;
    use lambda_http::tracing::subscriber::filter::LevelFilter;

    #[test]
    fn log_levels_read_lambdas_level_and_rust_log_targets() {
        let default = |spec: &str| log_levels(spec).default_level();
        assert_eq!(default("DEBUG"), Some(LevelFilter::DEBUG));
        assert_eq!(default("warn"), Some(LevelFilter::WARN));
        assert_eq!(default(""), Some(LevelFilter::INFO));
        assert_eq!(default("no such level=="), Some(LevelFilter::INFO));
        let targets = log_levels("info,shared::refresh=trace");
        assert!(targets.would_enable("shared::refresh", &tracing::Level::TRACE));
        assert!(!targets.would_enable("shared::store", &tracing::Level::DEBUG));
        // A target alone keeps the others at INFO, as EnvFilter's default directive did.
        let targets = log_levels("shared::refresh=debug");
        assert!(targets.would_enable("shared::refresh", &tracing::Level::DEBUG));
        assert!(targets.would_enable("lambda_runtime", &tracing::Level::INFO));
        assert!(!targets.would_enable("lambda_runtime", &tracing::Level::DEBUG));
    }
}
