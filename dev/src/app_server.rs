//! The demo app's server for `make dev`: the web kit and the demo page (`web/`) on their own
//! origin (`http://localhost:3000` by default), so CORS and cross-origin `postMessage` are as
//! real as with a deployed app. Dev only, never deployed: it also mints dev JWTs for the demo's
//! user picker, which a real app gets from its identity provider.

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

pub struct AppServer {
    /// The dev gateway's base URL, for the demo page.
    pub api_base_url: String,
    pub jwt_secret: String,
}

/// The files served, by path: (file under `web/`, content type).
const FILES: &[(&str, &str, &str)] = &[
    ("/", "demo/index.html", "text/html; charset=utf-8"),
    ("/demo.js", "demo/demo.js", "text/javascript; charset=utf-8"),
    (
        "/connect.js",
        "connect.js",
        "text/javascript; charset=utf-8",
    ),
];

impl AppServer {
    pub async fn serve(self: Arc<Self>, listener: TcpListener) {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let server = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let server = server.clone();
                    async move { Ok::<_, Infallible>(server.answer(&req)) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    }

    fn answer(&self, req: &Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path();
        if path == "/config.json" {
            let body = serde_json::json!({ "apiBaseUrl": self.api_base_url });
            return respond(
                StatusCode::OK,
                "application/json",
                body.to_string().into_bytes(),
            );
        }
        if path == "/dev-token" {
            let user = req
                .uri()
                .query()
                .and_then(|q| {
                    url::form_urlencoded::parse(q.as_bytes())
                        .find(|(k, _)| k == "user")
                        .map(|(_, v)| v.to_string())
                })
                .unwrap_or_default();
            return match crate::jwt::issue(&self.jwt_secret, &user, 3600) {
                Ok(token) if !user.is_empty() => {
                    let body = serde_json::json!({ "token": token });
                    respond(
                        StatusCode::OK,
                        "application/json",
                        body.to_string().into_bytes(),
                    )
                }
                _ => respond(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    b"?user=<id>".to_vec(),
                ),
            };
        }
        let file = match FILES.iter().find(|(route, _, _)| *route == path) {
            Some((_, file, content_type)) => Some((file.to_string(), *content_type)),
            None => example_file(path),
        };
        match file {
            Some((file, content_type)) => {
                match std::fs::read(crate::repo_root().join("web").join(file)) {
                    Ok(bytes) => respond(StatusCode::OK, content_type, bytes),
                    Err(_) => respond(StatusCode::NOT_FOUND, "text/plain", b"missing".to_vec()),
                }
            }
            None => respond(StatusCode::NOT_FOUND, "text/plain", b"not found".to_vec()),
        }
    }
}

/// The React example (`/react/`, `/react/<name>.js`) and the Preact build its import map uses
/// for "react" (`/vendor/preact/…mjs`, from web/node_modules). Nothing else: no `..`, no
/// other extension.
fn example_file(path: &str) -> Option<(String, &'static str)> {
    const JS: &str = "text/javascript; charset=utf-8";
    if path == "/react/" {
        return Some(("react/example.html".into(), "text/html; charset=utf-8"));
    }
    if let Some(name) = path.strip_prefix("/react/")
        && name.ends_with(".js")
        && name
            .trim_end_matches(".js")
            .chars()
            .all(|c| c.is_ascii_alphanumeric())
    {
        return Some((format!("react/{name}"), JS));
    }
    let rest = path.strip_prefix("/vendor/preact/")?;
    let safe = rest.ends_with(".mjs")
        && rest
            .split('/')
            .all(|part| !part.is_empty() && part != ".." && part != ".");
    safe.then(|| (format!("node_modules/preact/{rest}"), JS))
}

fn respond(status: StatusCode, content_type: &str, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = header::HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    response
}
