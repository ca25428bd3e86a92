//! The `list-events` function: `GET /integrations/{id}/events`, the synced calendar events.

use super::owned_integration;
use crate::app::App;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::store::{decode_cursor, encode_cursor};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

/// GET /integrations/{id}/events?limit&cursor: the synced events, deleted ones flagged.
pub async fn list(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let limit = req.limit_param(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = match req.cursor_param()? {
        Some(raw) => Some(
            decode_cursor(raw, "EVENT#")
                .filter(|k| k.len() <= 1100)
                .ok_or_else(|| ApiError::Validation("invalid cursor".into()))?,
        ),
        None => None,
    };
    let integration = owned_integration(app, req).await?;
    let (events, next) = app
        .synced_records
        .page(&integration.id, limit, cursor.as_deref())
        .await?;
    let mut data = serde_json::json!({ "events": events });
    if let Some(next) = next {
        data["nextCursor"] = serde_json::Value::String(encode_cursor(&next));
    }
    Ok(ApiResponse::ok(&req.request_id, data))
}
