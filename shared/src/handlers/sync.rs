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
    sync_types: Option<Vec<SyncTypeName>>,
    #[serde(default)]
    full: bool,
}

/// A sync type as a request may name it: `events` is the name the integration guide apps are
/// written to uses for `calendar` (#17). The service stores and answers `calendar`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum SyncTypeName {
    Calendar,
    Events,
    Contacts,
}

impl SyncTypeName {
    pub(super) fn sync_type(self) -> SyncType {
        match self {
            Self::Calendar | Self::Events => SyncType::Calendar,
            Self::Contacts => SyncType::Contacts,
        }
    }
}

/// The types a request names, once each. Unknown names are refused when the body is read
/// (serde); an empty list or one repeating a name here (docs/openapi.yaml: `minItems: 1`,
/// `uniqueItems: true`). Two names of one type (`calendar` and `events`) are that type once.
pub(super) fn check_sync_types(names: &[SyncTypeName]) -> Result<Vec<SyncType>, ApiError> {
    if names.is_empty() {
        return Err(ApiError::Validation(
            "syncTypes must be a non-empty list".into(),
        ));
    }
    if names
        .iter()
        .enumerate()
        .any(|(i, n)| names[..i].contains(n))
    {
        return Err(ApiError::Validation(
            "syncTypes must not name a type twice".into(),
        ));
    }
    let mut types: Vec<SyncType> = Vec::with_capacity(names.len());
    for t in names.iter().map(|n| n.sync_type()) {
        if !types.contains(&t) {
            types.push(t);
        }
    }
    Ok(types)
}

/// The `sync` function's handler: one function serves both sync routes.
pub async fn serve(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    if req.method == Method::GET {
        status(app, req).await
    } else {
        start(app, req).await
    }
}

/// POST /integrations/{id}/sync: queues a job per type named (202), or answers with the one
/// of a type already queued or running. No `syncTypes`: the integration's `syncSettings` types.
/// `jobId` is the first type's job, `jobs` every type's.
pub async fn start(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let body: SyncBody = req.json_body()?;
    let named = match &body.sync_types {
        Some(types) => Some(check_sync_types(types)?),
        None => None,
    };
    let integration = owned_integration(app, req).await?;
    let types = match named {
        Some(types) => types,
        None if integration.sync_settings.sync_types.is_empty() => vec![SyncType::Calendar],
        None => integration.sync_settings.sync_types.clone(),
    };
    let mut jobs = Vec::with_capacity(types.len());
    for sync_type in types {
        let (job_id, created) = request_sync(app, &integration, sync_type, body.full).await?;
        if created {
            let entry = audit_entry(req, AuditEvent::SyncRequested, Some(&integration.user_id));
            let reason = sync_type.as_str();
            app.audit(entry.integration(&integration).reason(reason))
                .await;
        }
        jobs.push(serde_json::json!({ "syncType": sync_type, "jobId": job_id }));
    }
    Ok(ApiResponse::with_status(
        StatusCode::ACCEPTED,
        &req.request_id,
        serde_json::json!({ "jobId": jobs.first().map(|j| j["jobId"].clone()), "jobs": jobs }),
    ))
}

/// GET /integrations/{id}/sync/{jobId}.
pub async fn status(app: &App, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let job_id =
        JobId::parse(req.path_param("jobId")?).map_err(|e| ApiError::Validation(e.to_string()))?;
    let integration = owned_integration(app, req).await?;
    let job = app
        .sync_jobs()
        .get(&integration.id, &job_id)
        .await?
        .filter(|j| j.user_id == integration.user_id)
        .ok_or(ApiError::NotFound)?;
    Ok(ApiResponse::ok(
        &req.request_id,
        serde_json::json!({ "job": SyncJobView::from(&job) }),
    ))
}
