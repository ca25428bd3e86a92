//! Operating it: the EMF metrics the functions write (docs/operations.md), and the alarms, topic
//! and dashboard of template.yaml that read them.

use std::collections::BTreeSet;

use integration_tests::{Options, TestApp, request};
use lambda_http::http::Method;
use serde_yaml::Value;

fn template() -> Value {
    let path = devstack::repo_root().join("template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resources_of_type<'a>(template: &'a Value, kind: &str) -> Vec<(String, &'a Value)> {
    template["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str().unwrap().to_string(), r))
        .collect()
}

fn tag<'a>(value: &'a Value, name: &str) -> Option<&'a Value> {
    match value {
        Value::Tagged(tagged) if tagged.tag == name => Some(&tagged.value),
        _ => None,
    }
}

/// The metric of an alarm or of each of its metric-math members: (namespace is ours, name).
fn alarm_metrics(alarm: &Value) -> Vec<(bool, String)> {
    let properties = &alarm["Properties"];
    let ours = |namespace: &Value| {
        tag(namespace, "Ref").and_then(Value::as_str) == Some("MetricsNamespace")
    };
    let mut found = vec![];
    if let Some(name) = properties["MetricName"].as_str() {
        found.push((ours(&properties["Namespace"]), name.to_string()));
    }
    for member in properties["Metrics"].as_sequence().into_iter().flatten() {
        let metric = &member["MetricStat"]["Metric"];
        if let Some(name) = metric["MetricName"].as_str() {
            found.push((ours(&metric["Namespace"]), name.to_string()));
        }
    }
    found
}

#[test]
fn every_alarm_notifies_the_topic_and_each_dead_letter_queue_has_one() {
    let template = template();
    let alarms = resources_of_type(&template, "AWS::CloudWatch::Alarm");
    for (name, alarm) in &alarms {
        for actions in ["AlarmActions", "OKActions"] {
            let targets = alarm["Properties"][actions].as_sequence().unwrap();
            assert_eq!(targets.len(), 1, "{name} {actions}");
            assert_eq!(
                tag(&targets[0], "Ref").and_then(Value::as_str),
                Some("AlarmTopic"),
                "{name} {actions}"
            );
        }
    }
    let watched: BTreeSet<String> = alarms
        .iter()
        .filter_map(|(_, a)| {
            let dimension = &a["Properties"]["Dimensions"][0];
            (dimension["Name"] == "QueueName")
                .then(|| {
                    tag(&dimension["Value"], "GetAtt")?
                        .as_str()
                        .map(str::to_string)
                })
                .flatten()
        })
        .collect();
    let dead_letter_queues: Vec<String> = resources_of_type(&template, "AWS::SQS::Queue")
        .into_iter()
        .map(|(name, _)| name)
        .filter(|name| name.ends_with("DeadLetterQueue"))
        .collect();
    assert_eq!(dead_letter_queues.len(), 3);
    for queue in dead_letter_queues {
        assert!(
            watched.contains(&format!("{queue}.QueueName")),
            "no alarm on {queue}"
        );
    }
    let names: BTreeSet<&str> = alarms.iter().map(|(n, _)| n.as_str()).collect();
    for required in [
        "BackgroundErrorsAlarm",
        "BackgroundThrottlesAlarm",
        "ApiServerErrorRateAlarm",
        "RefreshFailureRateAlarm",
        "SchedulerNotRunningAlarm",
        "SyncFailureRateAlarm",
    ] {
        assert!(names.contains(required), "{required} missing");
    }
    let topics = resources_of_type(&template, "AWS::SNS::Topic");
    assert_eq!(topics.len(), 1);
    assert_eq!(
        template["Resources"]["AlarmEmailSubscription"]["Condition"],
        "HasAlarmEmail"
    );
}

#[test]
fn alarms_and_dashboard_read_only_metrics_the_code_emits() {
    let template = template();
    let emitted: BTreeSet<&str> = shared::metrics::METRIC_NAMES.iter().copied().collect();
    let mut read = BTreeSet::new();
    for (name, alarm) in resources_of_type(&template, "AWS::CloudWatch::Alarm") {
        for (ours, metric) in alarm_metrics(alarm) {
            if ours {
                assert!(emitted.contains(metric.as_str()), "{name} reads {metric}");
                read.insert(metric);
            }
        }
    }
    let dashboards = resources_of_type(&template, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1);
    let body = tag(&dashboards[0].1["Properties"]["DashboardBody"], "Sub").unwrap()[0]
        .as_str()
        .unwrap();
    // Our metrics, by name: `MetricName=\"X\"` in SEARCH expressions, `["${Ns}", "X", …]` rows.
    let names_in = |text: &str, before: &str, after: char| -> Vec<String> {
        text.split(before)
            .skip(1)
            .filter_map(|rest| rest.split(after).next().map(str::to_string))
            .collect()
    };
    let mut on_dashboard = names_in(body, "MetricName=\\\"", '\\');
    on_dashboard.extend(names_in(body, "[\"${Ns}\", \"", '"'));
    assert!(on_dashboard.len() >= 8, "{on_dashboard:?}");
    for metric in on_dashboard {
        assert!(
            emitted.contains(metric.as_str()),
            "the dashboard reads {metric}"
        );
        read.insert(metric);
    }
    for kpi in [
        "RefreshLatency",
        "Latency",
        "Requests",
        "Refreshes",
        "SyncJobs",
    ] {
        assert!(
            read.contains(kpi),
            "{kpi} is neither alarmed on nor charted"
        );
    }
    // What CloudWatch will parse once CloudFormation has substituted the ${…} references.
    let mut substituted = String::new();
    let mut rest = body;
    while let Some(start) = rest.find("${") {
        substituted.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap();
        substituted.push('x');
        rest = &rest[start + end + 1..];
    }
    substituted.push_str(rest);
    let parsed: serde_json::Value =
        serde_json::from_str(&substituted).expect("the dashboard body is JSON");
    assert!(parsed["widgets"].as_array().unwrap().len() >= 6);
}

#[tokio::test]
async fn requests_refreshes_and_syncs_are_measured() {
    let t = TestApp::with(Options {
        own_oauth_server: true,
        sync_queue: Some((1, 3)),
        ..Options::default()
    })
    .await;
    let id = t.connected("maya").await;
    t.seed_events("maya", 7).await;
    let refreshed = t
        .send(
            request(Method::POST, &format!("/integrations/{id}/refresh"))
                .user("maya")
                .build(),
        )
        .await;
    assert_eq!(refreshed.status(), 200, "{}", refreshed.body());
    let malformed = t
        .send(
            request(Method::GET, "/integrations/no-such-integration")
                .user("maya")
                .build(),
        )
        .await;
    assert_eq!(malformed.status(), 400, "not an integration id");
    let reply = t
        .request_sync("maya", &id, serde_json::json!({ "full": true }))
        .await;
    assert_eq!(reply.status(), 202, "{}", reply.body());
    t.drain_sync_queue(std::time::Duration::from_secs(60)).await;

    let lines = t.metric_lines();
    for line in &lines {
        // Valid EMF: every name a directive lists is a member of the line.
        for directive in line["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            for dimension in directive["Dimensions"][0].as_array().unwrap() {
                assert!(line[dimension.as_str().unwrap()].is_string(), "{line}");
            }
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                assert!(line[name].is_number(), "{line}");
                assert!(shared::metrics::METRIC_NAMES.contains(&name), "{name}");
            }
        }
        assert!(!line.to_string().contains("access"), "no token: {line}");
    }
    let find = |pred: &dyn Fn(&serde_json::Value) -> bool| lines.iter().find(|l| pred(l)).cloned();
    let refresh_request =
        find(&|l| l["Route"] == "POST /integrations/{id}/refresh" && l["StatusClass"] == "2xx")
            .expect("the refresh request, by its route's template");
    assert!(refresh_request["Latency"].as_f64().unwrap() > 0.0);
    assert!(
        find(&|l| l["Route"] == "GET /integrations/{id}" && l["StatusClass"] == "4xx").is_some(),
        "the 400, by route and class"
    );
    let refresh = find(&|l| l["Refreshes"] == 1.0 && l["Outcome"] == "refreshed")
        .expect("the refresh's outcome");
    assert_eq!(refresh["Provider"], "demo");
    assert!(refresh["RefreshLatency"].as_f64().unwrap() > 0.0);
    let job = find(&|l| l["SyncJobs"] == 1.0).expect("the sync job's end");
    assert_eq!(job["Outcome"], "succeeded");
    assert_eq!(job["RecordsSynced"], 7.0);
    assert!(job["SyncDuration"].as_f64().unwrap() >= 0.0);
}

#[tokio::test]
async fn a_scheduler_run_reports_what_is_due_and_how_late() {
    let t = TestApp::with(Options {
        refresh_queue: Some((30, 3)),
        ..Options::default()
    })
    .await;
    t.connected("nora").await;
    // An hour on, the demo token (an hour's life) is 0-60 s past its expiry.
    let later = shared::clock::now_epoch() + 3600 + 60;
    let report = t.schedule(later).await.unwrap();
    assert_eq!(report.due, 1);
    let run = t
        .metric_lines()
        .into_iter()
        .find(|l| l["SchedulerRuns"] == 1.0)
        .expect("the run's line");
    assert_eq!(run["RefreshesDue"], 1.0);
    assert_eq!(run["ConnectedIntegrations"], 1.0);
    let lag = run["SchedulerLag"].as_f64().unwrap();
    assert!((50.0..=70.0).contains(&lag), "lag {lag}");
}
