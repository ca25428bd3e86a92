//! The HTTP edge shared by every function: a plain request type the handlers take (built from an
//! API Gateway HTTP API event, or by the dev gateway), and the response envelope of docs/openapi.yaml.

use std::collections::HashMap;

use lambda_http::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::clock::now_rfc3339;
use crate::error::ApiError;
use crate::ids::{ProviderId, UserId};
use crate::report::error_chain;

/// Bodies above this size are refused with 413 before any parsing.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The authenticated caller: the `sub` claim API Gateway's JWT authorizer verified.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
}

/// Debug shows the route and who called, never the headers (the bearer JWT), the query (the
/// callback's `code` and `state`), the body or the claims.
#[derive(Clone)]
pub struct ApiRequest {
    pub method: Method,
    pub path: String,
    pub path_params: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// JWT claims as API Gateway passes them (`requestContext.authorizer.jwt.claims`).
    pub claims: Option<HashMap<String, String>>,
    /// The IAM principal API Gateway authenticated (`requestContext.authorizer.iam`) on backend
    /// routes: the application's own servers.
    pub backend_principal: Option<String>,
    /// The correlation id of every log line, audit entry and response: the Lambda request id.
    pub request_id: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The API's domain as API Gateway saw it; used for redirect URIs when no base URL is configured.
    pub domain_name: Option<String>,
}

impl std::fmt::Debug for ApiRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("request_id", &self.request_id)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for ApiResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiResponse")
            .field("status", &self.status)
            .field("body_bytes", &self.body.len())
            .finish_non_exhaustive()
    }
}

impl ApiRequest {
    /// Builds the plain request from what lambda_http parsed out of an HTTP API (v2) event.
    pub fn from_lambda(req: lambda_http::Request) -> Self {
        let path_params = req
            .path_parameters()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let query = req
            .query_string_parameters()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let lambda_request_id = req.lambda_context_ref().map(|c| c.request_id.clone());
        let (claims, backend_principal, gateway_request_id, source_ip, user_agent, domain_name) =
            match req.request_context_ref() {
                Some(RequestContext::ApiGatewayV2(ctx)) => (
                    ctx.authorizer
                        .as_ref()
                        .and_then(|a| a.jwt.as_ref())
                        .map(|jwt| jwt.claims.clone()),
                    ctx.authorizer
                        .as_ref()
                        .and_then(|a| a.iam.as_ref())
                        .and_then(|iam| iam.user_arn.clone().or_else(|| iam.caller_id.clone())),
                    ctx.request_id.clone(),
                    ctx.http.source_ip.clone(),
                    ctx.http.user_agent.clone(),
                    ctx.domain_name.clone(),
                ),
                _ => (None, None, None, None, None, None),
            };
        let (parts, body) = req.into_parts();
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Text(text) => text.into_bytes(),
            Body::Binary(bytes) => bytes,
            _ => Vec::new(),
        };
        Self {
            method: parts.method,
            path: parts.uri.path().to_string(),
            path_params,
            query,
            headers: parts.headers,
            body,
            claims,
            backend_principal,
            request_id: lambda_request_id
                .filter(|id| !id.is_empty())
                .or(gateway_request_id)
                .unwrap_or_else(|| "unknown".into()),
            source_ip,
            user_agent,
            domain_name,
        }
    }

    /// The caller from the authorizer's claims; 401 when there are none (a route misconfigured as public).
    pub fn caller(&self) -> Result<Caller, ApiError> {
        let sub = self
            .claims
            .as_ref()
            .and_then(|c| c.get("sub"))
            .ok_or(ApiError::Unauthorized)?;
        let user_id = UserId::parse(sub).map_err(|_| ApiError::Unauthorized)?;
        Ok(Caller { user_id })
    }

    /// The application's backend, as API Gateway's IAM authorization established it; 401 when
    /// absent (a backend route misconfigured without IAM authorization).
    pub fn backend(&self) -> Result<&str, ApiError> {
        self.backend_principal
            .as_deref()
            .filter(|p| !p.is_empty())
            .ok_or(ApiError::Unauthorized)
    }

    /// Who and where a request came from, for audit entries.
    pub fn origin(&self) -> crate::domain::RequestOrigin {
        crate::domain::RequestOrigin {
            correlation_id: self.request_id.clone(),
            ip: self.source_ip.clone(),
            user_agent: self.user_agent.clone(),
        }
    }

    pub fn path_param(&self, name: &str) -> Result<&str, ApiError> {
        self.path_params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::Validation(format!("missing path parameter `{name}`")))
    }

    /// Parses a JSON body; an empty body is `{}`. Size is checked before parsing.
    pub fn json_body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        self.check_body_size()?;
        let body: &[u8] = if self.body.iter().all(u8::is_ascii_whitespace) {
            b"{}"
        } else {
            &self.body
        };
        serde_json::from_slice(body).map_err(|e| {
            // serde's message names the field and the expected type; its line/column is noise here.
            let what = match e.classify() {
                serde_json::error::Category::Data => "invalid field",
                _ => "malformed JSON",
            };
            ApiError::Validation(format!("{what}: {}", strip_position(&e.to_string())))
        })
    }

    pub fn check_body_size(&self) -> Result<(), ApiError> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        Ok(())
    }

    /// `?limit=`: `default` when absent, else an integer from 1 to `max` (400 otherwise, an
    /// empty value included).
    pub fn limit_param(&self, default: u32, max: u32) -> Result<u32, ApiError> {
        match self.query.get("limit") {
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=max).contains(l))
                .ok_or_else(|| {
                    ApiError::Validation(format!("limit must be an integer from 1 to {max}"))
                }),
            None => Ok(default),
        }
    }

    /// `?cursor=`: absent, or a previous page's opaque cursor; an empty one is refused, as
    /// docs/openapi.yaml says.
    pub fn cursor_param(&self) -> Result<Option<&str>, ApiError> {
        match self.query.get("cursor").map(String::as_str) {
            Some("") => Err(ApiError::Validation("cursor must not be empty".into())),
            other => Ok(other),
        }
    }

    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// For an optional body field: absent is None, `null` is refused like any other wrong type
/// (docs/openapi.yaml: optional fields are omitted, never `null`). Use with
/// `#[serde(default, deserialize_with = "crate::http::present")]`.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

/// Debug shows the status only: a body can hold the token route's access token.
pub struct ApiResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a, T: Serialize> {
    success: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody<'a>>,
    correlation_id: &'a str,
    timestamp: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    code: &'a str,
    message: String,
    retryable: bool,
    /// The provider the failure came from or concerns (`ApiError::at_provider`).
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
}

impl ApiResponse {
    pub fn ok<T: Serialize>(request_id: &str, data: T) -> Self {
        Self::with_status(StatusCode::OK, request_id, data)
    }

    pub fn with_status<T: Serialize>(status: StatusCode, request_id: &str, data: T) -> Self {
        let envelope = Envelope {
            success: true,
            data: Some(data),
            error: None,
            correlation_id: request_id,
            timestamp: now_rfc3339(),
        };
        Self::json(status, &envelope)
    }

    /// The single place an error becomes a response. Logs the failure with its source chain
    /// (source errors never carry secret values) and answers with the public message only.
    pub fn from_error(request_id: &str, error: &ApiError) -> Self {
        let status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        log_failure(error);
        let envelope: Envelope<'_, ()> = Envelope {
            success: false,
            data: None,
            error: Some(ErrorBody {
                code: error.code(),
                message: error.public_message(),
                retryable: error.retryable(),
                provider: error.provider().map(ProviderId::as_str),
            }),
            correlation_id: request_id,
            timestamp: now_rfc3339(),
        };
        let mut response = Self::json(status, &envelope);
        if let Some(after) = error.retry_after() {
            // Whole seconds, rounded up: never ask for a retry sooner than the provider did.
            let secs = after.as_secs() + u64::from(after.subsec_nanos() > 0);
            response
                .headers
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }

    fn json<T: Serialize>(status: StatusCode, value: &T) -> Self {
        let body = serde_json::to_string(value).unwrap_or_else(|_| {
            r#"{"success":false,"error":{"code":"INTERNAL_ERROR","message":"response encoding failed","retryable":false}}"#.into()
        });
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn redirect(location: &str) -> Self {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(location) {
            headers.insert(header::LOCATION, value);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        Self {
            status: StatusCode::FOUND,
            headers,
            body: String::new(),
        }
    }

    pub fn html(status: StatusCode, body: String, content_security_policy: &str) -> Self {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(csp) = HeaderValue::from_str(content_security_policy) {
            headers.insert(header::CONTENT_SECURITY_POLICY, csp);
        }
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        );
        Self {
            status,
            headers,
            body,
        }
    }

    pub fn into_lambda(self) -> lambda_http::Response<Body> {
        let mut response = lambda_http::Response::new(if self.body.is_empty() {
            Body::Empty
        } else {
            Body::Text(self.body)
        });
        *response.status_mut() = self.status;
        *response.headers_mut() = self.headers;
        response
    }

    /// The parsed envelope, for tests and the dev gateway's logs.
    pub fn json_value(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// Logs a failed request once: server-side failures at error level with their source chain
/// (source errors never carry secret values), the caller's mistakes by code only.
pub fn log_failure(error: &ApiError) {
    let provider = error.provider().map(ProviderId::as_str);
    // The failure's own chain: the provider-naming wrapper adds nothing to it.
    let failure = error.peeled();
    if error.status() >= 500 {
        tracing::error!(code = error.code(), provider, error = %error_chain(failure), "request failed");
    } else {
        tracing::info!(code = error.code(), provider, "request refused");
    }
}

#[cfg(test)]
#[path = "tests/http.rs"]
mod tests;
