//! Lambda entry point for `create-event`: start-up only. Its handler is `shared::handlers::event_writes::create`.

use shared::Function;
use shared::handlers::event_writes;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::CreateEvent, event_writes::create).await
}
