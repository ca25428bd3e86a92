//! Lambda entry point for `sync`: start-up only; the handler is `shared::handlers`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(shared::Function::Sync).await
}
