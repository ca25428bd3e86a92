//! Identifiers that can only be built by parsing, so a key built from them is always well formed.

use std::fmt;

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidId(pub &'static str);

/// The caller's user id: the JWT `sub`, as the application's identity provider issued it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        // Characters, not bytes: what the JSON Schema `maxLength` of docs/openapi.yaml counts.
        if raw.is_empty() || raw.chars().count() > 256 || raw.chars().any(char::is_control) {
            return Err(InvalidId("a user id is 1-256 printable characters"));
        }
        Ok(Self(raw.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An integration id: 32 hex characters derived from (user, provider, external account), so
/// connecting the same account again updates the same integration instead of adding a duplicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IntegrationId(String);

impl IntegrationId {
    pub fn derive(user: &UserId, provider: &ProviderId, external_account_id: &str) -> Self {
        let mut hash = Sha256::new();
        for part in [user.as_str(), provider.as_str(), external_account_id] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part.as_bytes());
        }
        let digest = hash.finalize();
        Self(hex(&digest[..16]))
    }

    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        if raw.len() == 32
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidId(
                "an integration id is 32 lower-case hex characters",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for IntegrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A provider id as the catalogue names it (`google`, `demo`…).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProviderId(String);

impl ProviderId {
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let ok = !raw.is_empty()
            && raw.len() <= 64
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidId("a provider id is 1-64 of [a-z0-9_-]"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// `GOOGLE` for `google`: the prefix of its credential variables.
    pub fn env_prefix(&self) -> String {
        self.0.to_ascii_uppercase().replace('-', "_")
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A sync job id: 26-64 of [0-9a-z]. Ours are 32 hex characters ([`JobId::new`]); the wider
/// pattern is what the API documents, so ids stay opaque to clients.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobId(String);

impl JobId {
    #[expect(
        clippy::new_without_default,
        reason = "each call makes a new random id"
    )]
    pub fn new() -> Self {
        Self(random_id())
    }
    pub fn parse(raw: &str) -> Result<Self, InvalidId> {
        let ok = (26..=64).contains(&raw.len())
            && raw
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
        if ok {
            Ok(Self(raw.to_string()))
        } else {
            Err(InvalidId("a job id is 26-64 of [0-9a-z]"))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Ids serialize as their plain string (API views, audit entries).
macro_rules! serialize_as_str {
    ($($id:ty),+) => {$(
        impl serde::Serialize for $id {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    )+};
}
serialize_as_str!(UserId, IntegrationId, ProviderId, JobId);

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 128 random bits as hex: audit entry suffixes and similar ids that only need to be unique.
pub fn random_id() -> String {
    let mut bytes = [0u8; 16];
    crate::crypto::fill_random(&mut bytes);
    hex(&bytes)
}

#[cfg(test)]
#[path = "tests/ids.rs"]
mod tests;
