//! Lambda entry point for `test-connection`: start-up only. Its handler is `shared::handlers::tokens::test_connection`.

use shared::Function;
use shared::handlers::tokens;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::TestConnection, tokens::test_connection).await
}
