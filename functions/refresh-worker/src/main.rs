//! Lambda entry point for `refresh-worker`: start-up only; the handler is `shared::jobs`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_refresh_worker().await
}
