//! Lambda entry point for `update-integration`: start-up only; the handler is `shared::handlers`.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(shared::Function::UpdateIntegration).await
}
