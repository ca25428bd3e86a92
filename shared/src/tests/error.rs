use super::*;

#[test]
fn server_side_failures_are_coded_and_never_leak_their_details() {
    let provider: ApiError =
        ProviderError::Unavailable("connect error: tcp 10.0.0.7:443 refused".into()).into();
    assert_eq!(
        (provider.status(), provider.code(), provider.retryable()),
        (502, "NETWORK_ERROR", true)
    );
    assert!(!provider.public_message().contains("10.0.0.7"));
    let kms: ApiError = CryptoError::KeyService("ThrottlingException: rate exceeded".into()).into();
    assert_eq!(
        (kms.status(), kms.code(), kms.retryable()),
        (503, "KEY_SERVICE_ERROR", true)
    );
    assert!(!kms.public_message().contains("Throttling"));
    let secrets: ApiError = ProviderError::Secrets(SecretError::Service(
        "ThrottlingException: GetSecretValue on app/state-key".into(),
    ))
    .into();
    assert_eq!(
        (secrets.status(), secrets.code(), secrets.retryable()),
        (503, "SECRET_SERVICE_ERROR", true)
    );
    assert!(!secrets.public_message().contains("state-key"));
    let corrupt: ApiError = StoreError::Corrupt("missing string attribute userId".into()).into();
    assert_eq!((corrupt.status(), corrupt.retryable()), (500, false));
    assert!(!corrupt.public_message().contains("userId"));
    let undecryptable: ApiError = CryptoError::Undecryptable.into();
    assert_eq!(
        (undecryptable.status(), undecryptable.retryable()),
        (500, false)
    );
    let conflict: ApiError = StoreError::Conflict.into();
    assert_eq!(conflict.status(), 409);
}

#[test]
fn naming_the_provider_changes_only_the_body_and_only_for_its_failures() {
    let demo = ProviderId::parse("demo").unwrap();
    let busy = ApiError::TokenRefresh {
        why: "provider answered 503".into(),
        retryable: true,
        retry_after: Some(std::time::Duration::from_secs(7)),
    };
    let before = (
        busy.status(),
        busy.code(),
        busy.retryable(),
        busy.retry_after(),
    );
    let named = busy
        .at_provider(&demo)
        .at_provider(&ProviderId::parse("other").unwrap());
    assert_eq!(named.provider(), Some(&demo), "named once, by the first");
    assert_eq!(
        (
            named.status(),
            named.code(),
            named.retryable(),
            named.retry_after()
        ),
        before
    );
    assert!(matches!(named.peeled(), ApiError::TokenRefresh { .. }));
    for not_the_providers in [
        ApiError::NotFound,
        ApiError::Validation("bad".into()),
        StoreError::Service("throttled".into()).into(),
    ] {
        assert_eq!(not_the_providers.at_provider(&demo).provider(), None);
    }
}
