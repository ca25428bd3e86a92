//! What every function's `main.rs` calls: tracing, the [`App`] built once, then the runtime loop.

use std::convert::Infallible;

use lambda_http::{service_fn, tracing as lambda_tracing};

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
