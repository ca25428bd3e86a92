//! The tokens an integration holds, and their plaintext form inside the sealed envelope.

use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// The token set sealed in an integration's envelope. Serialized only into the sealed plaintext.
pub struct TokenSet {
    pub access_token: SecretString,
    pub refresh_token: Option<SecretString>,
    pub token_type: String,
    /// Epoch seconds; None for tokens that do not expire.
    pub expires_at: Option<i64>,
    /// When the provider issued them (epoch seconds); None in envelopes sealed before it was kept.
    pub issued_at: Option<i64>,
    pub scopes: Vec<String>,
}

/// The sealed plaintext's shape (format version 1 of the token envelope).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SealedTokenSet<T> {
    access_token: T,
    #[serde(default)]
    refresh_token: Option<T>,
    token_type: String,
    #[serde(default)]
    expires_at: Option<i64>,
    #[serde(default)]
    issued_at: Option<i64>,
    #[serde(default)]
    scopes: Vec<String>,
}

impl TokenSet {
    pub fn to_plaintext(&self) -> Zeroizing<Vec<u8>> {
        let sealed = SealedTokenSet {
            access_token: self.access_token.expose_secret(),
            refresh_token: self.refresh_token.as_ref().map(|r| r.expose_secret()),
            token_type: self.token_type.clone(),
            expires_at: self.expires_at,
            issued_at: self.issued_at,
            scopes: self.scopes.clone(),
        };
        // Serializing plain strings and numbers cannot fail.
        Zeroizing::new(serde_json::to_vec(&sealed).unwrap_or_default())
    }

    pub fn from_plaintext(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        let sealed: SealedTokenSet<String> = serde_json::from_slice(bytes)?;
        Ok(Self {
            access_token: SecretString::from(sealed.access_token),
            refresh_token: sealed.refresh_token.map(SecretString::from),
            token_type: sealed.token_type,
            expires_at: sealed.expires_at,
            issued_at: sealed.issued_at,
            scopes: sealed.scopes,
        })
    }
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("token_type", &self.token_type)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}
