//! Per-caller rate limits (shared::rate_limit) against moto: the product's numbers, a 429 with
//! `Retry-After` and the `RateLimit-*` headers, callers kept apart, a new budget each window,
//! the public callback limited per source IP with its refused-state audit bounded, and a
//! counter store that fails.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::browser::authorize;
use integration_tests::logs::CapturedLogs;
use integration_tests::{Options, Reply, TestApp, request};
use lambda_http::http::Method;

fn connect(user: &str) -> shared::ApiRequest {
    request(Method::POST, "/providers/demo/connect")
        .user(user)
        .build()
}

fn header_number(reply: &Reply, name: &str) -> u64 {
    reply
        .header(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .parse()
        .unwrap_or_else(|_| panic!("{name} is not a number"))
}

/// Waits for the next window when fewer than `margin` seconds are left in the current one, so
/// that a test's requests all fall in one window.
async fn within_one_window(window_secs: u64, margin: u64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let into = Duration::from_millis(now.as_millis() as u64 % (window_secs * 1000));
    let left = Duration::from_secs(window_secs) - into;
    if left < Duration::from_secs(margin) {
        tokio::time::sleep(left + Duration::from_millis(50)).await;
    }
}

/// Items of the table whose partition key starts with `prefix`.
async fn items(
    t: &TestApp,
    prefix: &str,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    let out = t
        .dynamodb
        .scan()
        .table_name(&t.table_name)
        .send()
        .await
        .unwrap();
    out.items
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i["PK"].as_s().is_ok_and(|pk| pk.starts_with(prefix)))
        .collect()
}

#[tokio::test]
async fn the_eleventh_connect_of_a_user_in_a_minute_is_refused_and_another_user_is_not() {
    let t = TestApp::new().await;
    within_one_window(60, 15).await;
    for n in 1..=10 {
        let reply = t.send(connect("alice")).await;
        assert_eq!(reply.status(), 200, "connect {n}: {}", reply.body());
        assert_eq!(header_number(&reply, "ratelimit-limit"), 10);
        assert_eq!(header_number(&reply, "ratelimit-remaining"), 10 - n);
        assert!((1..=60).contains(&header_number(&reply, "ratelimit-reset")));
    }
    let refused = t.send(connect("alice")).await;
    assert_eq!(refused.status(), 429, "{}", refused.body());
    assert_eq!(refused.error_code(), "RATE_LIMITED");
    assert_eq!(refused.json()["error"]["retryable"], true);
    let retry_after = header_number(&refused, "retry-after");
    assert!((1..=60).contains(&retry_after), "Retry-After {retry_after}");
    assert_eq!(header_number(&refused, "ratelimit-reset"), retry_after);
    assert_eq!(header_number(&refused, "ratelimit-remaining"), 0);
    // Refused before the handler: no eleventh state was minted.
    assert_eq!(items(&t, "STATE#").await.len(), 10);

    let other = t.send(connect("bob")).await;
    assert_eq!(other.status(), 200, "{}", other.body());
    assert_eq!(header_number(&other, "ratelimit-remaining"), 9);
    // Each class has its own budget: alice can still list her integrations.
    let list = t
        .send(request(Method::GET, "/integrations").user("alice").build())
        .await;
    assert_eq!(list.status(), 200);
    assert_eq!(header_number(&list, "ratelimit-limit"), 60);
}

#[tokio::test]
async fn a_new_window_gives_the_budget_back() {
    let t = TestApp::with(Options {
        env: vec![("RATE_LIMITS".into(), "connect=2/3".into())],
        ..Default::default()
    })
    .await;
    within_one_window(3, 2).await;
    for _ in 0..2 {
        assert_eq!(t.send(connect("alice")).await.status(), 200);
    }
    let refused = t.send(connect("alice")).await;
    assert_eq!(refused.status(), 429);
    let retry_after = header_number(&refused, "retry-after");
    assert!((1..=3).contains(&retry_after), "Retry-After {retry_after}");
    tokio::time::sleep(Duration::from_secs(retry_after)).await;
    let again = t.send(connect("alice")).await;
    assert_eq!(again.status(), 200, "{}", again.body());
    assert_eq!(header_number(&again, "ratelimit-remaining"), 1);
}

#[tokio::test]
async fn every_limited_route_answers_with_its_budget_and_the_catalogue_is_not_limited() {
    let t = TestApp::with(Options {
        env: vec![(
            "BACKEND_PRINCIPAL_ARNS".into(),
            integration_tests::BACKEND_PRINCIPAL.into(),
        )],
        ..Default::default()
    })
    .await;
    let unknown = "0123456789abcdef0123456789abcdef";
    let cases = [
        (
            request(Method::GET, &format!("/integrations/{unknown}")).user("alice"),
            60,
        ),
        (
            request(Method::POST, &format!("/integrations/{unknown}/test")).user("alice"),
            10,
        ),
        (
            request(Method::POST, &format!("/integrations/{unknown}/sync")).user("alice"),
            10,
        ),
        (
            request(Method::DELETE, &format!("/integrations/{unknown}")).user("alice"),
            20,
        ),
        (
            request(
                Method::GET,
                &format!("/users/alice/integrations/{unknown}/token"),
            )
            .backend(),
            1200,
        ),
    ];
    for (builder, limit) in cases {
        let req = builder.build();
        let route = format!("{} {}", req.method, req.path);
        let reply = t.send(req).await;
        // Refusals carry the budget too: a 404 spends one request like a 200.
        assert_eq!(reply.status(), 404, "{route}: {}", reply.body());
        assert_eq!(header_number(&reply, "ratelimit-limit"), limit, "{route}");
        assert_eq!(
            header_number(&reply, "ratelimit-remaining"),
            limit - 1,
            "{route}"
        );
    }
    let catalogue = t.send(request(Method::GET, "/providers").build()).await;
    assert_eq!(catalogue.status(), 200);
    assert_eq!(catalogue.header("ratelimit-limit"), None);
}

#[tokio::test]
async fn a_flood_of_forged_callbacks_from_one_source_is_refused_and_audited_in_one_entry() {
    let t = TestApp::new().await;
    within_one_window(60, 20).await;
    let flood_source = "198.51.100.7";
    let (mut refused_states, mut limited) = (0, 0);
    for n in 0..1000 {
        let forged = request(Method::GET, "/providers/demo/callback")
            .query("code", "forged-code")
            .query("state", &format!("forged-state-{n}"))
            .source_ip(flood_source)
            .build();
        let reply = t.send(forged).await;
        match reply.status() {
            400 => refused_states += 1,
            429 => limited += 1,
            other => panic!("forged callback {n}: {other} {}", reply.body()),
        }
    }
    // browser-callback: 30 a minute per source.
    assert_eq!((refused_states, limited), (30, 970));
    let audit = items(&t, "AUDIT#anonymous").await;
    assert_eq!(audit.len(), 1, "one entry per source, event and minute");
    assert_eq!(audit[0]["count"].as_n().unwrap(), "30");
    assert_eq!(audit[0]["event"].as_s().unwrap(), "invalid_state_detected");
    assert_eq!(audit[0]["ip"].as_s().unwrap(), flood_source);

    // A real user's redirect from another source still completes.
    let auth_url = t.start_connect("alice", serde_json::json!({})).await;
    let redirect = authorize(&auth_url, "alice").await;
    let callback = t
        .send(
            redirect
                .callback_request()
                .source_ip("203.0.113.44")
                .build(),
        )
        .await;
    assert_eq!(callback.status(), 200, "{}", callback.body());
    assert_eq!(header_number(&callback, "ratelimit-remaining"), 29);
}

#[tokio::test]
async fn when_the_counters_cannot_be_written_requests_are_admitted_and_the_failure_logged() {
    let t = TestApp::with(Options {
        store_proxy: true,
        env: vec![("RATE_LIMITS".into(), "connect=1".into())],
        ..Default::default()
    })
    .await;
    // DynamoDB failing every counter write (the SDK's three attempts each), nothing else:
    // three connects over a budget of one all go through.
    let proxy = t.store.as_ref().unwrap();
    proxy.fail_next_containing("UpdateItem", "RATE#", 3 * 3);
    let logs = CapturedLogs::default();
    for _ in 0..3 {
        let reply = logs.capture(t.send(connect("alice"))).await;
        assert_eq!(reply.status(), 200, "{}", reply.body());
        assert_eq!(reply.header("ratelimit-limit"), None);
    }
    let text = logs.text();
    assert!(
        text.contains("rate limiter unavailable; request admitted"),
        "{text}"
    );
}

/// template.yaml's `RateLimits` default is the code's (what `make dev` and these tests apply),
/// and the public callback has its own gateway throttle.
#[test]
fn the_template_deploys_the_limits_the_tests_apply() {
    let text = std::fs::read_to_string(devstack::repo_root().join("template.yaml")).unwrap();
    let template: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let default = template["Parameters"]["RateLimits"]["Default"]
        .as_str()
        .expect("a RateLimits default");
    assert_eq!(
        shared::config::RateLimits::parse(default).unwrap(),
        shared::config::RateLimits::default()
    );
    let browser_callback =
        &template["Resources"]["CallbackFunction"]["Properties"]["Events"]["BrowserCallback"];
    let settings = &browser_callback["Properties"]["RouteSettings"];
    assert!(
        matches!(
            settings["ThrottlingRateLimit"],
            serde_yaml::Value::Tagged(_)
        ),
        "{settings:?}"
    );
}
