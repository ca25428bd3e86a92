use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;

use super::*;
use crate::crypto::GeneratedDataKey;

/// A key source that "wraps" keys by XOR with a fixed mask and counts calls: enough to test
/// the cipher and caches; the KMS adapter itself is tested against moto.
#[derive(Default)]
struct XorKeys {
    generated: AtomicUsize,
    decrypted: AtomicUsize,
}

#[async_trait]
impl DataKeySource for XorKeys {
    async fn generate_data_key(
        &self,
        purpose: SealPurpose,
    ) -> Result<GeneratedDataKey, CryptoError> {
        let n = self.generated.fetch_add(1, Ordering::SeqCst) as u8;
        let plain = [n.wrapping_add(purpose as u8); 32];
        Ok(GeneratedDataKey {
            plaintext: data_key_from(&plain)?,
            encrypted: plain.iter().map(|b| b ^ 0x5a).collect(),
            key_id: "test".into(),
        })
    }
    async fn decrypt_data_key(
        &self,
        _: &str,
        encrypted: &[u8],
        _: SealPurpose,
    ) -> Result<DataKey, CryptoError> {
        self.decrypted.fetch_add(1, Ordering::SeqCst);
        data_key_from(&encrypted.iter().map(|b| b ^ 0x5a).collect::<Vec<_>>())
    }
}

fn row<'a>(user: &'a str, id: &'a str) -> RowBinding<'a> {
    RowBinding {
        user_id: user,
        record_id: id,
        provider: "demo",
    }
}

#[tokio::test]
async fn sealed_value_opens_only_for_its_own_row_and_purpose() {
    let cipher = EnvelopeCipher::new(Arc::new(XorKeys::default()), CacheLimits::default());
    let sealed = cipher
        .seal(SealPurpose::TokenSet, &row("alice", "i1"), b"secret")
        .await
        .unwrap();
    assert_eq!(
        &**cipher
            .open(SealPurpose::TokenSet, &row("alice", "i1"), &sealed)
            .await
            .unwrap(),
        b"secret"
    );
    for (purpose, other) in [
        (SealPurpose::TokenSet, row("bob", "i1")),
        (SealPurpose::TokenSet, row("alice", "i2")),
        (SealPurpose::PkceVerifier, row("alice", "i1")),
    ] {
        assert!(matches!(
            cipher.open(purpose, &other, &sealed).await,
            Err(CryptoError::Undecryptable)
        ));
    }
    let mut altered = sealed.clone();
    altered.ciphertext[0] ^= 1;
    assert!(matches!(
        cipher
            .open(SealPurpose::TokenSet, &row("alice", "i1"), &altered)
            .await,
        Err(CryptoError::Undecryptable)
    ));
}

#[tokio::test]
async fn data_keys_are_reused_within_bounds() {
    let keys = Arc::new(XorKeys::default());
    let limits = CacheLimits {
        max_uses: 3,
        ..CacheLimits::default()
    };
    let cipher = EnvelopeCipher::new(keys.clone(), limits);
    let mut sealed = Vec::new();
    for i in 0..7 {
        sealed.push(
            cipher
                .seal(SealPurpose::TokenSet, &row("alice", &i.to_string()), b"x")
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        keys.generated.load(Ordering::SeqCst),
        3,
        "7 seals at 3 uses per key"
    );
    for (i, s) in sealed.iter().enumerate() {
        cipher
            .open(SealPurpose::TokenSet, &row("alice", &i.to_string()), s)
            .await
            .unwrap();
    }
    assert_eq!(
        keys.decrypted.load(Ordering::SeqCst),
        0,
        "keys this container generated are already cached"
    );
    let fresh = EnvelopeCipher::new(keys.clone(), limits);
    for (i, s) in sealed.iter().enumerate() {
        fresh
            .open(SealPurpose::TokenSet, &row("alice", &i.to_string()), s)
            .await
            .unwrap();
    }
    assert_eq!(
        keys.decrypted.load(Ordering::SeqCst),
        3,
        "one decrypt per distinct data key"
    );
}
