//! Lambda entry point for `list-events`: start-up only. Its handler is `shared::handlers::events::list`.

use shared::Function;
use shared::handlers::events;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::ListEvents, events::list).await
}
