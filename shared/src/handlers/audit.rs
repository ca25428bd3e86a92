//! The `audit` function: `GET /audit`, the caller's audit trail, newest first.

use crate::app::App;
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::store::{decode_cursor, encode_cursor};

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 100;

/// GET /audit?limit&cursor: the caller's audit trail, newest first.
pub async fn list(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let caller = req.caller()?;
    let limit = req.limit_param(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = match req.cursor_param()? {
        Some(raw) => Some(
            decode_cursor(raw, "AUDIT#")
                .filter(|key| is_audit_sort_key(key))
                .ok_or_else(|| ApiError::Validation("invalid cursor".into()))?,
        ),
        None => None,
    };
    let (entries, next) = app
        .audit_trail()
        .page(Some(&caller.user_id), limit, cursor.as_deref())
        .await?;
    let mut data = serde_json::json!({ "entries": entries });
    if let Some(next) = next {
        data["nextCursor"] = serde_json::Value::String(encode_cursor(&next));
    }
    Ok(ApiResponse::ok(&req.request_id, data))
}

/// `AUDIT#{timestamp}#{32 hex}`: the only shape a cursor of ours can have.
fn is_audit_sort_key(key: &str) -> bool {
    let mut parts = key.split('#');
    let (Some("AUDIT"), Some(at), Some(suffix), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    at.len() <= 40
        && at
            .bytes()
            .all(|b| b.is_ascii_digit() || b"-:.TZ".contains(&b))
        && suffix.len() == 32
        && suffix.bytes().all(|b| b.is_ascii_hexdigit())
}
