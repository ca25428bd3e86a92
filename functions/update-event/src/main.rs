//! Lambda entry point for `update-event`: start-up only. Its handler is `shared::handlers::event_writes::update`.

use shared::Function;
use shared::handlers::event_writes;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::UpdateEvent, event_writes::update).await
}
