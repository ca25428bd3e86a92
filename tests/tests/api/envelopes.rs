//! Tokens at rest are KMS envelopes bound to their row; KMS is called about once per container.

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::{TestApp, request};
use lambda_http::http::Method;
use shared::crypto::{CryptoError, RowBinding, SealPurpose};
use shared::store::keys;

async fn envelope_of(t: &TestApp, user: &str, id: &str) -> AttributeValue {
    let item = t
        .dynamodb
        .get_item()
        .table_name(&t.table_name)
        .key(keys::PK, AttributeValue::S(keys::user(user)))
        .key(keys::SK, AttributeValue::S(keys::integration(id)))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    item[keys::TOKEN_ENVELOPE].clone()
}

async fn set_envelope(t: &TestApp, user: &str, id: &str, envelope: AttributeValue) {
    t.dynamodb
        .update_item()
        .table_name(&t.table_name)
        .key(keys::PK, AttributeValue::S(keys::user(user)))
        .key(keys::SK, AttributeValue::S(keys::integration(id)))
        .update_expression("SET tokenEnvelope = :e")
        .expression_attribute_values(":e", envelope)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn swapped_envelopes_decrypt_for_neither_row() {
    let t = TestApp::new().await;
    let alice = t.connect("alice").await;
    let bob = t.connect("bob").await;
    let (a, b) = (alice["id"].as_str().unwrap(), bob["id"].as_str().unwrap());
    let (ea, eb) = (
        envelope_of(&t, "alice", a).await,
        envelope_of(&t, "bob", b).await,
    );
    set_envelope(&t, "alice", a, eb).await;
    set_envelope(&t, "bob", b, ea).await;

    for (user, id) in [("alice", a), ("bob", b)] {
        let user_id = shared::ids::UserId::parse(user).unwrap();
        let integration_id = shared::ids::IntegrationId::parse(id).unwrap();
        let (_, envelope) = t
            .app
            .integrations()
            .get_with_tokens(&user_id, &integration_id)
            .await
            .unwrap()
            .unwrap();
        let row = RowBinding {
            user_id: user,
            record_id: id,
            provider: "demo",
        };
        let opened = t
            .app
            .cipher
            .open(SealPurpose::TokenSet, &row, &envelope.unwrap())
            .await;
        assert!(
            matches!(opened, Err(CryptoError::Undecryptable)),
            "{user}: {:?}",
            opened.map(|_| "decrypted!")
        );
        // Disconnect still works (tokens deleted), but cannot claim a revocation it could not do.
        let reply = t
            .send(
                request(Method::DELETE, &format!("/integrations/{id}"))
                    .user(user)
                    .build(),
            )
            .await;
        assert_eq!(reply.status(), 200, "{}", reply.body());
        assert_eq!(reply.data()["revoked"], false);
    }
}

#[tokio::test]
async fn a_hundred_token_writes_make_at_most_two_kms_calls() {
    let t = TestApp::with(integration_tests::Options {
        key_cache: true,
        ..Default::default()
    })
    .await;
    let before = t.keys.calls();
    for i in 0..100 {
        let id = format!("{:032x}", i);
        let row = RowBinding {
            user_id: "alice",
            record_id: &id,
            provider: "demo",
        };
        t.app
            .cipher
            .seal(SealPurpose::TokenSet, &row, b"{\"accessToken\":\"x\"}")
            .await
            .unwrap();
    }
    let calls = t.keys.calls() - before;
    println!("KMS calls for 100 token writes: {calls}");
    assert!(calls <= 2, "{calls} KMS calls for 100 writes");
    assert!(calls >= 1, "the data key must come from KMS");
}
