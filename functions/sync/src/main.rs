//! Lambda entry point for `sync`: start-up only. Its handler is `shared::handlers::sync::serve`.

use shared::Function;
use shared::handlers::sync;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::Sync, sync::serve).await
}
