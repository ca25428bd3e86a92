//! IAM conformance. moto does not enforce IAM, so a green test proves nothing about what a real
//! account allows. Here every AWS request the service makes while the tests run as one of its
//! functions (see [`as_function`]) is checked, as it is sent, against that function's policy in
//! template.yaml: an action on a resource the function is not granted fails the test that made
//! it, naming function, action and resource.
//!
//! The check is an interceptor on the app's DynamoDB, KMS, SQS and Secrets Manager clients (the real wire
//! requests: `X-Amz-Target` and the JSON body). Requests outside any function (the tests' own
//! reads, provisioning, the local queue poller) are not checked. Lambda's own calls for an SQS
//! event source (ReceiveMessage, DeleteMessage) are SAM's to grant, not the function's code.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Mutex, OnceLock};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use serde_yaml::Value;
use shared::Function;

tokio::task_local! {
    static FUNCTION: Function;
}

/// Runs `work` as `function`: the AWS requests it makes are checked against that function's
/// policy.
pub async fn as_function<F: Future>(function: Function, work: F) -> F::Output {
    FUNCTION.scope(function, work).await
}

/// Physical names of one test app's resources, by the template's logical ids.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub table: String,
    pub key_id: String,
    /// Queue URL → logical id (`RefreshQueue`, `SyncQueue`, `RecoveryQueue`).
    pub queues: BTreeMap<String, &'static str>,
    /// Secret name → the template parameter naming it (`StateSecretName`, or
    /// [`PROVIDER_CREDENTIALS`] for any provider's).
    pub secrets: BTreeMap<String, &'static str>,
    /// The lifecycle events' bus name (template.yaml's `EventBus`), when the app has one.
    pub event_bus: Option<String>,
}

/// The logical resource of every `<Provider>CredentialsSecret`: the template grants them as a
/// set (`ProviderCredentialsRead`), and the tests' providers stand in for any of them.
pub const PROVIDER_CREDENTIALS: &str = "ProviderCredentials";

/// Actions granted per function binary: (action, logical resource) pairs, resources as
/// `Table`, `Table/index/GSI1`, `TokenKey`, `SyncQueue`, or `*`.
pub type Grants = BTreeMap<String, BTreeSet<(String, String)>>;

/// Every (function, action, resource) the tests exercised, for [`used`].
static USED: Mutex<BTreeSet<(String, String, String)>> = Mutex::new(BTreeSet::new());

/// What the tests have exercised so far: (function, action, resource).
pub fn used() -> BTreeSet<(String, String, String)> {
    USED.lock().unwrap_or_else(|p| p.into_inner()).clone()
}

/// Where each test process appends what it exercised, for `make test`'s report of grants no
/// test used (the `iam-report` binary). `make test` empties it first.
pub fn uses_file() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| devstack::repo_root().join("target"))
        .join("iam-used.tsv")
}

fn record_use(function: &str, action: &str, resource: &str) {
    use std::io::Write;
    // One short O_APPEND write per line: lines of concurrent tests do not interleave.
    let line = format!("{function}\t{action}\t{resource}\n");
    let _ = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(uses_file())
        .and_then(|mut f| f.write_all(line.as_bytes()));
}

/// The grants of `grants` that no use in `used` needed: (function, action, resource).
pub fn unused(
    grants: &Grants,
    used: &BTreeSet<(String, String, String)>,
) -> Vec<(String, String, String)> {
    let mut unused = Vec::new();
    for (function, granted) in grants {
        for grant in granted {
            let one = BTreeSet::from([grant.clone()]);
            let exercised = used
                .iter()
                .any(|(f, action, resource)| f == function && allows(&one, action, resource));
            if !exercised {
                unused.push((function.clone(), grant.0.clone(), grant.1.clone()));
            }
        }
    }
    unused
}

pub fn template_grants() -> &'static Grants {
    static GRANTS: OnceLock<Grants> = OnceLock::new();
    GRANTS.get_or_init(|| {
        let path = devstack::repo_root().join("template.yaml");
        let text = std::fs::read_to_string(path).expect("template.yaml");
        grants_of(&serde_yaml::from_str(&text).expect("template.yaml is YAML"))
    })
}

/// The statements of each function's inline policies.
pub fn grants_of(template: &Value) -> Grants {
    let mut grants = Grants::new();
    let resources = template["Resources"].as_mapping().expect("Resources");
    for resource in resources.values() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("a function names its binary")
            .to_string();
        let granted = grants.entry(binary).or_default();
        let policies = resource["Properties"]["Policies"].as_sequence();
        for policy in policies.into_iter().flatten() {
            let policy = policy_document(template, policy);
            let statements = policy["Statement"].as_sequence();
            for statement in statements.into_iter().flatten() {
                assert_eq!(
                    statement["Effect"], "Allow",
                    "only Allow statements are used"
                );
                let actions = one_or_many(&statement["Action"]);
                let mut targets: Vec<String> = match &statement["Resource"] {
                    Value::Sequence(items) => items.iter().map(logical).collect(),
                    single => vec![logical(single)],
                };
                // A KMS grant pinned to one encryption context: `TokenKey?purpose=token-set`.
                let pinned =
                    &statement["Condition"]["StringEquals"]["kms:EncryptionContext:purpose"];
                if let Some(purpose) = pinned.as_str() {
                    for target in &mut targets {
                        target.push_str(&format!("?purpose={purpose}"));
                    }
                }
                // A table grant pinned to partition keys: `Table?leading=RATE#*`.
                let leading =
                    &statement["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"];
                if let Some(pattern) = leading.as_sequence().and_then(|p| p.first()) {
                    let pattern = pattern.as_str().unwrap_or_default();
                    for target in &mut targets {
                        target.push_str(&format!("?leading={pattern}"));
                    }
                }
                for action in &actions {
                    for target in &targets {
                        granted.insert((action.clone(), target.clone()));
                    }
                }
            }
        }
    }
    grants
}

/// An inline policy as is; `!Ref P` → the managed policy `P`'s document; `!If [c, A, B]` → A
/// (the tests configure what the conditions test for).
fn policy_document<'a>(template: &'a Value, policy: &'a Value) -> &'a Value {
    match policy {
        Value::Tagged(tagged) if tagged.tag == "Ref" => {
            let name = tagged.value.as_str().unwrap_or_default();
            let managed = &template["Resources"][name];
            assert_eq!(
                managed["Type"], "AWS::IAM::ManagedPolicy",
                "a policy reference names a managed policy: {name}"
            );
            &managed["Properties"]["PolicyDocument"]
        }
        Value::Tagged(tagged) if tagged.tag == "If" => policy_document(
            template,
            &tagged.value.as_sequence().expect("!If [c, A, B]")[1],
        ),
        inline => inline,
    }
}

fn one_or_many(value: &Value) -> Vec<String> {
    match value {
        Value::Sequence(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        other => other.as_str().map(str::to_string).into_iter().collect(),
    }
}

/// `!GetAtt Table.Arn` → `Table`; `!Sub '${Table.Arn}/index/GSI1'` → `Table/index/GSI1`.
fn logical(value: &Value) -> String {
    match value {
        Value::Tagged(tagged) => {
            let inner = tagged.value.as_str().unwrap_or_default();
            match tagged.tag.to_string().trim_start_matches('!') {
                "GetAtt" => inner.trim_end_matches(".Arn").to_string(),
                "Sub" => {
                    let mut out = inner.to_string();
                    while let Some(start) = out.find("${") {
                        let end = out[start..].find('}').map_or(out.len(), |e| start + e);
                        let name = out[start + 2..end].trim_end_matches(".Arn").to_string();
                        out.replace_range(start..=end.min(out.len() - 1), &name);
                    }
                    // `arn:…:secret:${StateSecretName}-??????` → `StateSecretName`.
                    match out.split_once(":secret:") {
                        Some((_, secret)) => {
                            let parameter = secret.trim_end_matches("-??????");
                            if parameter.ends_with("CredentialsSecret") {
                                PROVIDER_CREDENTIALS.to_string()
                            } else {
                                parameter.to_string()
                            }
                        }
                        None => out,
                    }
                }
                // A conditional resource: the tests configure what the condition tests for.
                "If" => logical(&tagged.value.as_sequence().expect("!If [c, A, B]")[1]),
                other => panic!("unsupported resource form !{other} {inner}"),
            }
        }
        other => other.as_str().unwrap_or_default().to_string(),
    }
}

fn allows(granted: &BTreeSet<(String, String)>, action: &str, resource: &str) -> bool {
    granted.iter().any(|(a, r)| {
        a == action
            && (r == "*"
                || r == resource
                // A grant without a condition covers every encryption context and every key.
                || resource
                    .strip_prefix(r.as_str())
                    .is_some_and(|rest| rest.starts_with('?'))
                || r.strip_suffix('*').is_some_and(|p| resource.starts_with(p)))
    })
}

/// The IAM actions and logical resources one request needs.
fn required(target: &str, body: &serde_json::Value, names: &Resources) -> Vec<(String, String)> {
    let operation = target.rsplit_once('.').map_or(target, |(_, op)| op);
    let table = |name: &serde_json::Value| {
        if name.as_str() == Some(names.table.as_str()) {
            "Table".to_string()
        } else {
            format!("unknown table {name}")
        }
    };
    if target.starts_with("DynamoDB_") {
        return match operation {
            "TransactWriteItems" => body["TransactItems"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|item| {
                    [
                        ("Put", "PutItem"),
                        ("Update", "UpdateItem"),
                        ("Delete", "DeleteItem"),
                        ("ConditionCheck", "ConditionCheckItem"),
                    ]
                    .into_iter()
                    .filter(|(kind, _)| item.get(*kind).is_some())
                    .map(|(kind, action)| {
                        (
                            format!("dynamodb:{action}"),
                            table(&item[kind]["TableName"]),
                        )
                    })
                    .collect::<Vec<_>>()
                })
                .collect(),
            "BatchWriteItem" | "BatchGetItem" => body["RequestItems"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(name, _)| {
                    (
                        format!("dynamodb:{operation}"),
                        table(&serde_json::json!(name)),
                    )
                })
                .collect(),
            _ => {
                let mut resource = table(&body["TableName"]);
                if let Some(index) = body["IndexName"].as_str() {
                    resource = format!("{resource}/index/{index}");
                }
                // One item's partition key, which a `dynamodb:LeadingKeys` condition compares.
                let key = body["Key"]["PK"]["S"].as_str();
                if let Some(pk) = key.or(body["Item"]["PK"]["S"].as_str()) {
                    resource = format!("{resource}?leading={pk}");
                }
                vec![(format!("dynamodb:{operation}"), resource)]
            }
        };
    }
    if target.starts_with("TrentService.") {
        // Without KeyId the key is the one in the ciphertext. The request's encryption context
        // is what a pinned grant's condition compares.
        let mut key = match body["KeyId"].as_str() {
            None => "TokenKey".to_string(),
            Some(k)
                if k == names.key_id || k.ends_with(&names.key_id) || names.key_id.ends_with(k) =>
            {
                "TokenKey".to_string()
            }
            Some(k) => format!("unknown key {k}"),
        };
        if let Some(purpose) = body["EncryptionContext"]["purpose"].as_str() {
            key.push_str(&format!("?purpose={purpose}"));
        }
        return vec![(format!("kms:{operation}"), key)];
    }
    if target.starts_with("AmazonSQS.") {
        let queue = body["QueueUrl"]
            .as_str()
            .and_then(|url| names.queues.get(url).copied())
            .map_or_else(
                || format!("unknown queue {}", body["QueueUrl"]),
                str::to_string,
            );
        // SendMessageBatch is authorized by sqs:SendMessage (and likewise for the others).
        let action = operation.trim_end_matches("Batch");
        return vec![(format!("sqs:{action}"), queue)];
    }
    if target == "AWSEvents.PutEvents" {
        return body["Entries"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|entry| {
                let bus = entry["EventBusName"].as_str().unwrap_or("default");
                let resource = if names.event_bus.as_deref() == Some(bus) {
                    "EventBus".to_string()
                } else {
                    format!("unknown event bus {bus}")
                };
                ("events:PutEvents".to_string(), resource)
            })
            .collect();
    }
    if target == "secretsmanager.GetSecretValue" {
        let secret = body["SecretId"].as_str().unwrap_or_default();
        let parameter = names
            .secrets
            .get(secret)
            .map_or_else(|| format!("unknown secret {secret}"), |p| p.to_string());
        return vec![("secretsmanager:GetSecretValue".to_string(), parameter)];
    }
    vec![(format!("unknown:{target}"), String::new())]
}

/// The interceptor: one per test app (it knows that app's resource names).
#[derive(Debug, Clone)]
pub struct IamCheck {
    names: std::sync::Arc<Mutex<Resources>>,
}

impl IamCheck {
    pub fn new() -> Self {
        Self {
            names: Default::default(),
        }
    }

    /// The app's resource names, once they exist.
    pub fn set_resources(&self, resources: Resources) {
        *self.names.lock().unwrap_or_else(|p| p.into_inner()) = resources;
    }
}

impl Default for IamCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl Intercept for IamCheck {
    fn name(&self) -> &'static str {
        "IamCheck"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        let Ok(function) = FUNCTION.try_with(|f| *f) else {
            return Ok(());
        };
        let request = context.request();
        let Some(target) = request.headers().get("x-amz-target") else {
            return Ok(());
        };
        let body: serde_json::Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or_default();
        let names = self.names.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let granted = template_grants()
            .get(function.name())
            .cloned()
            .unwrap_or_default();
        for (action, resource) in required(target, &body, &names) {
            let first = USED.lock().unwrap_or_else(|p| p.into_inner()).insert((
                function.name().to_string(),
                action.clone(),
                resource.clone(),
            ));
            if first {
                record_use(function.name(), &action, &resource);
            }
            assert!(
                allows(&granted, &action, &resource),
                "IAM: function `{}` calls {action} on {resource}, which template.yaml does not grant it",
                function.name()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Resources {
        Resources {
            table: "t1".into(),
            key_id: "k1".into(),
            queues: BTreeMap::from([("http://q/sync".to_string(), "SyncQueue")]),
            secrets: BTreeMap::from([("app/state-key".to_string(), "StateSecretName")]),
            event_bus: Some("bus-1".into()),
        }
    }

    #[test]
    fn each_request_needs_the_actions_iam_checks_for_it() {
        let n = names();
        let query = serde_json::json!({"TableName": "t1", "IndexName": "GSI1"});
        assert_eq!(
            required("DynamoDB_20120810.Query", &query, &n),
            [("dynamodb:Query".to_string(), "Table/index/GSI1".to_string())]
        );
        let counter = serde_json::json!({"TableName": "t1", "Key": {"PK": {"S": "RATE#read#a"}}});
        assert_eq!(
            required("DynamoDB_20120810.UpdateItem", &counter, &n),
            [(
                "dynamodb:UpdateItem".to_string(),
                "Table?leading=RATE#read#a".to_string()
            )]
        );
        let transaction = serde_json::json!({"TransactItems": [
            {"Put": {"TableName": "t1"}}, {"Update": {"TableName": "t1"}}]});
        assert_eq!(
            required("DynamoDB_20120810.TransactWriteItems", &transaction, &n),
            [
                ("dynamodb:PutItem".to_string(), "Table".to_string()),
                ("dynamodb:UpdateItem".to_string(), "Table".to_string())
            ]
        );
        let batch = serde_json::json!({"QueueUrl": "http://q/sync", "Entries": []});
        assert_eq!(
            required("AmazonSQS.SendMessageBatch", &batch, &n),
            [("sqs:SendMessage".to_string(), "SyncQueue".to_string())]
        );
        assert_eq!(
            required("TrentService.Decrypt", &serde_json::json!({}), &n),
            [("kms:Decrypt".to_string(), "TokenKey".to_string())]
        );
        let decrypt =
            serde_json::json!({"KeyId": "k1", "EncryptionContext": {"purpose": "token-set"}});
        assert_eq!(
            required("TrentService.Decrypt", &decrypt, &n),
            [(
                "kms:Decrypt".to_string(),
                "TokenKey?purpose=token-set".to_string()
            )]
        );
        let secret = serde_json::json!({"SecretId": "app/state-key"});
        assert_eq!(
            required("secretsmanager.GetSecretValue", &secret, &n),
            [(
                "secretsmanager:GetSecretValue".to_string(),
                "StateSecretName".to_string()
            )]
        );
        let events =
            serde_json::json!({"Entries": [{"EventBusName": "bus-1"}, {"EventBusName": "other"}]});
        assert_eq!(
            required("AWSEvents.PutEvents", &events, &n),
            [
                ("events:PutEvents".to_string(), "EventBus".to_string()),
                (
                    "events:PutEvents".to_string(),
                    "unknown event bus other".to_string()
                )
            ]
        );
    }

    #[test]
    fn the_template_grants_are_read_and_an_ungranted_call_is_refused() {
        let grants = template_grants();
        let sync = &grants["sync"];
        assert!(allows(sync, "sqs:SendMessage", "SyncQueue"));
        assert!(!allows(sync, "sqs:SendMessage", "RefreshQueue"));
        assert!(!allows(sync, "dynamodb:DeleteItem", "Table"));
        // KMS grants are pinned to their purpose: connect seals verifiers, never token sets.
        let connect = &grants["connect"];
        assert!(allows(
            connect,
            "kms:GenerateDataKey",
            "TokenKey?purpose=pkce-verifier"
        ));
        assert!(!allows(
            connect,
            "kms:GenerateDataKey",
            "TokenKey?purpose=token-set"
        ));
        let disconnect = &grants["disconnect"];
        assert!(!allows(
            disconnect,
            "kms:Decrypt",
            "TokenKey?purpose=pkce-verifier"
        ));
        // Secrets through the managed policies: the state key only where states are issued or
        // checked, the providers' credentials only where a provider's token endpoint is called.
        let read = "secretsmanager:GetSecretValue";
        assert!(allows(connect, read, "StateSecretName"));
        assert!(allows(connect, read, PROVIDER_CREDENTIALS));
        assert!(allows(disconnect, read, PROVIDER_CREDENTIALS));
        assert!(!allows(disconnect, read, "StateSecretName"));
        for function in [
            "providers",
            "list-integrations",
            "sync",
            "refresh-scheduler",
        ] {
            assert!(
                !allows(&grants[function], read, PROVIDER_CREDENTIALS),
                "{function}"
            );
        }
        // The rate limiter's grant writes its counters and nothing else: list-integrations may
        // count a request, never update an integration.
        let list = &grants["list-integrations"];
        let update = "dynamodb:UpdateItem";
        assert!(allows(list, update, "Table?leading=RATE#read#alice"));
        assert!(!allows(list, update, "Table?leading=USER#alice"));
        assert!(!allows(list, update, "Table"));
        assert!(allows(
            &grants["callback"],
            update,
            "Table?leading=USER#alice"
        ));
        assert!(!allows(
            &grants["providers"],
            update,
            "Table?leading=RATE#x"
        ));
        let scheduler = &grants["refresh-scheduler"];
        assert!(allows(scheduler, "dynamodb:Query", "Table/index/GSI1"));
        assert!(!allows(scheduler, "dynamodb:Query", "Table"));
        assert_eq!(
            grants.len(),
            shared::Function::ALL.len(),
            "every function read"
        );
    }
}
