//! The Lambda Runtime API (2018-06-01), just enough to run a real function binary for one
//! invocation: `make bench` times cold starts with it, and the tests run a binary under it to
//! read everything it prints.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::{mpsc, oneshot};

/// A Runtime API serving one invocation: where it listens, when the function first asked for
/// work (its cold start, `make bench`), and what (and when) it posted as its response.
pub struct RuntimeApi {
    pub port: u16,
    pub first_poll: oneshot::Receiver<Instant>,
    pub responses: mpsc::UnboundedReceiver<(Instant, Bytes)>,
}

/// Hands out `event` once per process (a later `/next`, on any connection, waits) and reports
/// the first poll and every response or error the function posts.
pub async fn runtime_api(event: String) -> anyhow::Result<RuntimeApi> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let (tx, responses) = mpsc::unbounded_channel();
    let (polled, first_poll) = oneshot::channel();
    let polled = Arc::new(Mutex::new(Some(polled)));
    let event = Arc::new(event);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (tx, event, polled) = (tx.clone(), event.clone(), polled.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (tx, event, polled) = (tx.clone(), event.clone(), polled.clone());
                    async move {
                        let path = req.uri().path().to_string();
                        let mut response = Response::new(Full::new(Bytes::new()));
                        if path.ends_with("/invocation/next") {
                            // The first poll of the process takes the event; the runtime clients
                            // keep one connection alive, so this is decided per process.
                            let first = polled.lock().ok().and_then(|mut p| p.take());
                            match first {
                                Some(polled) => {
                                    let _ = polled.send(Instant::now());
                                }
                                None => tokio::time::sleep(Duration::from_secs(3600)).await,
                            }
                            *response.body_mut() =
                                Full::new(Bytes::from(event.as_bytes().to_vec()));
                            let headers = response.headers_mut();
                            for (name, value) in [
                                ("lambda-runtime-aws-request-id", "local-request-1"),
                                ("lambda-runtime-deadline-ms", "9999999999999"),
                                (
                                    "lambda-runtime-invoked-function-arn",
                                    "arn:aws:lambda:us-east-1:123456789012:function:local",
                                ),
                            ] {
                                if let Ok(value) = value.parse() {
                                    headers.insert(name, value);
                                }
                            }
                        } else if path.ends_with("/response") || path.ends_with("/error") {
                            let body = req
                                .into_body()
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let _ = tx.send((Instant::now(), body));
                            *response.status_mut() = hyper::StatusCode::ACCEPTED;
                        }
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(RuntimeApi {
        port,
        first_poll,
        responses,
    })
}
