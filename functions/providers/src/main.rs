//! Lambda entry point for `providers`: start-up only (a static route: no AWS client). Its handler is `shared::handlers::providers::list`.

use shared::Function;
use shared::handlers::providers;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_static_http(Function::Providers, providers::list).await
}
