//! The local stack of `make dev` and the tests: moto (DynamoDB, KMS, SQS, Secrets Manager, EventBridge) and the local OAuth
//! server as child processes, resources created as template.yaml declares them, a dev JWT, and
//! a dev gateway that routes HTTP to the same handlers API Gateway would invoke.

pub mod app_server;
pub mod gateway;
pub mod jwt;
pub mod poller;
pub mod process;
pub mod provision;
pub mod runtime_api;
pub mod secrets;

use std::path::PathBuf;

/// The repository root (tools and scripts are found relative to it).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(PathBuf::from)
        .unwrap_or_default()
}

/// A free loopback port (bound then released; fine for local tools).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
