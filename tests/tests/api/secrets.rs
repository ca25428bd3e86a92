//! Secrets are read at run time from Secrets Manager (moto here), by the functions that use
//! them, and never sit in a function's environment.

use integration_tests::{Options, TestApp};
use serde_yaml::Value;

fn template() -> Value {
    let path = devstack::repo_root().join("template.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every environment of the template: the globals and each function's own.
fn environments(template: &Value) -> Vec<(String, &serde_yaml::Mapping)> {
    let mut found = vec![];
    if let Some(vars) = template["Globals"]["Function"]["Environment"]["Variables"].as_mapping() {
        found.push(("Globals".to_string(), vars));
    }
    for (name, resource) in template["Resources"].as_mapping().unwrap() {
        if let Some(vars) = resource["Properties"]["Environment"]["Variables"].as_mapping() {
            found.push((name.as_str().unwrap().to_string(), vars));
        }
    }
    found
}

#[test]
fn no_function_environment_holds_a_secret() {
    let text = std::fs::read_to_string(devstack::repo_root().join("template.yaml")).unwrap();
    // A dynamic reference would put the value in the function's configuration, readable with
    // lambda:GetFunctionConfiguration.
    assert!(
        !text.contains("{{resolve:"),
        "template.yaml resolves a secret into the stack"
    );
    let template = template();
    let parameters = template["Parameters"].as_mapping().unwrap();
    let mut checked = 0;
    for (owner, vars) in environments(&template) {
        for (name, value) in vars {
            let name = name.as_str().unwrap();
            assert!(
                !devstack::secrets::is_secret_value(name),
                "{owner}: {name} is a variable for a secret value"
            );
            if !name.contains("SECRET") {
                continue;
            }
            // A variable about a secret holds the name of one: a parameter documented as such.
            let Value::Tagged(tagged) = value else {
                panic!("{owner}: {name} is not a !Ref to a secret-name parameter");
            };
            let parameter = tagged.value.as_str().unwrap_or_default();
            assert!(
                tagged.tag == "Ref"
                    && parameters.get(parameter).is_some_and(|p| {
                        p["Description"].as_str().is_some_and(|d| {
                            d.contains("Name (not ARN) of a Secrets Manager secret")
                        })
                    }),
                "{owner}: {name} must be !Ref of a secret-name parameter"
            );
            checked += 1;
        }
    }
    let providers = parameters
        .keys()
        .filter(|k| k.as_str().is_some_and(|k| k.ends_with("CredentialsSecret")))
        .count();
    assert!(providers >= 9);
    assert_eq!(
        checked,
        providers + 1,
        "the state key's secret and each provider's"
    );
}

fn client_id_of(auth_url: &str) -> String {
    url::Url::parse(auth_url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.to_string())
        .unwrap()
}

#[tokio::test]
async fn a_rotated_secret_takes_effect_after_the_cache_time_without_a_restart() {
    let t = TestApp::with(Options {
        env: vec![("SECRETS_CACHE_SECONDS".into(), "1".into())],
        ..Options::default()
    })
    .await;
    let before = t.start_connect("alice", serde_json::json!({})).await;
    assert_eq!(client_id_of(&before), integration_tests::CLIENT_ID);

    // An operator rotates the credentials (a new version of the same secret).
    let (_, secret) = t
        .secret_names
        .iter()
        .find(|(variable, _)| variable == "DEMO_CREDENTIALS_SECRET")
        .unwrap();
    let rotated = serde_json::json!({"client_id": "rotated-client", "client_secret": "new"});
    devstack::secrets::put_secret(&t.stack.aws, secret, &rotated.to_string())
        .await
        .unwrap();
    let cached = t.start_connect("alice", serde_json::json!({})).await;
    assert_eq!(
        client_id_of(&cached),
        integration_tests::CLIENT_ID,
        "reused within the cache time"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let after = t.start_connect("alice", serde_json::json!({})).await;
    assert_eq!(client_id_of(&after), "rotated-client");
}
