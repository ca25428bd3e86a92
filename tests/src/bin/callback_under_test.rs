//! The `callback` function's start-up, built with the test crate so the tests can run a real
//! function binary (the same two hops as functions/callback/src/main.rs: `lambda::run_http`
//! with `handlers::callback::serve`) without building the dependency tree a second time.

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shared::lambda::run_http(
        shared::Function::Callback,
        shared::handlers::callback::serve,
    )
    .await
}
