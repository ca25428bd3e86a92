//! A fault-injecting HTTP proxy in front of moto. The security model promises that a refresh
//! that succeeded at the provider is never lost to a failed store write (the new refresh token
//! has already replaced the old one there); to test that, the store has to fail on demand, on
//! the real wire protocol and through the real AWS SDK. Point the SDK's endpoint at
//! [`FaultProxy::url`]: requests are forwarded to moto unchanged, except the ones chosen with
//! [`FaultProxy::fail_next`], which get a DynamoDB `InternalServerError` instead, and the ones
//! chosen with [`FaultProxy::delay_next_containing`], which are forwarded late (a slow store).
//!
//! Note that the AWS SDK retries a `500` (standard retry mode: 3 attempts in all), so making one
//! SDK call fail takes as many injected faults as it makes attempts.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// The body of an injected fault: what DynamoDB answers when it fails internally.
const INJECTED_FAULT_BODY: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"injected fault"}"#;

/// Headers that describe one connection, not the message: never copied across the proxy.
/// `content-length` is recomputed from the (fully read) body on each side.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "content-length",
];

pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

struct Shared {
    /// Upstream base URL without a trailing `/`, e.g. `http://127.0.0.1:5050`.
    upstream: String,
    /// The upstream's `host[:port]`, sent as `Host`.
    upstream_host: HeaderValue,
    client: reqwest::Client,
    state: Mutex<State>,
}

struct Fault {
    /// None: answer with an injected error; Some: forward after this long.
    delay: Option<Duration>,
    operation_prefix: String,
    body_contains: Option<String>,
    /// Matching requests still let through before the faults start.
    skip: usize,
    left: usize,
}

#[derive(Default)]
struct State {
    /// Faults in the order they were asked for.
    faults: Vec<Fault>,
    /// Requests received per operation (forwarded or failed).
    counts: HashMap<String, usize>,
    /// Time spent upstream per operation (forwarded requests only), for the benches.
    upstream_time: HashMap<String, Duration>,
    /// Requests answered with an injected fault, ever.
    failed: usize,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (e.g. `http://127.0.0.1:5050`) on a free loopback port.
    /// Must be called within a Tokio runtime; the proxy runs on that runtime until dropped.
    pub fn start(upstream: &str) -> anyhow::Result<FaultProxy> {
        let runtime = tokio::runtime::Handle::try_current()
            .context("FaultProxy::start must be called within a Tokio runtime")?;
        let upstream = upstream.trim_end_matches('/').to_string();
        let parsed =
            reqwest::Url::parse(&upstream).with_context(|| format!("upstream URL {upstream:?}"))?;
        let host = parsed
            .host_str()
            .with_context(|| format!("upstream URL {upstream:?} has no host"))?;
        let host = match parsed.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        let upstream_host = HeaderValue::from_str(&host)?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("building the proxy's HTTP client")?;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let listener = {
            let _entered = runtime.enter();
            TcpListener::from_std(listener)?
        };

        let shared = Arc::new(Shared {
            upstream,
            upstream_host,
            client,
            state: Mutex::new(State::default()),
        });
        let task = runtime.spawn(serve(listener, shared.clone()));
        Ok(FaultProxy { port, shared, task })
    }

    /// `http://127.0.0.1:PORT`: the endpoint URL to give the AWS SDK.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Answers the next `count` requests whose operation (the part of `X-Amz-Target` after the
    /// `.`, e.g. `UpdateItem`) starts with `operation_prefix` with an injected
    /// `500 InternalServerError` instead of forwarding them. `""` matches any operation;
    /// requests without `X-Amz-Target` are never failed. Calls add up: each call's faults are
    /// used in the order of the calls.
    pub fn fail_next(&self, operation_prefix: &str, count: usize) {
        self.push_fault(operation_prefix, None, 0, count);
    }

    /// As [`FaultProxy::fail_next`], for requests whose body also contains `body_contains`
    /// (e.g. one update expression among the table's other writes).
    pub fn fail_next_containing(&self, operation_prefix: &str, body_contains: &str, count: usize) {
        self.fail_after_containing(operation_prefix, body_contains, 0, count);
    }

    /// As [`FaultProxy::fail_next_containing`], after letting `skip` matching requests through
    /// (e.g. the third of a series of checkpoint writes).
    pub fn fail_after_containing(
        &self,
        operation_prefix: &str,
        body_contains: &str,
        skip: usize,
        count: usize,
    ) {
        self.push_fault(
            operation_prefix,
            Some(body_contains.to_string()),
            skip,
            count,
        );
    }

    /// Forwards the next `count` requests for `operation_prefix` whose body contains
    /// `body_contains` only after `delay`: DynamoDB answering slowly (latency, throttling
    /// retries). The request is applied upstream after the delay, whether or not the client
    /// still waits for it.
    pub fn delay_next_containing(
        &self,
        operation_prefix: &str,
        body_contains: &str,
        delay: Duration,
        count: usize,
    ) {
        if count == 0 {
            return;
        }
        self.shared.lock().faults.push(Fault {
            delay: Some(delay),
            operation_prefix: operation_prefix.to_string(),
            body_contains: Some(body_contains.to_string()),
            skip: 0,
            left: count,
        });
    }

    fn push_fault(
        &self,
        operation_prefix: &str,
        body_contains: Option<String>,
        skip: usize,
        count: usize,
    ) {
        if count == 0 {
            return;
        }
        self.shared.lock().faults.push(Fault {
            delay: None,
            operation_prefix: operation_prefix.to_string(),
            body_contains,
            skip,
            left: count,
        });
    }

    /// Drops every fault not yet used.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// How many requests for exactly `operation` (e.g. `GetItem`) were received, forwarded or
    /// failed, since the start or the last [`FaultProxy::reset_counts`].
    pub fn count(&self, operation: &str) -> usize {
        self.shared
            .lock()
            .counts
            .get(operation)
            .copied()
            .unwrap_or(0)
    }

    /// Time moto took to answer the `operation` requests forwarded since the start or the last
    /// [`FaultProxy::reset_counts`] (summed; concurrent requests overlap).
    pub fn upstream_time(&self, operation: &str) -> Duration {
        self.shared
            .lock()
            .upstream_time
            .get(operation)
            .copied()
            .unwrap_or_default()
    }

    /// Zeroes the per-operation counts and times (not [`FaultProxy::failed`], not the pending
    /// faults).
    pub fn reset_counts(&self) {
        let mut state = self.shared.lock();
        state.counts.clear();
        state.upstream_time.clear();
    }

    /// How many requests were answered with an injected fault since the start.
    pub fn failed(&self) -> usize {
        self.shared.lock().failed
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every open connection too.
        self.task.abort();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a request for `operation` and says whether a fault applies: None, or the fault's
    /// delay (None within: answer with an injected error).
    fn take_fault(&self, operation: &str, body: &[u8]) -> Option<Option<Duration>> {
        let mut state = self.lock();
        *state.counts.entry(operation.to_string()).or_insert(0) += 1;
        let body = String::from_utf8_lossy(body);
        let rule = state.faults.iter_mut().position(|f| {
            f.left > 0
                && operation.starts_with(f.operation_prefix.as_str())
                && f.body_contains.as_deref().is_none_or(|n| body.contains(n))
        });
        let index = rule?;
        let fault = &mut state.faults[index];
        if fault.skip > 0 {
            fault.skip -= 1;
            return None;
        }
        fault.left -= 1;
        let delay = fault.delay;
        if fault.left == 0 {
            state.faults.remove(index);
        }
        if delay.is_none() {
            state.failed += 1;
        }
        Some(delay)
    }

    async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let operation = req
            .headers()
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|target| target.rsplit_once('.'))
            .map(|(_, operation)| operation.to_string());
        let (parts, body) = req.into_parts();
        // Read the whole body first, even for a fault: the connection stays usable.
        let body = match body.collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) => {
                return text_response(
                    StatusCode::BAD_REQUEST,
                    &format!("fault proxy: reading the request body: {e}"),
                );
            }
        };
        match operation
            .as_deref()
            .and_then(|operation| self.take_fault(operation, &body))
        {
            Some(None) => return injected_fault(),
            Some(Some(delay)) => tokio::time::sleep(delay).await,
            None => {}
        }

        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let url = format!("{}{}", self.upstream, path_and_query);
        let mut headers = without_hop_by_hop(&parts.headers);
        headers.insert(header::HOST, self.upstream_host.clone());
        let started = std::time::Instant::now();
        let sent = self
            .client
            .request(parts.method, url)
            .headers(headers)
            .body(body)
            .send()
            .await;
        let upstream = match sent {
            Ok(response) => response,
            Err(e) => {
                return text_response(
                    StatusCode::BAD_GATEWAY,
                    &format!("fault proxy: upstream request failed: {e}"),
                );
            }
        };
        let status = upstream.status();
        let headers = without_hop_by_hop(upstream.headers());
        let body = match upstream.bytes().await {
            Ok(body) => body,
            Err(e) => {
                return text_response(
                    StatusCode::BAD_GATEWAY,
                    &format!("fault proxy: reading the upstream body: {e}"),
                );
            }
        };
        if let Some(operation) = operation {
            *self.lock().upstream_time.entry(operation).or_default() += started.elapsed();
        }
        let mut out = Response::new(Full::new(body));
        *out.status_mut() = status;
        *out.headers_mut() = headers;
        out
    }
}

/// Accepts connections until the task is aborted; the connections live in a JoinSet owned by
/// this future, so they end with it.
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::debug!(error = %e, "fault proxy: accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let shared = shared.clone();
        connections.spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(shared.handle(req).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "fault proxy: connection ended");
            }
        });
    }
}

fn without_hop_by_hop(headers: &HeaderMap) -> HeaderMap {
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn injected_fault() -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from_static(
        INJECTED_FAULT_BODY.as_bytes(),
    )));
    *out.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    out.headers_mut().insert(
        HeaderName::from_static("x-amzn-requestid"),
        HeaderValue::from_static("fault-proxy-injected"),
    );
    out
}

fn text_response(status: StatusCode, message: &str) -> Response<Full<Bytes>> {
    let mut out = Response::new(Full::new(Bytes::from(message.to_string())));
    *out.status_mut() = status;
    out.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    out
}
