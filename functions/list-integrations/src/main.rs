//! Lambda entry point for `list-integrations`: start-up only. Its handler is `shared::handlers::integrations::list`.

use shared::Function;
use shared::handlers::integrations;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::ListIntegrations, integrations::list).await
}
