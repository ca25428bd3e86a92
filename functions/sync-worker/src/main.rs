//! Lambda entry point for `sync-worker`: start-up only. Its handler is `shared::jobs::sync_batch`.

use shared::jobs;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_queue_worker(jobs::sync_batch).await
}
