//! Lambda entry point for `callback`: start-up only. Its handler is `shared::handlers::callback::serve`.

use shared::Function;
use shared::handlers::callback;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::Callback, callback::serve).await
}
