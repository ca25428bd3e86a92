//! Lambda entry point for `audit`: start-up only. Its handler is `shared::handlers::audit::list`.

use shared::Function;
use shared::handlers::audit;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::Audit, audit::list).await
}
