//! Lambda entry point for `refresh-worker`: start-up only. Its handler is `shared::jobs::refresh_batch`.

use shared::jobs;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_queue_worker(jobs::refresh_batch).await
}
