//! The library every Lambda function of the service uses: handlers as plain async functions,
//! ports to DynamoDB, KMS and providers, and their adapters.

pub mod app;
pub mod aws;
pub mod body;
pub mod catalogue;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod handlers;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod lambda;
pub mod metrics;
pub mod oauth;
pub mod publish;
pub mod queue;
pub mod rate_limit;
pub mod refresh;
pub mod report;
pub mod retry;
pub mod routes;
pub mod secrets;
pub mod state;
pub mod store;
pub mod sync;
pub mod unwired;

pub use app::App;
pub use http::{ApiRequest, ApiResponse};
pub use routes::Function;

#[cfg(test)]
#[path = "tests/parsers.rs"]
mod parsers;
