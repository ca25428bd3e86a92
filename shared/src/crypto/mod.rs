//! KMS envelope encryption of tokens and PKCE verifiers.
//!
//! KMS encryption context vs AES-GCM associated data: the KMS context is `{purpose}` only, so one
//! data key can seal many rows and be cached per container (≈0 KMS calls per write in steady
//! state). Each row is bound by the AES-GCM associated data `{purpose, userId, integrationId,
//! provider}`: a ciphertext copied into another row fails its tag check. Binding the row in the
//! KMS context instead would need a KMS call per row, defeating the cache; this is the same split
//! the AWS Encryption SDK's caching materials manager makes.

mod cipher;
mod kms;

pub use cipher::{CacheLimits, Envelope, EnvelopeCipher, RowBinding, SealPurpose};
pub use kms::KmsDataKeys;

use async_trait::async_trait;
use secrecy::SecretBox;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key service failed: {0}")]
    KeyService(String),
    #[error("the key service refused the encrypted data key (wrong key or context)")]
    KeyRefused,
    /// The ciphertext is not for this row, or was altered.
    #[error("the envelope does not decrypt for this row")]
    Undecryptable,
    #[error("unsupported envelope format version {0}")]
    UnsupportedVersion(u8),
    #[error("malformed envelope: {0}")]
    Malformed(&'static str),
}

/// A 256-bit data key in plaintext; zeroed on drop, never printed.
pub type DataKey = SecretBox<[u8; 32]>;

pub struct GeneratedDataKey {
    pub plaintext: DataKey,
    pub encrypted: Vec<u8>,
    pub key_id: String,
}

/// The key service behind the envelopes: KMS in production and against moto.
#[async_trait]
pub trait DataKeySource: Send + Sync {
    async fn generate_data_key(
        &self,
        purpose: SealPurpose,
    ) -> Result<GeneratedDataKey, CryptoError>;
    /// `key_id`: the key the envelope says sealed it (Decrypt names it, so a ciphertext of
    /// another key is refused rather than decrypted under whatever key it names).
    async fn decrypt_data_key(
        &self,
        key_id: &str,
        encrypted: &[u8],
        purpose: SealPurpose,
    ) -> Result<DataKey, CryptoError>;
}

#[expect(
    clippy::expect_used,
    reason = "the OS RNG only fails on a broken platform; nothing sensible can continue without it"
)]
pub fn fill_random(buf: &mut [u8]) {
    getrandom::fill(buf).expect("the operating system's random number generator failed");
}
