//! Lambda entry point for `get-integration`: start-up only. Its handler is `shared::handlers::integrations::get`.

use shared::Function;
use shared::handlers::integrations;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::GetIntegration, integrations::get).await
}
