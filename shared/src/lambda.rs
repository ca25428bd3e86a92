//! What every function's `main.rs` calls: tracing, the [`App`] built once, then the runtime loop.

use std::convert::Infallible;

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{aws_lambda_events, service_fn, tracing as lambda_tracing};

use crate::app::App;
use crate::handlers::handle;
use crate::http::ApiRequest;
use crate::routes::Function;

pub async fn run_http(function: Function) -> Result<(), lambda_http::Error> {
    // JSON lines when Lambda's LoggingConfig says so (template.yaml); the request id is on each line's span.
    lambda_tracing::init_default_subscriber();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    lambda_http::run(service_fn(move |event: lambda_http::Request| async move {
        let response = handle(app, function, ApiRequest::from_lambda(event)).await;
        Ok::<_, Infallible>(response.into_lambda())
    }))
    .await
}

/// The refresh scheduler: an EventBridge schedule's events. A run that could not send every
/// message fails, so Lambda's retry of the asynchronous invocation (and the next run) sends them.
pub async fn run_refresh_scheduler() -> Result<(), lambda_http::Error> {
    lambda_tracing::init_default_subscriber();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    if app.refresh_queue.is_none() {
        return Err(crate::jobs::SchedulerError::NoQueue.into());
    }
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<aws_lambda_events::event::eventbridge::EventBridgeEvent>| async move {
            let report = crate::jobs::schedule_refreshes(app, crate::domain::now_epoch()).await?;
            if report.unsent > 0 {
                return Err(format!("{} refresh messages not sent", report.unsent).into());
            }
            Ok::<_, lambda_http::Error>(report)
        },
    ))
    .await
}

/// The refresh worker: batches from the refresh queue, answered with a partial batch response.
pub async fn run_refresh_worker() -> Result<(), lambda_http::Error> {
    lambda_tracing::init_default_subscriber();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            let deadline = invocation_deadline(event.context.deadline);
            Ok::<_, Infallible>(crate::jobs::refresh_batch(app, event.payload, deadline).await)
        },
    ))
    .await
}

/// The invocation's deadline (epoch ms from the Runtime API) as an Instant, less a safety margin
/// for answering: the refresh path takes no lease it could not see through before it.
fn invocation_deadline(deadline_epoch_ms: u64) -> tokio::time::Instant {
    const ANSWER_MARGIN_MS: i64 = 2_000;
    let left_ms = deadline_epoch_ms as i64 - crate::domain::now_epoch_ms() - ANSWER_MARGIN_MS;
    tokio::time::Instant::now() + std::time::Duration::from_millis(left_ms.max(0) as u64)
}

/// The sync worker: one sync job per message, answered with a partial batch response.
pub async fn run_sync_worker() -> Result<(), lambda_http::Error> {
    lambda_tracing::init_default_subscriber();
    let app: &'static App = Box::leak(Box::new(App::from_env().await?));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::event::sqs::SqsEvent>| async move {
            let deadline = invocation_deadline(event.context.deadline);
            Ok::<_, Infallible>(crate::jobs::sync_batch(app, event.payload, deadline).await)
        },
    ))
    .await
}
