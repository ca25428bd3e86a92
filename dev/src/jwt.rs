//! Dev JWTs: what API Gateway's JWT authorizer checks in AWS (signature, `exp`, issuer,
//! audience), done by the dev gateway with a local HS256 key. Loopback development only.

use std::collections::HashMap;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use serde::{Deserialize, Serialize};

pub const DEV_ISSUER: &str = "http://127.0.0.1/dev-issuer";
pub const DEV_AUDIENCE: &str = "oauth-connector-dev";
/// Backend routes are IAM-authorized in AWS; locally, a dev JWT for this audience stands in for
/// the SigV4 signature, and a user's token (other audience) never passes there.
pub const DEV_BACKEND_AUDIENCE: &str = "oauth-connector-dev-backend";
/// Dev-only signing key; `DEV_JWT_SECRET` overrides it. Never used outside `make dev` and tests.
const DEFAULT_DEV_SECRET: &str = "dev-only-jwt-secret-not-for-production-use";

pub fn dev_secret() -> String {
    std::env::var("DEV_JWT_SECRET")
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| DEFAULT_DEV_SECRET.to_string())
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iss: String,
    aud: String,
    exp: u64,
    iat: u64,
}

pub fn issue(secret: &str, user: &str, ttl_secs: u64) -> anyhow::Result<String> {
    issue_for(secret, user, DEV_AUDIENCE, ttl_secs)
}

pub fn issue_for(
    secret: &str,
    subject: &str,
    audience: &str,
    ttl_secs: u64,
) -> anyhow::Result<String> {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = Claims {
        sub: subject.to_string(),
        iss: DEV_ISSUER.into(),
        aud: audience.into(),
        iat: now,
        exp: now + ttl_secs,
    };
    Ok(encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )?)
}

/// The claims as API Gateway hands them to Lambda (`requestContext.authorizer.jwt.claims`: strings).
pub fn verify(secret: &str, token: &str) -> Option<HashMap<String, String>> {
    verify_for(secret, token, DEV_AUDIENCE)
}

pub fn verify_for(secret: &str, token: &str, audience: &str) -> Option<HashMap<String, String>> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[DEV_ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    let data = decode::<Claims>(
        token,
        &DecodingKey::from_secret(secret.as_bytes()),
        &validation,
    )
    .ok()?;
    let c = data.claims;
    Some(HashMap::from([
        ("sub".to_string(), c.sub),
        ("iss".to_string(), c.iss),
        ("aud".to_string(), c.aud),
        ("exp".to_string(), c.exp.to_string()),
        ("iat".to_string(), c.iat.to_string()),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_the_key_and_before_expiry() {
        let token = issue("k1-0123456789abcdef0123456789abcdef", "alice", 60).unwrap();
        assert_eq!(
            verify("k1-0123456789abcdef0123456789abcdef", &token).unwrap()["sub"],
            "alice"
        );
        assert!(verify("k2-0123456789abcdef0123456789abcdef", &token).is_none());
        let mut tampered = token.clone();
        tampered.pop();
        assert!(verify("k1-0123456789abcdef0123456789abcdef", &tampered).is_none());
        let now = jsonwebtoken::get_current_timestamp();
        let expired = Claims {
            sub: "a".into(),
            iss: DEV_ISSUER.into(),
            aud: DEV_AUDIENCE.into(),
            iat: now - 600,
            exp: now - 300,
        };
        let expired = encode(
            &Header::new(Algorithm::HS256),
            &expired,
            &EncodingKey::from_secret(b"k1-0123456789abcdef0123456789abcdef"),
        )
        .unwrap();
        assert!(verify("k1-0123456789abcdef0123456789abcdef", &expired).is_none());
        let backend = issue_for(
            "k1-0123456789abcdef0123456789abcdef",
            "app",
            DEV_BACKEND_AUDIENCE,
            60,
        )
        .unwrap();
        assert!(verify("k1-0123456789abcdef0123456789abcdef", &backend).is_none());
        assert!(
            verify_for(
                "k1-0123456789abcdef0123456789abcdef",
                &token,
                DEV_BACKEND_AUDIENCE
            )
            .is_none()
        );
    }
}
