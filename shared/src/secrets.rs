//! Secrets read at run time: the OAuth-state MAC key and each provider's client credentials live
//! in AWS Secrets Manager, and a function reads only the ones it uses, at first use. Nothing
//! secret is in any function's environment (which `lambda:GetFunctionConfiguration` shows), and a
//! rotated secret takes effect once the cached copy is older than the cache time, with no
//! redeploy. One narrow port, its Secrets Manager adapter (tested against moto's, the real wire
//! protocol), and the cache in front of it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::catalogue::ClientCredentials;
use crate::state::StateKey;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Secrets Manager unreachable, throttling or refusing: worth a retry.
    #[error("the secret store is unavailable: {0}")]
    Service(String),
    /// The secret exists but its value is not what the service needs (a deployment mistake).
    #[error("secret `{id}`: {why}")]
    Unusable { id: String, why: String },
}

impl SecretError {
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Service(_))
    }
}

/// Where secret values come from: the secret's name or ARN in, its `SecretString` out.
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn secret_string(&self, id: &str) -> Result<SecretString, SecretError>;
}

/// The Secrets Manager adapter (`secretsmanager:GetSecretValue`, the `AWSCURRENT` version).
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    pub fn new(client: aws_sdk_secretsmanager::Client) -> Self {
        Self { client }
    }
}

#[async_trait]
impl SecretSource for SecretsManager {
    async fn secret_string(&self, id: &str) -> Result<SecretString, SecretError> {
        let answer = self
            .client
            .get_secret_value()
            .secret_id(id)
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception())
                {
                    // A name that is not a secret: the deployment's to fix, not a retry's.
                    return SecretError::Unusable {
                        id: id.to_string(),
                        why: "no such secret".into(),
                    };
                }
                // The SDK's error text names the secret and the service's reason, never a value.
                SecretError::Service(
                    aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string(),
                )
            })?;
        answer
            .secret_string
            .map(SecretString::from)
            .ok_or_else(|| SecretError::Unusable {
                id: id.to_string(),
                why: "holds binary data, not a SecretString".into(),
            })
    }
}

struct Cached {
    value: SecretString,
    read_at: Instant,
}

/// Secret values reused for `cache_time`, then read again. When the store cannot be reached,
/// the last value read is used (and logged) rather than failing every refresh of the container:
/// rotation is delayed by an outage, service is not.
pub struct SecretCache {
    source: Arc<dyn SecretSource>,
    cache_time: Duration,
    entries: tokio::sync::Mutex<HashMap<String, Cached>>,
}

/// The JSON a provider's credentials secret holds.
#[derive(Deserialize)]
struct CredentialsJson {
    client_id: String,
    client_secret: SecretString,
}

impl SecretCache {
    pub fn new(source: Arc<dyn SecretSource>, cache_time: Duration) -> Self {
        Self {
            source,
            cache_time,
            entries: Default::default(),
        }
    }

    /// The secret's value, from the cache while it is fresh.
    pub async fn value(&self, id: &str) -> Result<SecretString, SecretError> {
        // Held across the read: concurrent callers of one container wait for one read instead
        // of each calling Secrets Manager.
        let mut entries = self.entries.lock().await;
        if let Some(cached) = entries.get(id)
            && cached.read_at.elapsed() < self.cache_time
        {
            return Ok(cached.value.clone());
        }
        match self.source.secret_string(id).await {
            Ok(value) => {
                entries.insert(
                    id.to_string(),
                    Cached {
                        value: value.clone(),
                        read_at: Instant::now(),
                    },
                );
                Ok(value)
            }
            Err(error) if error.is_transient() => match entries.get(id) {
                Some(stale) => {
                    tracing::warn!(secret = id, %error, "secret store unavailable: using the last value read");
                    Ok(stale.value.clone())
                }
                None => Err(error),
            },
            Err(error) => Err(error),
        }
    }

    /// A provider's `{"client_id": …, "client_secret": …}`.
    pub async fn client_credentials(&self, id: &str) -> Result<ClientCredentials, SecretError> {
        let value = self.value(id).await?;
        let parsed: CredentialsJson = serde_json::from_str(value.expose_secret()).map_err(|e| {
            // serde_json quotes a mistyped value ("invalid type: string \"…\""), so only
            // a missing field, which names just the field, is passed on.
            let text = e.to_string();
            let detail = match text.split_once(" at line") {
                Some((missing, _)) if missing.starts_with("missing field") => missing,
                _ => "not that JSON object",
            };
            SecretError::Unusable {
                id: id.to_string(),
                why: format!("expected {{\"client_id\": …, \"client_secret\": …}}: {detail}"),
            }
        })?;
        if parsed.client_id.is_empty() || parsed.client_secret.expose_secret().is_empty() {
            return Err(SecretError::Unusable {
                id: id.to_string(),
                why: "client_id and client_secret must not be empty".into(),
            });
        }
        Ok(ClientCredentials {
            client_id: parsed.client_id,
            client_secret: parsed.client_secret,
        })
    }

    /// The OAuth-state MAC key: the secret's whole `SecretString` (at least 32 bytes).
    pub async fn state_key(&self, id: &str) -> Result<StateKey, SecretError> {
        let value = self.value(id).await?;
        StateKey::new(value.expose_secret().as_bytes().to_vec()).map_err(|e| {
            SecretError::Unusable {
                id: id.to_string(),
                why: e.to_string(),
            }
        })
    }
}

#[cfg(test)]
#[path = "tests/secrets.rs"]
mod tests;
