//! template.yaml, docs/openapi.yaml, functions/ and the route table agree, both ways.

use std::collections::BTreeSet;

use serde_yaml::Value;
use shared::routes::ROUTES;

fn yaml(path: &str) -> Value {
    let text = std::fs::read_to_string(devstack::repo_root().join(path)).unwrap();
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// (method, path, binary, public) for each route of the route table.
fn route_table() -> BTreeSet<(String, String, String, bool)> {
    ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_string(),
                r.path.to_string(),
                r.function.name().to_string(),
                r.public,
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
            let public = p["Auth"]["Authorizer"] == "NONE";
            routes.insert((
                p["Method"].as_str().unwrap().to_string(),
                p["Path"].as_str().unwrap().to_string(),
                binary.clone(),
                public,
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
            let public = match operation.get("security") {
                Some(s) => s.as_sequence().is_some_and(|s| s.is_empty()),
                None => !global_security,
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
                public,
            ));
        }
    }
    assert_eq!(routes, route_table());
}

#[test]
fn every_function_has_a_crate_and_every_crate_a_route() {
    let crates: BTreeSet<String> = std::fs::read_dir(devstack::repo_root().join("functions"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    let functions: BTreeSet<String> = ROUTES
        .iter()
        .map(|r| r.function.name().to_string())
        .collect();
    assert_eq!(crates, functions);
}
