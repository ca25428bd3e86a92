//! Lambda entry point for `list-events`: start-up only; the handler is `shared::handlers`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(shared::Function::ListEvents).await
}
