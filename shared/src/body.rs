//! Provider answers are read with a size cap: a provider (or anything answering in its place)
//! cannot make a 128 MB function buffer an unbounded body.

/// Token, userinfo, revocation and discovery answers: a few KiB in practice.
pub const SMALL_ANSWER_LIMIT: usize = 64 * 1024;
/// A page of calendar events (250 events; Google's and Graph's pages are well under this).
pub const PAGE_ANSWER_LIMIT: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the answer is larger than {limit} bytes")]
    TooLarge { limit: usize },
    /// Reading failed midway (connection reset, timeout); the text never holds the URL.
    #[error("reading the answer failed: {0}")]
    Read(String),
}

/// The whole body, or [`BodyError::TooLarge`] as soon as it passes `limit` (a stated
/// Content-Length over it is refused before reading).
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, BodyError> {
    let stated: Option<u64> = response
        .headers()
        .get(reqwest::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse().ok());
    if stated
        .into_iter()
        .chain(response.content_length())
        .any(|n| n > limit as u64)
    {
        return Err(BodyError::TooLarge { limit });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| BodyError::Read(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > limit {
            return Err(BodyError::TooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(body: &'static str, content_length: Option<&str>) -> reqwest::Response {
        let mut builder = lambda_http::http::Response::builder().status(200);
        if let Some(n) = content_length {
            builder = builder.header("content-length", n);
        }
        reqwest::Response::from(builder.body(body).unwrap())
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_and_one_within_is_read() {
        let small = read_capped(answer("0123456789", None), 10).await.unwrap();
        assert_eq!(small, b"0123456789");
        let big = read_capped(answer("0123456789A", None), 10).await;
        assert!(
            matches!(big, Err(BodyError::TooLarge { limit: 10 })),
            "{big:?}"
        );
        let announced = read_capped(answer("", Some("1000000")), 10).await;
        assert!(
            matches!(announced, Err(BodyError::TooLarge { .. })),
            "{announced:?}"
        );
    }
}
