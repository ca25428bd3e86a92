//! The OAuth `state` parameter: 256 random bits, an expiry and a MAC over both and the provider.
//! A forged, altered, expired or other-provider state is refused before any database read; the
//! stored row (deleted on first use) makes it single use and binds it to the user.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;

use crate::crypto::fill_random;
use crate::ids::{ProviderId, hex};

const VERSION: u8 = 1;
const ID_LEN: usize = 32;
const MAC_LEN: usize = 32;
const PAYLOAD_LEN: usize = 1 + ID_LEN + 8;

/// The deployment's MAC key for states; at least 32 bytes.
pub struct StateKey(SecretBox<Vec<u8>>);

#[derive(Debug, thiserror::Error)]
#[error("the state secret must be at least 32 bytes")]
pub struct WeakStateKey;

impl StateKey {
    pub fn new(secret: Vec<u8>) -> Result<Self, WeakStateKey> {
        if secret.len() < 32 {
            return Err(WeakStateKey);
        }
        Ok(Self(SecretBox::new(Box::new(secret))))
    }

    #[expect(clippy::expect_used, reason = "HMAC accepts keys of any length")]
    fn mac(&self, payload: &[u8], provider: &ProviderId) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret())
            .expect("HMAC accepts keys of any length");
        mac.update(b"oauth-state\0");
        mac.update(payload);
        mac.update(provider.as_str().as_bytes());
        mac
    }

    /// A new state for `provider` that expires at `expires_at` (epoch seconds).
    pub fn issue(&self, provider: &ProviderId, expires_at: i64) -> IssuedState {
        let mut payload = [0u8; PAYLOAD_LEN];
        payload[0] = VERSION;
        fill_random(&mut payload[1..1 + ID_LEN]);
        payload[1 + ID_LEN..].copy_from_slice(&expires_at.to_be_bytes());
        let tag = self.mac(&payload, provider).finalize().into_bytes();
        let mut token = payload.to_vec();
        token.extend_from_slice(&tag);
        IssuedState {
            id: StateId(hex(&payload[1..1 + ID_LEN])),
            value: URL_SAFE_NO_PAD.encode(token),
        }
    }

    /// Checks MAC (in constant time), provider and expiry; returns the state's id.
    pub fn verify(
        &self,
        value: &str,
        provider: &ProviderId,
        now: i64,
    ) -> Result<StateId, StateRejected> {
        if value.len() > 200 {
            return Err(StateRejected::Malformed);
        }
        let raw = URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| StateRejected::Malformed)?;
        if raw.len() != PAYLOAD_LEN + MAC_LEN || raw[0] != VERSION {
            return Err(StateRejected::Malformed);
        }
        let (payload, tag) = raw.split_at(PAYLOAD_LEN);
        self.mac(payload, provider)
            .verify_slice(tag)
            .map_err(|_| StateRejected::BadMac)?;
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&payload[1 + ID_LEN..]);
        if i64::from_be_bytes(exp) < now {
            return Err(StateRejected::Expired);
        }
        Ok(StateId(hex(&payload[1..1 + ID_LEN])))
    }
}

#[derive(Debug)]
pub struct IssuedState {
    pub id: StateId,
    /// What goes in the authorization URL.
    pub value: String,
}

/// The stored row's id (hex of the random part); not secret on its own: without the MAC it is useless.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateId(pub String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StateRejected {
    #[error("malformed state")]
    Malformed,
    /// Forged, altered, or presented on another provider's callback.
    #[error("state MAC does not verify")]
    BadMac,
    #[error("state expired")]
    Expired,
}

impl StateRejected {
    pub fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadMac => "bad_mac",
            Self::Expired => "expired",
        }
    }
}

#[cfg(test)]
#[path = "tests/state.rs"]
mod tests;
