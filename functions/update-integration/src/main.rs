//! Lambda entry point for `update-integration`: start-up only. Its handler is `shared::handlers::integrations::update`.

use shared::Function;
use shared::handlers::integrations;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::UpdateIntegration, integrations::update).await
}
