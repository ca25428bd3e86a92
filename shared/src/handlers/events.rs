//! The record lists: `list-events` (`GET /integrations/{id}/events`, the synced calendar events)
//! and `list-contacts` (`GET /integrations/{id}/contacts`).

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
    let cursor = page_cursor(req, "EVENT#")?;
    let integration = owned_integration(app, req).await?;
    let (events, next) = app
        .synced_records()
        .page(&integration.id, limit, cursor.as_deref())
        .await?;
    let mut data = serde_json::json!({ "events": events });
    if let Some(next) = next {
        data["nextCursor"] = serde_json::Value::String(encode_cursor(&next));
    }
    Ok(ApiResponse::ok(&req.request_id, data))
}

/// GET /integrations/{id}/contacts?limit&cursor: the synced contacts, deleted ones flagged.
pub async fn list_contacts(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let limit = req.limit_param(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = page_cursor(req, "CONTACT#")?;
    let integration = owned_integration(app, req).await?;
    let (contacts, next) = app
        .synced_records()
        .contacts_page(&integration.id, limit, cursor.as_deref())
        .await?;
    let mut data = serde_json::json!({ "contacts": contacts });
    if let Some(next) = next {
        data["nextCursor"] = serde_json::Value::String(encode_cursor(&next));
    }
    Ok(ApiResponse::ok(&req.request_id, data))
}

/// The sort key a `cursor` carries, if it is one this list issued (its records' prefix).
fn page_cursor(req: &ApiRequest, prefix: &str) -> Result<Option<String>, ApiError> {
    match req.cursor_param()? {
        Some(raw) => Ok(Some(
            decode_cursor(raw, prefix)
                .filter(|k| k.len() <= 1100)
                .ok_or_else(|| ApiError::Validation("invalid cursor".into()))?,
        )),
        None => Ok(None),
    }
}
