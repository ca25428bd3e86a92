//! Lambda entry point for `disconnect`: start-up only. Its handler is `shared::handlers::integrations::disconnect`.

use shared::Function;
use shared::handlers::integrations;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::Disconnect, integrations::disconnect).await
}
