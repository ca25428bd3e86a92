//! Lambda entry point for `refresh`: start-up only. Its handler is `shared::handlers::tokens::refresh`.

use shared::Function;
use shared::handlers::tokens;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::Refresh, tokens::refresh).await
}
