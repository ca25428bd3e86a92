//! The `health` function: `GET /health`, for load balancers, uptime checks and the deploy's
//! smoke test. Public and cheap: no table, key, secret or provider call. That it answers at
//! all says the container started: its configuration parsed and its catalogue is valid
//! (`App::from_env` refuses to start otherwise).

use serde::Serialize;

use crate::app::App;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Health {
    status: &'static str,
    version: &'static str,
    /// Catalogue entries, and those this deployment has client credentials for.
    providers: usize,
    configured_providers: usize,
}

/// GET /health: `ok`, the release and the catalogue's size; nothing secret.
pub async fn check(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let health = Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        providers: app.catalogue.all().count(),
        configured_providers: app.catalogue.all().filter(|p| p.is_configured()).count(),
    };
    Ok(ApiResponse::ok(&req.request_id, health))
}
