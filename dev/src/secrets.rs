//! What an operator does before `sam deploy` (README, "Deploy"), done on moto: the secret
//! values go into Secrets Manager, and the functions' environment only names them, as
//! template.yaml does. `make dev` and the tests start the service this way, so the code path
//! that reads secrets at run time is the one that runs here.

use anyhow::Context;

/// Variables that hold a secret value, and the variable naming its secret that replaces them.
/// `<ID>_CLIENT_ID` + `<ID>_CLIENT_SECRET` → `<ID>_CREDENTIALS_SECRET` (one JSON secret), and
/// `STATE_SECRET` → `STATE_KEY_SECRET`.
pub fn is_secret_value(name: &str) -> bool {
    name == "STATE_SECRET" || name.ends_with("_CLIENT_ID") || name.ends_with("_CLIENT_SECRET")
}

/// Stores the secret values among `vars` as Secrets Manager secrets named `{namespace}/…`
/// (created, or given a new version when they exist: a rotation) and returns the variables
/// that name them. Values of other variables are not touched or returned.
pub async fn store_secrets(
    aws: &aws_config::SdkConfig,
    namespace: &str,
    vars: &[(String, String)],
) -> anyhow::Result<Vec<(String, String)>> {
    let value = |name: &str| {
        vars.iter()
            .rev()
            .find(|(n, v)| n == name && !v.is_empty())
            .map(|(_, v)| v.clone())
    };
    let mut named = Vec::new();
    if let Some(state) = value("STATE_SECRET") {
        let id = format!("{namespace}/state-key");
        put_secret(aws, &id, &state).await?;
        named.push(("STATE_KEY_SECRET".to_string(), id));
    }
    for (name, _) in vars {
        let Some(prefix) = name.strip_suffix("_CLIENT_ID") else {
            continue;
        };
        let variable = format!("{prefix}_CREDENTIALS_SECRET");
        let (Some(client_id), Some(client_secret)) =
            (value(name), value(&format!("{prefix}_CLIENT_SECRET")))
        else {
            continue;
        };
        if named.iter().any(|(n, _)| *n == variable) {
            continue;
        }
        let id = format!("{namespace}/{}", prefix.to_lowercase());
        let json = serde_json::json!({ "client_id": client_id, "client_secret": client_secret });
        put_secret(aws, &id, &json.to_string()).await?;
        named.push((variable, id));
    }
    Ok(named)
}

/// The secret values among the variables `names` (read with `lookup`) stored as secrets; the
/// variables that name them. Used with [`environment`].
pub async fn store_secret_values(
    aws: &aws_config::SdkConfig,
    namespace: &str,
    names: impl IntoIterator<Item = String>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Vec<(String, String)>> {
    let values: Vec<(String, String)> = names
        .into_iter()
        .filter(|name| is_secret_value(name))
        .filter_map(|name| lookup(&name).map(|value| (name, value)))
        .collect();
    store_secrets(aws, namespace, &values).await
}

/// The environment a function sees in AWS: `lookup`'s, without any secret value, with the
/// variables in `named` that name the secrets instead.
pub fn environment<'a>(
    named: &'a [(String, String)],
    lookup: impl Fn(&str) -> Option<String> + 'a,
) -> impl Fn(&str) -> Option<String> + 'a {
    move |name: &str| {
        if is_secret_value(name) {
            return None;
        }
        named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| lookup(name))
    }
}

/// Creates the secret, or puts a new current version of it (as a rotation does).
pub async fn put_secret(aws: &aws_config::SdkConfig, id: &str, value: &str) -> anyhow::Result<()> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    let created = client
        .create_secret()
        .name(id)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            client
                .put_secret_value()
                .secret_id(id)
                .secret_string(value)
                .send()
                .await
                .with_context(|| format!("putting a new version of secret {id}"))?;
            Ok(())
        }
        Err(e) => Err(e).with_context(|| format!("creating secret {id}")),
    }
}
