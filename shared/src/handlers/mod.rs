//! The HTTP handlers, one module per URL resource. A function's handler is
//! `handlers::<resource>::<action>`, its name in template.yaml read as action and resource
//! (`list-integrations` → `integrations::list`, `test-connection` → `tokens::test_connection`);
//! [`HTTP_HANDLERS`] lists them all, and each function's `main.rs` hands its own to
//! `lambda::run_http`. A handler is a plain async fn from (&App, &ApiRequest) to a result;
//! [`serve`] is the edge that turns its error into the envelope.

pub mod audit;
pub mod callback;
pub mod connect;
pub mod event_writes;
pub mod events;
pub mod health;
pub mod integrations;
pub mod providers;
pub mod sync;
pub mod tokens;

use std::future::Future;

use tracing::Instrument;

use crate::app::App;
use crate::domain::{AuditEntry, AuditEvent, Integration, IntegrationStatus};
use crate::error::ApiError;
use crate::http::{ApiRequest, ApiResponse};
use crate::ids::{IntegrationId, UserId};
use crate::rate_limit;
use crate::routes::Function;

/// An HTTP handler: an async fn from the container's [`App`] and a request to a response. The
/// lifetime-generic helper trait names the returned future, so that it can be required `Send`
/// (lambda_http runs it as a service).
pub trait Handler<'a>: Fn(&'a App, &'a ApiRequest) -> Self::Answer {
    type Answer: Future<Output = Result<ApiResponse, ApiError>> + Send + 'a;
}

impl<'a, F, A> Handler<'a> for F
where
    F: Fn(&'a App, &'a ApiRequest) -> A,
    A: Future<Output = Result<ApiResponse, ApiError>> + Send + 'a,
{
    type Answer = A;
}

/// Runs one request through `handler` inside the request's span, once its caller's rate limit
/// admits it, and turns an error into the envelope: the single place a handler's failure
/// becomes a response.
pub async fn serve<H>(app: &App, function: Function, handler: H, req: ApiRequest) -> ApiResponse
where
    H: for<'a> Handler<'a>,
{
    let (span, started) = (request_span(function, &req), std::time::Instant::now());
    let admission = rate_limit::admit(app, function, &req)
        .instrument(span.clone())
        .await;
    respond(app, function, handler, req, admission, span, started).await
}

/// [`serve`] for a static route (`/health`, `/providers`): its route has no rate limit, and
/// leaving the admission out keeps the table's counter, and the SDK, out of its binary.
pub async fn serve_unlimited<H>(
    app: &App,
    function: Function,
    handler: H,
    req: ApiRequest,
) -> ApiResponse
where
    H: for<'a> Handler<'a>,
{
    let (span, started) = (request_span(function, &req), std::time::Instant::now());
    let admission = rate_limit::Admission::Unlimited;
    respond(app, function, handler, req, admission, span, started).await
}

fn request_span(function: Function, req: &ApiRequest) -> tracing::Span {
    tracing::info_span!("request", function = function.name(), correlation_id = %req.request_id)
}

async fn respond<H>(
    app: &App,
    function: Function,
    handler: H,
    req: ApiRequest,
    admission: rate_limit::Admission,
    span: tracing::Span,
    started: std::time::Instant,
) -> ApiResponse
where
    H: for<'a> Handler<'a>,
{
    let request_id = req.request_id.clone();
    async move {
        let result = match admission.refusal() {
            Some(refused) => Err(refused),
            None => handler(app, &req).await,
        };
        let mut response = result.unwrap_or_else(|e| ApiResponse::from_error(&request_id, &e));
        admission.write_headers(&mut response.headers);
        let (status, elapsed) = (response.status.as_u16(), started.elapsed());
        tracing::info!(
            status,
            duration_ms = elapsed.as_secs_f64() * 1e3,
            "request done"
        );
        // The route as the table names it ("GET /integrations/{id}"), never the raw path: the
        // ids would make each request its own metric.
        let route = crate::routes::route_of(function, req.method.as_str()).map_or_else(
            || function.name().to_string(),
            |r| format!("{} {}", r.method, r.path),
        );
        app.metrics.request(&route, status, elapsed, &request_id);
        response
    }
    .instrument(span)
    .await
}

/// Declares every HTTP function's handler once: [`HTTP_HANDLERS`] (checked against each
/// `functions/*/src/main.rs` by the contract test) and [`dispatch`] (the dev gateway and tests).
macro_rules! http_handlers {
    ($($function:ident => $module:ident :: $handler:ident),+ $(,)?) => {
        /// Each HTTP function and the path of its handler below `handlers::`.
        pub const HTTP_HANDLERS: &[(Function, &str)] = &[
            $((Function::$function, concat!(stringify!($module), "::", stringify!($handler)))),+
        ];

        /// Serves `req` as `function` would in Lambda: the dev gateway and the tests, where one
        /// process stands in for every function. The binaries do not call it, so each links
        /// only its own handler.
        pub async fn dispatch(app: &App, function: Function, req: ApiRequest) -> ApiResponse {
            // Boxed: unboxed, this future is as large as the largest handler's, and a debug
            // build's test thread ran out of stack moving it (a function binary serves one).
            match function {
                $(Function::$function => {
                    Box::pin(serve(app, function, $module::$handler, req)).await
                })+
                // No route leads to these (routes.rs): they take schedule and queue events.
                Function::RefreshScheduler
                | Function::RefreshWorker
                | Function::SyncWorker
                | Function::TokenRecovery => {
                    let error = ApiError::Validation("not an HTTP function".into());
                    ApiResponse::from_error(&req.request_id, &error)
                }
            }
        }
    };
}

http_handlers! {
    Health => health::check,
    Providers => providers::list,
    Connect => connect::start,
    Callback => callback::serve,
    ListIntegrations => integrations::list,
    GetIntegration => integrations::get,
    UpdateIntegration => integrations::update,
    Disconnect => integrations::disconnect,
    Audit => audit::list,
    Refresh => tokens::refresh,
    TestConnection => tokens::test_connection,
    Token => tokens::token,
    Sync => sync::serve,
    ListEvents => events::list,
    ListContacts => events::list_contacts,
    CreateEvent => event_writes::create,
    UpdateEvent => event_writes::update,
    DeleteEvent => event_writes::delete,
}

/// An audit entry about this request.
fn audit_entry(req: &ApiRequest, event: AuditEvent, user: Option<&UserId>) -> AuditEntry {
    AuditEntry::new(event, user, &req.origin())
}

fn parse_integration_id(req: &ApiRequest) -> Result<IntegrationId, ApiError> {
    IntegrationId::parse(req.path_param("id")?).map_err(|e| ApiError::Validation(e.to_string()))
}

/// The caller's integration, or 404: another user's, and one disconnected (gone from the API
/// until the same account is connected again, which brings the same id back).
async fn owned_integration(app: &App, req: &ApiRequest) -> Result<Integration, ApiError> {
    owned_row(app, req)
        .await?
        .filter(|i| i.status != IntegrationStatus::Disconnected)
        .ok_or(ApiError::NotFound)
}

/// `error`, naming the integration's provider when the failure came from it or concerns its
/// grant. The row is read again on that failure path only: the refresh path reports no
/// provider, and a success costs nothing more.
async fn naming_provider(
    app: &App,
    user: &UserId,
    id: &IntegrationId,
    error: ApiError,
) -> ApiError {
    if !error.involves_provider() {
        return error;
    }
    match app.integrations().get(user, id).await {
        Ok(Some(integration)) => error.at_provider(&integration.provider),
        _ => error,
    }
}

/// The caller's integration row whatever its status (None: no such row of the caller's).
async fn owned_row(app: &App, req: &ApiRequest) -> Result<Option<Integration>, ApiError> {
    let caller = req.caller()?;
    let id = parse_integration_id(req)?;
    Ok(app.integrations().get(&caller.user_id, &id).await?)
}
