//! One module per function. Each handler is a plain async fn from [`ApiRequest`] to a result;
//! [`handle`] is the edge that turns errors into the envelope.

mod audit;
mod callback;
mod connect;
mod integrations;
mod providers;
mod sync;
mod tokens;

use tracing::Instrument;

use crate::app::App;
use crate::domain::{AuditEntry, AuditEvent};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::ids::UserId;
use crate::routes::Function;

pub async fn handle(app: &App, function: Function, req: ApiRequest) -> ApiResponse {
    let request_id = req.request_id.clone();
    let span =
        tracing::info_span!("request", function = function.name(), correlation_id = %request_id);
    async move {
        let result = match (function, req.method.as_str()) {
            (Function::Providers, _) => providers::list(app, &req).await,
            (Function::Connect, _) => connect::start(app, &req).await,
            (Function::Callback, "GET") => callback::from_browser(app, &req).await,
            (Function::Callback, _) => callback::from_app(app, &req).await,
            (Function::ListIntegrations, _) => integrations::list(app, &req).await,
            (Function::GetIntegration, _) => integrations::get(app, &req).await,
            (Function::Disconnect, _) => integrations::disconnect(app, &req).await,
            (Function::Audit, _) => audit::list(app, &req).await,
            (Function::Refresh, _) => tokens::refresh(app, &req).await,
            (Function::TestConnection, _) => tokens::test_connection(app, &req).await,
            (Function::Token, _) => tokens::token(app, &req).await,
            (Function::Sync, "GET") => sync::job(app, &req).await,
            (Function::Sync, _) => sync::request(app, &req).await,
            (Function::ListEvents, _) => sync::events(app, &req).await,
            (Function::UpdateIntegration, _) => sync::update(app, &req).await,
            // No route leads to these (routes.rs): they take schedule and queue events.
            (Function::RefreshScheduler | Function::RefreshWorker | Function::SyncWorker, _) => {
                Err(ApiError::Validation("not an HTTP function".into()))
            }
        };
        let response = result.unwrap_or_else(|e| ApiResponse::from_error(&request_id, &e));
        tracing::info!(status = response.status.as_u16(), "request done");
        response
    }
    .instrument(span)
    .await
}

/// An audit entry about this request.
fn audit_entry(req: &ApiRequest, event: AuditEvent, user: Option<&UserId>) -> AuditEntry {
    AuditEntry::new(event, user, &req.origin())
}

fn parse_integration_id(req: &ApiRequest) -> Result<crate::ids::IntegrationId, ApiError> {
    crate::ids::IntegrationId::parse(req.path_param("id")?)
        .map_err(|e| ApiError::Validation(e.to_string()))
}
