//! Lambda entry point for `connect`: start-up only. Its handler is `shared::handlers::connect::start`.

use shared::Function;
use shared::handlers::connect;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::Connect, connect::start).await
}
