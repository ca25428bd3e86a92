use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use lru::LruCache;
use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

use super::{CryptoError, DataKey, DataKeySource, fill_random};

const FORMAT_VERSION: u8 = 1;
const NONCE_LEN: usize = 12;

/// What a sealed value is for; part of the KMS encryption context and of the associated data,
/// so a token envelope can never be opened as a verifier or the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SealPurpose {
    TokenSet,
    PkceVerifier,
}

impl SealPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenSet => "token-set",
            Self::PkceVerifier => "pkce-verifier",
        }
    }
}

/// The row a sealed value belongs to: its associated data.
#[derive(Debug, Clone)]
pub struct RowBinding<'a> {
    pub user_id: &'a str,
    /// The integration id for token sets, the state id for PKCE verifiers.
    pub record_id: &'a str,
    pub provider: &'a str,
}

impl RowBinding<'_> {
    fn associated_data(&self, purpose: SealPurpose) -> Vec<u8> {
        // Length-prefixed fields: no two different bindings serialize alike.
        let mut aad = vec![FORMAT_VERSION];
        for part in [
            purpose.as_str(),
            self.user_id,
            self.record_id,
            self.provider,
        ] {
            aad.extend_from_slice(&(part.len() as u32).to_be_bytes());
            aad.extend_from_slice(part.as_bytes());
        }
        aad
    }
}

/// A sealed value as stored: encrypted data key, key id, nonce, ciphertext, format version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub version: u8,
    pub key_id: String,
    pub encrypted_data_key: Vec<u8>,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

/// Bounds on the data-key caches.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    /// A generated data key seals at most this many values…
    pub max_uses: u32,
    /// …and for at most this long.
    pub max_age: Duration,
    /// Decrypted data keys kept, by encrypted-key bytes.
    pub decrypted_capacity: usize,
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self {
            max_uses: 10_000,
            max_age: Duration::from_secs(300),
            decrypted_capacity: 1_000,
        }
    }
}

struct CurrentKey {
    key: Arc<DataKey>,
    encrypted: Vec<u8>,
    key_id: String,
    created: Instant,
    uses: u32,
}

struct CachedPlainKey {
    key: Arc<DataKey>,
    created: Instant,
}

pub struct EnvelopeCipher {
    source: Arc<dyn DataKeySource>,
    limits: CacheLimits,
    current: Mutex<HashMap<SealPurpose, CurrentKey>>,
    /// By (purpose, encrypted key): a hit stands for a KMS decrypt under the same encryption context.
    decrypted: Mutex<LruCache<(SealPurpose, Vec<u8>), CachedPlainKey>>,
}

impl EnvelopeCipher {
    pub fn new(source: Arc<dyn DataKeySource>, limits: CacheLimits) -> Self {
        let capacity =
            NonZeroUsize::new(limits.decrypted_capacity.max(1)).unwrap_or(NonZeroUsize::MIN);
        Self {
            source,
            limits,
            current: Mutex::new(HashMap::new()),
            decrypted: Mutex::new(LruCache::new(capacity)),
        }
    }

    pub async fn seal(
        &self,
        purpose: SealPurpose,
        row: &RowBinding<'_>,
        plaintext: &[u8],
    ) -> Result<Envelope, CryptoError> {
        let (key, encrypted_data_key, key_id) = self.key_for_sealing(purpose).await?;
        let cipher = Aes256Gcm::new_from_slice(key.expose_secret())
            .map_err(|_| CryptoError::Malformed("data key length"))?;
        let mut nonce = [0u8; NONCE_LEN];
        fill_random(&mut nonce);
        let aad = row.associated_data(purpose);
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CryptoError::Malformed("encryption failed"))?;
        Ok(Envelope {
            version: FORMAT_VERSION,
            key_id,
            encrypted_data_key,
            nonce: nonce.to_vec(),
            ciphertext,
        })
    }

    pub async fn open(
        &self,
        purpose: SealPurpose,
        row: &RowBinding<'_>,
        envelope: &Envelope,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if envelope.version != FORMAT_VERSION {
            return Err(CryptoError::UnsupportedVersion(envelope.version));
        }
        if envelope.nonce.len() != NONCE_LEN {
            return Err(CryptoError::Malformed("nonce length"));
        }
        let key = self
            .key_for_opening(purpose, &envelope.key_id, &envelope.encrypted_data_key)
            .await?;
        let cipher = Aes256Gcm::new_from_slice(key.expose_secret())
            .map_err(|_| CryptoError::Malformed("data key length"))?;
        let aad = row.associated_data(purpose);
        cipher
            .decrypt(
                Nonce::from_slice(&envelope.nonce),
                Payload {
                    msg: &envelope.ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Undecryptable)
    }

    async fn key_for_sealing(
        &self,
        purpose: SealPurpose,
    ) -> Result<(Arc<DataKey>, Vec<u8>, String), CryptoError> {
        {
            let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(k) = current.get_mut(&purpose)
                && k.uses < self.limits.max_uses
                && k.created.elapsed() < self.limits.max_age
            {
                k.uses += 1;
                return Ok((k.key.clone(), k.encrypted.clone(), k.key_id.clone()));
            }
        }
        // Two concurrent cold writers may both generate a key; both keys are valid, one is cached.
        let generated = self.source.generate_data_key(purpose).await?;
        let key = Arc::new(generated.plaintext);
        let now = Instant::now();
        self.decrypted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(
                (purpose, generated.encrypted.clone()),
                CachedPlainKey {
                    key: key.clone(),
                    created: now,
                },
            );
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                purpose,
                CurrentKey {
                    key: key.clone(),
                    encrypted: generated.encrypted.clone(),
                    key_id: generated.key_id.clone(),
                    created: now,
                    uses: 1,
                },
            );
        Ok((key, generated.encrypted, generated.key_id))
    }

    async fn key_for_opening(
        &self,
        purpose: SealPurpose,
        key_id: &str,
        encrypted: &[u8],
    ) -> Result<Arc<DataKey>, CryptoError> {
        {
            let mut cache = self.decrypted.lock().unwrap_or_else(|p| p.into_inner());
            let cache_key = (purpose, encrypted.to_vec());
            match cache.get(&cache_key) {
                Some(k) if k.created.elapsed() < self.limits.max_age * 3 => {
                    return Ok(k.key.clone());
                }
                Some(_) => {
                    cache.pop(&cache_key);
                }
                None => {}
            }
        }
        let key = Arc::new(
            self.source
                .decrypt_data_key(key_id, encrypted, purpose)
                .await?,
        );
        self.decrypted
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(
                (purpose, encrypted.to_vec()),
                CachedPlainKey {
                    key: key.clone(),
                    created: Instant::now(),
                },
            );
        Ok(key)
    }
}

/// A data key from raw bytes (the KMS adapter and tests).
pub fn data_key_from(bytes: &[u8]) -> Result<DataKey, CryptoError> {
    let array: [u8; 32] = bytes
        .try_into()
        .map_err(|_| CryptoError::Malformed("data key length"))?;
    Ok(SecretBox::new(Box::new(array)))
}

#[cfg(test)]
#[path = "tests/cipher.rs"]
mod tests;
