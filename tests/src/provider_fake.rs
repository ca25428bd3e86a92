//! A local stand-in for any provider: it answers scripted responses in order and records every
//! request, for the contract tests to compare with what the provider's documentation requires
//! (tests/providers/README.md). A provider URL `https://host/path` is served here as
//! `http://127.0.0.1:PORT/host/path`: [`rebase_catalogue`] points catalogue entries at it.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// One scripted answer: served to the next request if it has this method and URL.
#[derive(Debug, Clone)]
pub struct Scripted {
    pub method: String,
    /// `https://host/path`, as the provider's documentation gives it.
    pub url: String,
    pub status: u16,
    pub content_type: Option<String>,
    pub body: String,
}

/// A request the fake received, its URL mapped back to the provider's.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub url: String,
    pub query: Vec<(String, String)>,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn form(&self) -> Vec<(String, String)> {
        let is_form = self
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Vec::new();
        }
        url::form_urlencoded::parse(&self.body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        let is_json = self
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json"));
        is_json
            .then(|| serde_json::from_slice(&self.body).ok())
            .flatten()
    }
}

#[derive(Default)]
struct State {
    script: VecDeque<Scripted>,
    received: Vec<Received>,
}

pub struct ProviderFake {
    port: u16,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl ProviderFake {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding 127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req| answer(state.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Self { port, state, task })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The provider URL behind one of ours, or None if it is not ours.
    pub fn provider_url(&self, ours: &str) -> Option<String> {
        ours.strip_prefix(&format!("{}/", self.base()))
            .map(|rest| format!("https://{rest}"))
    }

    pub fn script(&self, answers: impl IntoIterator<Item = Scripted>) {
        self.lock().script.extend(answers);
    }

    /// The requests received since the last call.
    pub fn take_received(&self) -> Vec<Received> {
        std::mem::take(&mut self.lock().received)
    }

    /// Scripted answers nobody asked for.
    pub fn unused(&self) -> Vec<Scripted> {
        self.lock().script.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for ProviderFake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: Arc<Mutex<State>>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_string();
    let path = req.uri().path().trim_start_matches('/').to_string();
    let url = format!("https://{path}");
    let query: Vec<(String, String)> = req
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let headers: Vec<(String, String)> = req
        .headers()
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_ascii_lowercase(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let body = req
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes().to_vec())
        .unwrap_or_default();
    let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
    let matches = state
        .script
        .front()
        .is_some_and(|s| s.method == method && s.url == url);
    let scripted = if matches {
        state.script.pop_front()
    } else {
        None
    };
    state.received.push(Received {
        method,
        url,
        query,
        headers,
        body,
    });
    let response = match scripted {
        Some(s) => {
            let mut builder = Response::builder()
                .status(StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK));
            if let Some(ct) = &s.content_type {
                builder = builder.header("content-type", ct);
            }
            builder.body(Full::new(Bytes::from(s.body)))
        }
        None => Response::builder()
            .status(StatusCode::NOT_FOUND)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from_static(
                br#"{"error":"unexpected_request"}"#,
            ))),
    };
    Ok(response.unwrap_or_else(|_| Response::new(Full::new(Bytes::new()))))
}

/// The catalogue text with every `key = "https://…"` value served by the fake at `base`.
pub fn rebase_catalogue(text: &str, base: &str) -> String {
    text.replace("= \"https://", &format!("= \"{base}/"))
}
