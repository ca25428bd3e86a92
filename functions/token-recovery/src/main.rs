//! Lambda entry point for `token-recovery`: start-up only. Its handler is
//! `shared::jobs::recovery_batch`.

use shared::jobs;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_queue_worker(jobs::recovery_batch).await
}
