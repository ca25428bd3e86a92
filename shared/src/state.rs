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

    fn mac(&self, payload: &[u8], provider: &ProviderId) -> Hmac<Sha256> {
        // new_from_slice accepts any key length for HMAC.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| unreachable!()); // allow-panic
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
mod tests {
    use super::*;

    fn key() -> StateKey {
        StateKey::new(vec![7; 32]).unwrap()
    }

    #[test]
    fn a_fresh_state_verifies_for_its_provider_only() {
        let demo = ProviderId::parse("demo").unwrap();
        let google = ProviderId::parse("google").unwrap();
        let issued = key().issue(&demo, 1_000);
        assert_eq!(key().verify(&issued.value, &demo, 999).unwrap(), issued.id);
        assert_eq!(
            key().verify(&issued.value, &google, 999),
            Err(StateRejected::BadMac)
        );
        assert_eq!(
            key().verify(&issued.value, &demo, 1_001),
            Err(StateRejected::Expired)
        );
        let other_key = StateKey::new(vec![8; 32]).unwrap();
        assert_eq!(
            other_key.verify(&issued.value, &demo, 999),
            Err(StateRejected::BadMac)
        );
    }

    #[test]
    fn every_single_character_change_is_refused() {
        let demo = ProviderId::parse("demo").unwrap();
        let issued = key().issue(&demo, 1_000);
        for i in 0..issued.value.len() {
            let mut altered: Vec<char> = issued.value.chars().collect();
            altered[i] = if altered[i] == 'A' { 'B' } else { 'A' };
            let altered: String = altered.into_iter().collect();
            assert!(key().verify(&altered, &demo, 0).is_err(), "position {i}");
        }
        assert_eq!(
            key().verify("forged-state-value", &demo, 0),
            Err(StateRejected::Malformed)
        );
        assert!(StateKey::new(vec![1; 31]).is_err());
    }
}
