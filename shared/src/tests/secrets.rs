//! The cache's rules, over a scripted source (the Secrets Manager adapter itself is exercised
//! against moto by the end-to-end tests).

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// Answers from a script: each read takes the current value, or fails while `down`.
#[derive(Default)]
struct Scripted {
    value: Mutex<String>,
    down: std::sync::atomic::AtomicBool,
    reads: AtomicUsize,
}

#[async_trait]
impl SecretSource for Scripted {
    async fn secret_string(&self, _id: &str) -> Result<SecretString, SecretError> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(SecretError::Service("throttled".into()));
        }
        Ok(SecretString::from(self.value.lock().unwrap().clone()))
    }
}

fn source(value: &str) -> Arc<Scripted> {
    let source = Arc::new(Scripted::default());
    *source.value.lock().unwrap() = value.into();
    source
}

#[tokio::test]
async fn a_secret_is_read_once_per_cache_time_and_again_after_it() {
    let script = source(r#"{"client_id":"one","client_secret":"s1"}"#);
    let cache = SecretCache::new(script.clone(), Duration::from_secs(3600));
    for _ in 0..3 {
        assert_eq!(
            cache.client_credentials("p").await.unwrap().client_id,
            "one"
        );
    }
    assert_eq!(script.reads.load(Ordering::SeqCst), 1);

    // Rotated: a cache whose time has passed reads the new value.
    *script.value.lock().unwrap() = r#"{"client_id":"two","client_secret":"s2"}"#.into();
    assert_eq!(
        cache.client_credentials("p").await.unwrap().client_id,
        "one"
    );
    let expired = SecretCache::new(script.clone(), Duration::ZERO);
    assert_eq!(
        expired.client_credentials("p").await.unwrap().client_id,
        "two"
    );
    assert_eq!(
        expired.client_credentials("p").await.unwrap().client_id,
        "two"
    );
    assert_eq!(script.reads.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn an_outage_serves_the_last_value_read_and_fails_only_without_one() {
    let script = source(&"k".repeat(32));
    let cache = SecretCache::new(script.clone(), Duration::ZERO);
    script.down.store(true, Ordering::SeqCst);
    let first = cache.state_key("state").await;
    assert!(
        matches!(first, Err(SecretError::Service(_))),
        "nothing read yet"
    );

    script.down.store(false, Ordering::SeqCst);
    cache.state_key("state").await.unwrap();
    script.down.store(true, Ordering::SeqCst);
    cache
        .state_key("state")
        .await
        .expect("the last value read, while the store is down");
    assert_eq!(script.reads.load(Ordering::SeqCst), 3, "and it kept asking");
}

#[tokio::test]
async fn unusable_values_are_refused_without_quoting_them() {
    let cases = [
        ("not json at all: hunter2-secret", "not that JSON object"),
        (r#""hunter2-secret""#, "not that JSON object"),
        (
            r#"{"client_id":"id","client_secret":["hunter2"]}"#,
            "not that JSON object",
        ),
        (r#"{"client_id":"id"}"#, "missing field `client_secret`"),
        (
            r#"{"client_id":"","client_secret":"hunter2-secret"}"#,
            "empty",
        ),
    ];
    for (value, says) in cases {
        let cache = SecretCache::new(source(value), Duration::from_secs(60));
        let error = cache.client_credentials("acme").await.err().unwrap();
        let text = error.to_string();
        assert!(matches!(error, SecretError::Unusable { .. }), "{text}");
        assert!(text.contains("acme") && text.contains(says), "{text}");
        assert!(!text.contains("hunter2"), "the value leaked: {text}");
    }
    let short = SecretCache::new(source("too-short"), Duration::from_secs(60));
    let error = short.state_key("state").await.err().unwrap().to_string();
    assert!(
        error.contains("32 bytes") && !error.contains("too-short"),
        "{error}"
    );
}
