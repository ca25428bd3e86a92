//! The `providers` function: `GET /providers`, the catalogue as clients see it.

use serde::Serialize;

use crate::app::App;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProviderView<'a> {
    id: &'a str,
    display_name: &'a str,
    scopes: &'a [String],
    configured: bool,
}

/// GET /providers: the catalogue, and whether this deployment has credentials for each entry.
pub async fn list(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let providers: Vec<ProviderView<'_>> = app
        .catalogue
        .all()
        .map(|p| ProviderView {
            id: p.id.as_str(),
            display_name: &p.display_name,
            scopes: &p.scopes,
            configured: p.is_configured(),
        })
        .collect();
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "providers": providers }),
    ))
}
