//! Lambda entry point for `refresh-scheduler`: start-up only; the handler is `shared::jobs`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_refresh_scheduler().await
}
