//! The `sync` function: `POST /integrations/{id}/sync` starts a job, `GET
//! /integrations/{id}/sync/{jobId}` reads one.

use lambda_http::http::{Method, StatusCode};
use serde::Deserialize;

use super::{audit_entry, owned_integration};
use crate::app::App;
use crate::domain::{AuditEvent, SyncJobView, SyncType};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::ids::JobId;
use crate::sync::request_sync;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SyncBody {
    #[serde(default, deserialize_with = "crate::http::present")]
    sync_types: Option<Vec<SyncType>>,
    #[serde(default)]
    full: bool,
}

/// Unknown types are refused when the body is read (serde); an empty list or one naming a type
/// twice here (docs/openapi.yaml: `minItems: 1`, `uniqueItems: true`).
pub(super) fn check_sync_types(types: &[SyncType]) -> Result<(), ApiError> {
    if types.is_empty() {
        return Err(ApiError::Validation(
            "syncTypes must be a non-empty list".into(),
        ));
    }
    if types
        .iter()
        .enumerate()
        .any(|(i, t)| types[..i].contains(t))
    {
        return Err(ApiError::Validation(
            "syncTypes must not name a type twice (events is another name for calendar)".into(),
        ));
    }
    Ok(())
}

/// The `sync` function's handler: one function serves both sync routes.
pub async fn serve(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    if req.method == Method::GET {
        status(app, req).await
    } else {
        start(app, req).await
    }
}

/// POST /integrations/{id}/sync: queues a job (202 `{jobId}`), or answers with the one of the
/// same type already queued or running.
pub async fn start(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body: SyncBody = req.json_body()?;
    if let Some(types) = &body.sync_types {
        check_sync_types(types)?;
    }
    let integration = owned_integration(app, req).await?;
    let (job_id, created) = request_sync(app, &integration, body.full).await?;
    if created {
        let entry = audit_entry(req, AuditEvent::SyncRequested, Some(&integration.user_id));
        app.audit(entry.integration(&integration)).await;
    }
    Ok(ApiResponse::with_status(
        StatusCode::ACCEPTED,
        &req.request_id,
        serde_json::json!({ "jobId": job_id }),
    ))
}

/// GET /integrations/{id}/sync/{jobId}.
pub async fn status(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let job_id =
        JobId::parse(req.path_param("jobId")?).map_err(|e| ApiError::Validation(e.to_string()))?;
    let integration = owned_integration(app, req).await?;
    let job = app
        .sync_jobs
        .get(&integration.id, &job_id)
        .await?
        .filter(|j| j.user_id == integration.user_id)
        .ok_or(ApiError::NotFound)?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "job": SyncJobView::from(&job) }),
    ))
}
