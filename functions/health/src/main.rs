//! Lambda entry point for `health`: start-up only (a static route: no AWS client). Its handler is `shared::handlers::health::check`.

use shared::Function;
use shared::handlers::health;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_static_http(Function::Health, health::check).await
}
