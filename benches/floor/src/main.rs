//! The floor of a function's cold start (#18): a bare `lambda_http` function that builds the
//! clients `FLOOR_CLIENTS` names (`dynamodb,kms,sqs,secretsmanager,eventbridge,http`; empty:
//! none), as a function's container does, then serves every request with an empty 200.
//! `make bench` runs it beside each function with that function's clients.

use std::convert::Infallible;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let wanted = std::env::var("FLOOR_CLIENTS").unwrap_or_default();
    let wants = |client: &str| wanted.split(',').any(|w| w == client);
    let env = |name: &str| std::env::var(name).ok();
    let aws = match ["dynamodb", "kms", "sqs", "secretsmanager", "eventbridge"]
        .iter()
        .any(|c| wants(c))
    {
        true => Some(shared::aws::sdk_config(&env)?),
        false => None,
    };
    // Built and kept, as a container keeps its clients for every request.
    let clients = aws.map(|aws| {
        (
            wants("dynamodb").then(|| aws_sdk_dynamodb::Client::new(&aws)),
            wants("kms").then(|| aws_sdk_kms::Client::new(&aws)),
            wants("sqs").then(|| aws_sdk_sqs::Client::new(&aws)),
            wants("secretsmanager").then(|| aws_sdk_secretsmanager::Client::new(&aws)),
            wants("eventbridge").then(|| aws_sdk_eventbridge::Client::new(&aws)),
        )
    });
    let http = match wants("http") {
        true => Some(reqwest::Client::builder().build()?),
        false => None,
    };
    let clients = &*Box::leak(Box::new((clients, http)));
    lambda_http::run(lambda_http::service_fn(
        move |_: lambda_http::Request| async move {
            let _ = clients;
            Ok::<_, Infallible>(lambda_http::Response::new(lambda_http::Body::Empty))
        },
    ))
    .await
}
