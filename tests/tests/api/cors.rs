//! CORS: a web app on one of `AppOrigins` can call the API from the browser (the preflight for
//! `Authorization` passes), and no other origin gets CORS headers. API Gateway answers it in
//! AWS (template.yaml's `CorsConfiguration`), the dev gateway locally: both from
//! `shared::routes::cors`.

use std::collections::BTreeSet;
use std::sync::Arc;

use devstack::gateway::Gateway;
use integration_tests::{APP_ORIGIN, TestApp};
use serde_yaml::Value;
use shared::routes::cors;

fn set_of(value: &Value) -> BTreeSet<String> {
    value
        .as_sequence()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_ascii_lowercase())
        .collect()
}

fn lower(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_ascii_lowercase()).collect()
}

#[test]
fn the_template_configures_the_cors_the_dev_gateway_answers_with() {
    let path = devstack::repo_root().join("template.yaml");
    let template: Value = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let config = &template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"];
    assert_eq!(
        set_of(&config["AllowMethods"]),
        lower(&cors::allow_methods())
    );
    assert_eq!(set_of(&config["AllowHeaders"]), lower(cors::ALLOW_HEADERS));
    assert_eq!(
        set_of(&config["ExposeHeaders"]),
        lower(cors::EXPOSE_HEADERS)
    );
    assert_eq!(config["MaxAge"].as_u64(), Some(cors::MAX_AGE_SECS.into()));
    assert_eq!(config["AllowCredentials"].as_bool(), Some(false));
    // The origins are the app's, the same parameter the functions read as APP_ORIGINS.
    let origins = serde_yaml::to_string(&config["AllowOrigins"]).unwrap();
    assert!(
        origins.contains("!Split") && origins.contains("AppOrigins"),
        "{origins}"
    );
    let env = &template["Globals"]["Function"]["Environment"]["Variables"]["APP_ORIGINS"];
    assert!(serde_yaml::to_string(env).unwrap().contains("AppOrigins"));
    assert!(
        template["Parameters"]["AppOrigins"]["Default"].is_null(),
        "no default: a deployment must name its app's origins"
    );
}

#[tokio::test]
async fn the_dev_gateway_allows_the_app_origins_and_no_other() {
    let t = TestApp::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let serving = tokio::spawn(
        Arc::new(Gateway {
            app: t.app.clone(),
            jwt_secret: "cors-test-secret-0123456789abcdef0123".into(),
        })
        .serve(listener),
    );
    let http = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        http.request(
            reqwest::Method::OPTIONS,
            format!("{base}/providers/demo/connect"),
        )
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
    };
    let allowed = preflight(APP_ORIGIN).await.unwrap();
    assert_eq!(allowed.status(), 204);
    let h = allowed.headers();
    assert_eq!(h["access-control-allow-origin"], APP_ORIGIN);
    assert_eq!(h["access-control-max-age"], "600");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("DELETE"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"].to_str().unwrap();
    assert!(headers.contains("authorization") && headers.contains("content-type"));

    let foreign = preflight("https://evil.example").await.unwrap();
    assert!(
        foreign
            .headers()
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-")),
        "{:?}",
        foreign.headers()
    );

    // Actual requests: the allowed origin can read every answer, refusals included.
    for (path, status) in [("/providers", 200), ("/integrations", 401)] {
        let answer = http
            .get(format!("{base}{path}"))
            .header("origin", APP_ORIGIN)
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), status);
        assert_eq!(answer.headers()["access-control-allow-origin"], APP_ORIGIN);
        assert_eq!(answer.headers()["vary"], "origin");
        let other = http
            .get(format!("{base}{path}"))
            .header("origin", "http://localhost:3001")
            .send()
            .await
            .unwrap();
        assert!(!other.headers().contains_key("access-control-allow-origin"));
    }
    serving.abort();
}
