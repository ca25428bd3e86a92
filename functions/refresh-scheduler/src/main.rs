//! Lambda entry point for `refresh-scheduler`: start-up only. Its handler is
//! `shared::jobs::schedule_refreshes`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_refresh_scheduler().await
}
