//! Lambda entry point for `token`: start-up only. Its handler is `shared::handlers::tokens::token`.

use shared::Function;
use shared::handlers::tokens;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::Token, tokens::token).await
}
