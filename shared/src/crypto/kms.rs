use async_trait::async_trait;
use aws_sdk_kms::Client;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;

use super::cipher::{SealPurpose, data_key_from};
use super::{CryptoError, DataKey, DataKeySource, GeneratedDataKey};

/// Data keys from AWS KMS under the deployment's key.
pub struct KmsDataKeys {
    client: Client,
    key_id: String,
}

impl KmsDataKeys {
    pub fn new(client: Client, key_id: impl Into<String>) -> Self {
        Self {
            client,
            key_id: key_id.into(),
        }
    }
}

const CONTEXT_KEY: &str = "purpose";

#[async_trait]
impl DataKeySource for KmsDataKeys {
    async fn generate_data_key(
        &self,
        purpose: SealPurpose,
    ) -> Result<GeneratedDataKey, CryptoError> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, purpose.as_str())
            .send()
            .await
            .map_err(|e| {
                CryptoError::KeyService(aws_sdk_kms::error::DisplayErrorContext(e).to_string())
            })?;
        let plaintext = out
            .plaintext
            .ok_or(CryptoError::KeyService("no plaintext key returned".into()))?;
        let encrypted = out
            .ciphertext_blob
            .ok_or(CryptoError::KeyService("no encrypted key returned".into()))?;
        Ok(GeneratedDataKey {
            plaintext: data_key_from(plaintext.as_ref())?,
            encrypted: encrypted.into_inner(),
            key_id: out.key_id.unwrap_or_else(|| self.key_id.clone()),
        })
    }

    async fn decrypt_data_key(
        &self,
        key_id: &str,
        encrypted: &[u8],
        purpose: SealPurpose,
    ) -> Result<DataKey, CryptoError> {
        let out = self
            .client
            .decrypt()
            .key_id(key_id)
            .ciphertext_blob(Blob::new(encrypted))
            .encryption_context(CONTEXT_KEY, purpose.as_str())
            .send()
            .await
            .map_err(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_invalid_ciphertext_exception())
                {
                    CryptoError::KeyRefused
                } else {
                    CryptoError::KeyService(aws_sdk_kms::error::DisplayErrorContext(e).to_string())
                }
            })?;
        let plaintext = out
            .plaintext
            .ok_or(CryptoError::KeyService("no plaintext key returned".into()))?;
        data_key_from(plaintext.as_ref())
    }
}
