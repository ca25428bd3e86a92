//! A provider's answer read whole, the same way for every calendar and contacts call: the
//! request sent with the bearer token, then its status, the `Retry-After` and
//! `WWW-Authenticate` it sent, and its body up to a limit.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::body::{BodyError, read_capped};

pub(super) struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// `WWW-Authenticate`: RFC 6750 names a missing scope there (`insufficient_scope`).
    pub challenge: String,
    pub body: Vec<u8>,
}

#[derive(Debug)]
pub(super) enum AnswerError {
    /// Not sent, or its body not read: worth another try.
    Unavailable(String),
    /// Larger than the limit: no retry will change it.
    TooLarge(String),
}

/// Sends `call` with the bearer token, asking for JSON, and reads the answer.
pub(super) async fn send(
    call: reqwest::RequestBuilder,
    token: &SecretString,
    limit: usize,
) -> Result<Answer, AnswerError> {
    let response = call
        .bearer_auth(token.expose_secret())
        .header(reqwest::header::ACCEPT, "application/json")
        .send()
        .await
        // reqwest's errors print the URL, which can hold a cursor: never.
        .map_err(|e| AnswerError::Unavailable(crate::report::error_chain(&e.without_url())))?;
    let status = response.status().as_u16();
    let header = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let retry_after = header(reqwest::header::RETRY_AFTER)
        .and_then(|v| crate::retry::parse_retry_after(&v, std::time::SystemTime::now()));
    let challenge = header(reqwest::header::WWW_AUTHENTICATE).unwrap_or_default();
    let body = read_capped(response, limit).await.map_err(|e| match e {
        BodyError::TooLarge { .. } => AnswerError::TooLarge(e.to_string()),
        BodyError::Read(why) => AnswerError::Unavailable(why),
    })?;
    Ok(Answer {
        status,
        retry_after,
        challenge,
        body,
    })
}
