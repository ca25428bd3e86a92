//! Sync routes: request a sync, read a job, read the synced events, change sync settings.

use lambda_http::http::StatusCode;
use serde::Deserialize;

use super::{audit_entry, parse_integration_id};
use crate::app::App;
use crate::domain::{
    AuditEvent, Integration, IntegrationView, SyncJobView, SyncSettings, now_epoch,
};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::store::{decode_cursor, encode_cursor};
use crate::sync::{CALENDAR, SyncError, request_sync, valid_job_id};

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SyncBody {
    #[serde(default)]
    sync_types: Option<Vec<String>>,
    #[serde(default)]
    full: bool,
}

fn check_sync_types(types: &[String]) -> Result<(), ApiError> {
    if types.is_empty() || types.iter().any(|t| t != CALENDAR) {
        return Err(ApiError::Validation(format!(
            "syncTypes must be a non-empty list of: {CALENDAR}"
        )));
    }
    Ok(())
}

/// The caller's integration, or 404 (another user's included).
async fn owned_integration(app: &App, req: &ApiRequest) -> Result<Integration, ApiError> {
    let caller = req.caller()?;
    let id = parse_integration_id(req)?;
    app.integrations
        .get(&caller.user_id, &id)
        .await?
        .ok_or(ApiError::NotFound)
}

impl From<SyncError> for ApiError {
    fn from(e: SyncError) -> Self {
        match e {
            SyncError::NotConnected => Self::Conflict("the integration is not connected".into()),
            SyncError::Store(e) => e.into(),
            SyncError::NoQueue | SyncError::Queue(_) => {
                Self::Internal(crate::error::boxed::Source::new(e))
            }
        }
    }
}

/// POST /integrations/{id}/sync: queues a job (202 `{jobId}`), or answers with the one of the
/// same type already queued or running.
pub async fn request(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body: SyncBody = req.json_body()?;
    if let Some(types) = &body.sync_types {
        check_sync_types(types)?;
    }
    let integration = owned_integration(app, req).await?;
    let (job_id, created) = request_sync(app, &integration, body.full).await?;
    if created {
        let mut entry = audit_entry(req, AuditEvent::SyncRequested, Some(&integration.user_id));
        entry.provider = Some(integration.provider.to_string());
        entry.integration_id = Some(integration.id.to_string());
        app.audit(entry).await;
    }
    Ok(ApiResponse::with_status(
        StatusCode::ACCEPTED,
        &req.request_id,
        serde_json::json!({ "jobId": job_id }),
    ))
}

/// GET /integrations/{id}/sync/{jobId}.
pub async fn job(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let job_id = req.path_param("jobId")?;
    if !valid_job_id(job_id) {
        return Err(ApiError::Validation("a job id is 26-64 of [0-9a-z]".into()));
    }
    let integration = owned_integration(app, req).await?;
    let job = app
        .sync_jobs
        .get(&integration.id, job_id)
        .await?
        .filter(|j| j.user_id == integration.user_id)
        .ok_or(ApiError::NotFound)?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "job": SyncJobView::from(&job) }),
    ))
}

const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 200;

/// GET /integrations/{id}/events?limit&cursor: the synced events, deleted ones flagged.
pub async fn events(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let limit = req.limit_param(DEFAULT_LIMIT, MAX_LIMIT)?;
    let cursor = match req.query_param("cursor") {
        Some(raw) => Some(
            decode_cursor(raw, "EVENT#")
                .filter(|k| k.len() <= 1100)
                .ok_or_else(|| ApiError::Validation("invalid cursor".into()))?,
        ),
        None => None,
    };
    let integration = owned_integration(app, req).await?;
    let (events, next) = app
        .synced_events
        .page(&integration.id, limit, cursor.as_deref())
        .await?;
    let mut data = serde_json::json!({ "events": events });
    if let Some(next) = next {
        data["nextCursor"] = serde_json::Value::String(encode_cursor(&next));
    }
    Ok(ApiResponse::ok(&req.request_id, data))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct UpdateBody {
    sync_settings: SettingsBody,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SettingsBody {
    enabled: bool,
    sync_types: Vec<String>,
    frequency: Frequency,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Frequency {
    Hourly,
    Daily,
}

impl Frequency {
    fn as_str(self) -> &'static str {
        match self {
            Self::Hourly => "hourly",
            Self::Daily => "daily",
        }
    }
}

/// PATCH /integrations/{id}: sync settings. Enabling schedules the first sync now.
pub async fn update(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body: UpdateBody = req.json_body()?;
    check_sync_types(&body.sync_settings.sync_types)?;
    let integration = owned_integration(app, req).await?;
    let settings = SyncSettings {
        enabled: body.sync_settings.enabled,
        sync_types: body.sync_settings.sync_types,
        frequency: body.sync_settings.frequency.as_str().into(),
    };
    let next = settings.enabled.then(now_epoch);
    let updated = app
        .sync_schedules
        .save_sync_settings(&integration, &settings, next)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::Conflict => ApiError::Conflict(
                "the integration is not connected, or changed meanwhile; try again".into(),
            ),
            other => other.into(),
        })?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "integration": IntegrationView::from(&updated) }),
    ))
}
