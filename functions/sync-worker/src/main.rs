//! Lambda entry point for `sync-worker`: start-up only; the handler is `shared::jobs`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_sync_worker().await
}
