//! template.yaml, docs/openapi.yaml, functions/ and the route table agree, both ways.

use std::collections::BTreeSet;

use serde_yaml::Value;
use shared::routes::{Auth, ROUTES};

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(devstack::repo_root().join(path)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (method, path, binary, auth) for each route of the route table.
fn route_table() -> BTreeSet<(String, String, String, String)> {
    ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.path.to_string(),
                r.function.name().to_string(),
                format!("{:?}", r.auth),
            )
        })
        .collect()
}

#[test]
fn template_routes_match_the_route_table() {
    let template = yaml("template.yaml");
    let mut routes = BTreeSet::new();
    for (_, resource) in template["Resources"].as_mapping().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("every function names its binary")
            .to_string();
        assert_eq!(resource["Metadata"]["BuildMethod"], "rust-cargolambda");
        for (_, event) in resource["Properties"]["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
        {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let p = &event["Properties"];
            let auth = match p["Auth"]["Authorizer"].as_str() {
                Some("NONE") => Auth::Public,
                Some("AWS_IAM") => Auth::Backend,
                _ => Auth::User,
            };
            routes.insert((
                p["Method"].as_str().unwrap().to_string(),
                p["Path"].as_str().unwrap().to_string(),
                binary.clone(),
                format!("{auth:?}"),
            ));
        }
    }
    assert_eq!(routes, route_table());
}

#[test]
fn openapi_paths_match_the_route_table() {
    let spec = yaml("docs/openapi.yaml");
    let mut routes = BTreeSet::new();
    let global_security = spec
        .get("security")
        .is_some_and(|s| s.as_sequence().is_some_and(|s| !s.is_empty()));
    for (path, item) in spec["paths"].as_mapping().unwrap() {
        for (method, operation) in item.as_mapping().unwrap() {
            let method = method.as_str().unwrap();
            if !["get", "post", "put", "patch", "delete"].contains(&method) {
                continue;
            }
            let auth = match operation.get("security").and_then(|s| s.as_sequence()) {
                Some(s) if s.is_empty() => Auth::Public,
                Some(s) if s.iter().any(|r| r.get("backendIam").is_some()) => Auth::Backend,
                Some(_) => Auth::User,
                None if global_security => Auth::User,
                None => Auth::Public,
            };
            let route = ROUTES.iter().find(|r| {
                r.method.eq_ignore_ascii_case(method) && r.path == path.as_str().unwrap()
            });
            let binary = route
                .map(|r| r.function.name().to_string())
                .unwrap_or_else(|| "NOT IN ROUTE TABLE".into());
            routes.insert((
                method.to_ascii_uppercase(),
                path.as_str().unwrap().to_string(),
                binary,
                format!("{auth:?}"),
            ));
        }
    }
    assert_eq!(routes, route_table());
}

#[test]
fn every_function_has_a_crate_and_every_crate_a_function() {
    let crates: BTreeSet<String> = std::fs::read_dir(devstack::repo_root().join("functions"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let functions: BTreeSet<String> = shared::Function::ALL
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert_eq!(crates, functions);
}

#[test]
fn every_function_of_the_template_is_in_the_function_list() {
    let template = yaml("template.yaml");
    let binaries: BTreeSet<String> = template["Resources"]
        .as_mapping()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::Serverless::Function")
        .map(|r| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let functions: BTreeSet<String> = shared::Function::ALL
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    assert_eq!(binaries, functions);
    // The scheduled and queue-driven functions are wired to their triggers.
    let events = |name: &str| {
        template["Resources"]
            .as_mapping()
            .unwrap()
            .values()
            .find(|r| r["Metadata"]["BuildProperties"]["Binary"] == name)
            .unwrap()["Properties"]["Events"]
            .clone()
    };
    let scheduler = events("refresh-scheduler");
    assert!(
        scheduler
            .as_mapping()
            .unwrap()
            .values()
            .any(|e| e["Type"] == "Schedule")
    );
    let worker = events("refresh-worker");
    let sqs = worker
        .as_mapping()
        .unwrap()
        .values()
        .find(|e| e["Type"] == "SQS")
        .expect("an SQS event source");
    assert_eq!(
        sqs["Properties"]["FunctionResponseTypes"][0],
        "ReportBatchItemFailures"
    );
}

#[test]
fn the_sync_worker_knows_the_sync_queues_redrive_limit() {
    let template = yaml("template.yaml");
    let resources = &template["Resources"];
    let limit = resources["SyncQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        .as_u64()
        .expect("SyncQueue has a redrive limit");
    let told = resources["SyncWorkerFunction"]["Properties"]["Environment"]["Variables"]
        ["SYNC_MAX_RECEIVES"]
        .as_str()
        .expect("SYNC_MAX_RECEIVES is set");
    assert_eq!(told, limit.to_string());
}

#[test]
fn catalogue_variables_default_to_what_the_catalogue_writes() {
    // A deployment of the defaults then leaves every embedded entry as written, so each is
    // typed and checked at its first use instead of at every cold start (catalogue::load).
    let template = yaml("template.yaml");
    let globals = &template["Globals"]["Function"]["Environment"]["Variables"];
    let mut checked = Vec::new();
    for (start, _) in shared::catalogue::EMBEDDED.match_indices("${") {
        let inner = &shared::catalogue::EMBEDDED[start + 2..];
        let inner = &inner[..inner.find('}').expect("closed")];
        let Some((name, default)) = inner.split_once(":-") else {
            continue;
        };
        let Value::Tagged(reference) = &globals[name] else {
            continue;
        };
        let parameter = reference.value.as_str().expect("!Ref names a parameter");
        let template_default = template["Parameters"][parameter]["Default"]
            .as_str()
            .unwrap_or_default();
        assert_eq!(template_default, default, "{parameter} ({name})");
        checked.push(name);
    }
    checked.sort();
    checked.dedup();
    assert_eq!(checked, ["MICROSOFT_TENANT", "REDDIT_USER_AGENT"]);
}
