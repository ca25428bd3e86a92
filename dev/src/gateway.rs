//! The dev gateway: API Gateway's part locally. Routes by [`shared::routes::ROUTES`] (the table
//! template.yaml is tested against), verifies the dev JWT on non-public routes and passes its
//! claims as the JWT authorizer does, then calls the same handler a Lambda function would.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use shared::routes::{Auth, match_route};
use shared::{ApiRequest, ApiResponse, App};
use tokio::net::TcpListener;

/// API Gateway's own payload limit is 10 MB; the handlers refuse far less (16 KiB) with 413.
const GATEWAY_BODY_LIMIT: usize = 10 * 1024 * 1024;

pub struct Gateway {
    pub app: Arc<App>,
    pub jwt_secret: String,
}

impl Gateway {
    /// Serves until the task is dropped.
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, peer)) = listener.accept().await else {
                continue;
            };
            let gateway = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let gateway = gateway.clone();
                    async move { Ok::<_, Infallible>(gateway.route(req, peer).await) }
                });
                if let Err(e) = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await
                {
                    tracing::debug!(error = %e, "connection ended");
                }
            });
        }
    }

    /// CORS as API Gateway does it for `CorsConfiguration`: a preflight is answered here, before
    /// any route or authorizer; an allowed origin's requests get the CORS headers on whatever
    /// answer; any other origin gets none (the browser then refuses to show the answer).
    async fn route(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let allowed_origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .filter(|o| self.app.settings.app_origins.iter().any(|a| a == o))
            .map(str::to_string);
        let preflight = req.method() == hyper::Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        let mut response = if preflight {
            let mut empty = Response::new(Full::new(Bytes::new()));
            *empty.status_mut() = StatusCode::NO_CONTENT;
            empty
        } else {
            self.handle(req, peer).await
        };
        if let Some(origin) = allowed_origin {
            cors_headers(response.headers_mut(), &origin, preflight);
        }
        response
    }

    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Full<Bytes>> {
        let method = req.method().as_str().to_string();
        let path = req.uri().path().to_string();
        let Some((route, path_params)) = match_route(&method, &path) else {
            // A known path with another method: 405 and what it allows (docs/openapi.yaml;
            // API Gateway itself answers 404 there, having no route for the pair).
            let allowed = shared::routes::methods_at(&path);
            if allowed.is_empty() {
                return gateway_message(StatusCode::NOT_FOUND, "Not Found");
            }
            let mut response =
                gateway_message(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed");
            if let Ok(allow) = header::HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, allow);
            }
            return response;
        };
        let token = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let (claims, backend_principal) = match route.auth {
            Auth::Public => (None, None),
            Auth::User => match token.and_then(|t| crate::jwt::verify(&self.jwt_secret, t)) {
                Some(claims) => (Some(claims), None),
                None => return gateway_message(StatusCode::UNAUTHORIZED, "Unauthorized"),
            },
            // API Gateway answers an unsigned or wrongly signed IAM request with 403.
            Auth::Backend => match token.and_then(|t| {
                crate::jwt::verify_for(&self.jwt_secret, t, crate::jwt::DEV_BACKEND_AUDIENCE)
            }) {
                Some(claims) => (None, claims.get("sub").cloned()),
                None => return gateway_message(StatusCode::FORBIDDEN, "Forbidden"),
            },
        };
        let query: HashMap<String, String> = req
            .uri()
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let (parts, body) = req.into_parts();
        let body = match Limited::new(body, GATEWAY_BODY_LIMIT).collect().await {
            Ok(collected) => collected.to_bytes().to_vec(),
            Err(_) => {
                return gateway_message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large");
            }
        };
        let request = ApiRequest {
            method: parts.method,
            path,
            path_params,
            query,
            user_agent: parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            domain_name: parts
                .headers
                .get(header::HOST)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
            headers: parts.headers,
            body,
            claims,
            backend_principal,
            request_id: shared::ids::random_id(),
            source_ip: Some(peer.ip().to_string()),
        };
        to_hyper(shared::handlers::dispatch(&self.app, route.function, request).await)
    }
}

fn cors_headers(headers: &mut header::HeaderMap, origin: &str, preflight: bool) {
    use shared::routes::cors;
    let mut set = |name: header::HeaderName, value: String| {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    };
    set(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.to_string());
    set(header::VARY, "origin".into());
    if preflight {
        set(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            cors::allow_methods().join(","),
        );
        set(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            cors::ALLOW_HEADERS.join(","),
        );
        set(
            header::ACCESS_CONTROL_MAX_AGE,
            cors::MAX_AGE_SECS.to_string(),
        );
    } else {
        set(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            cors::EXPOSE_HEADERS.join(","),
        );
    }
}

fn to_hyper(response: ApiResponse) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from(response.body)));
    *out.status_mut() = response.status;
    *out.headers_mut() = response.headers;
    out
}

/// API Gateway answers its own refusals with `{"message": …}`, not our envelope.
fn gateway_message(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from(
        serde_json::json!({ "message": message }).to_string(),
    )));
    *out.status_mut() = status;
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    out
}
