//! Lambda entry point for `delete-event`: start-up only. Its handler is `shared::handlers::event_writes::delete`.

use shared::Function;
use shared::handlers::event_writes;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::DeleteEvent, event_writes::delete).await
}
