//! Lambda entry point for `list-contacts`: start-up only. Its handler is `shared::handlers::events::list_contacts`.

use shared::Function;
use shared::handlers::events;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(Function::ListContacts, events::list_contacts).await
}
