//! What an integration carries beside its tokens: the account's picture from the provider's
//! profile (`avatarUrl`) and the caller's own `metadata`, set with PATCH.

use integration_tests::{Options, Reply, TestApp, request};
use lambda_http::http::Method;
use serde_json::json;

async fn get(t: &TestApp, user: &str, id: &str) -> Reply {
    t.send(
        request(Method::GET, &format!("/integrations/{id}"))
            .user(user)
            .build(),
    )
    .await
}

#[tokio::test]
async fn the_account_picture_comes_from_the_providers_profile() {
    let t = TestApp::new().await;
    let connected = t.connect("amy").await;
    assert_eq!(
        connected["avatarUrl"],
        format!("{}/avatars/amy.svg", t.oauth_url),
        "{connected}"
    );
    let id = connected["id"].as_str().unwrap_or_default();
    let got = get(&t, "amy", id).await.data()["integration"].clone();
    assert_eq!(got["avatarUrl"], connected["avatarUrl"]);
}

#[tokio::test]
async fn metadata_is_the_callers_own_object_replaced_whole_and_cleared_by_an_empty_one() {
    let t = TestApp::new().await;
    let id = t.connected("bea").await;
    assert_eq!(
        get(&t, "bea", &id).await.data()["integration"]["metadata"],
        json!({}),
        "none yet: an empty object"
    );

    let first = json!({"team": "sales", "crm": {"id": "C-1042", "tags": ["vip", 3, null]}});
    let reply = t
        .patch_integration("bea", &id, json!({"metadata": first}))
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(reply.data()["integration"]["metadata"], first);
    // Settings untouched by a metadata-only PATCH.
    assert_eq!(
        reply.data()["integration"]["syncSettings"]["enabled"],
        false
    );
    let listed = t
        .send(request(Method::GET, "/integrations").user("bea").build())
        .await;
    assert_eq!(listed.data()["integrations"][0]["metadata"], first);

    // Replaced whole, not merged; settings and metadata together in one PATCH.
    let both = json!({
        "syncSettings": {"enabled": true, "syncTypes": ["calendar"], "frequency": "daily"},
        "metadata": {"team": "support"},
    });
    let reply = t.patch_integration("bea", &id, both).await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let got = get(&t, "bea", &id).await.data()["integration"].clone();
    assert_eq!(got["metadata"], json!({"team": "support"}));
    assert_eq!(got["syncSettings"]["frequency"], "daily");

    // A settings-only PATCH leaves the metadata.
    let settings = json!({"syncSettings": {"enabled": false, "syncTypes": ["calendar"], "frequency": "hourly"}});
    assert_eq!(
        t.patch_integration("bea", &id, settings).await.status(),
        200
    );
    let got = get(&t, "bea", &id).await.data()["integration"].clone();
    assert_eq!(got["metadata"], json!({"team": "support"}));

    let reply = t
        .patch_integration("bea", &id, json!({"metadata": {}}))
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(
        get(&t, "bea", &id).await.data()["integration"]["metadata"],
        json!({})
    );
    let item = t.integration_item("bea", &id).await;
    assert!(!item.contains_key("metadata"), "cleared, not stored empty");
}

#[tokio::test]
async fn metadata_past_its_cap_or_not_an_object_is_refused_and_nothing_changes() {
    let t = TestApp::new().await;
    let id = t.connected("cal").await;
    let kept = json!({"kept": true});
    assert_eq!(
        t.patch_integration("cal", &id, json!({"metadata": kept}))
            .await
            .status(),
        200
    );
    // 4096 bytes of compact JSON are kept; one more is refused.
    let at_cap = |extra: usize| {
        let padding = 4_096 - r#"{"p":""}"#.len() + extra;
        json!({"p": "x".repeat(padding)})
    };
    assert_eq!(
        t.patch_integration("cal", &id, json!({"metadata": at_cap(0)}))
            .await
            .status(),
        200
    );
    assert_eq!(
        t.patch_integration("cal", &id, json!({"metadata": kept}))
            .await
            .status(),
        200
    );
    for (what, body) in [
        ("over the cap", json!({"metadata": at_cap(1)})),
        ("null", json!({"metadata": null})),
        ("an array", json!({"metadata": ["a"]})),
        ("a string", json!({"metadata": "a"})),
        (
            "null settings",
            json!({"syncSettings": null, "metadata": {"a": 1}}),
        ),
        ("nothing to change", json!({})),
        ("an unknown field", json!({"metadata": {}, "labels": {}})),
    ] {
        let reply = t.patch_integration("cal", &id, body).await;
        assert_eq!(
            (reply.status(), reply.error_code().as_str()),
            (400, "VALIDATION_ERROR"),
            "{what}: {}",
            reply.body()
        );
    }
    assert_eq!(
        get(&t, "cal", &id).await.data()["integration"]["metadata"],
        kept
    );
}

#[tokio::test]
async fn metadata_survives_a_reconnect_goes_with_a_disconnect_and_is_not_anothers_to_set() {
    let t = TestApp::new().await;
    let id = t.connected("dee").await;
    let mine = json!({"seat": 7});
    assert_eq!(
        t.patch_integration("dee", &id, json!({"metadata": mine}))
            .await
            .status(),
        200
    );

    // Another user: the integration does not exist for them, and stays as it was.
    let theirs = t
        .patch_integration("mallory", &id, json!({"metadata": {"seat": 0}}))
        .await;
    assert_eq!(
        (theirs.status(), theirs.error_code().as_str()),
        (404, "ACCOUNT_NOT_FOUND")
    );
    assert_eq!(
        get(&t, "dee", &id).await.data()["integration"]["metadata"],
        mine
    );

    // Connecting the same account again renews the tokens, not the app's own data.
    let again = t.connect("dee").await;
    assert_eq!(again["id"], id.as_str());
    assert_eq!(again["metadata"], mine);

    let reply = t
        .send(
            request(Method::DELETE, &format!("/integrations/{id}"))
                .user("dee")
                .build(),
        )
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    let gone = t
        .patch_integration("dee", &id, json!({"metadata": mine}))
        .await;
    assert_eq!(
        gone.status(),
        404,
        "a disconnected integration: {}",
        gone.body()
    );
    let back = t.connect("dee").await;
    assert_eq!(back["id"], id.as_str());
    assert_eq!(
        back["metadata"],
        json!({}),
        "a disconnect took the metadata with it"
    );
}

#[tokio::test]
async fn metadata_can_be_set_on_an_expired_integration_where_settings_cannot() {
    let t = TestApp::with(Options {
        own_oauth_server: true,
        ..Options::default()
    })
    .await;
    let id = t.connected("eli").await;
    t.revoke_grant_at_provider("eli", &id).await;
    t.expire_in("eli", &id, 0).await;
    let refused = t.manual_refresh("eli", &id).await;
    assert_eq!(refused.error_code(), "TOKEN_EXPIRED", "{}", refused.body());
    assert_eq!(
        get(&t, "eli", &id).await.data()["integration"]["status"],
        "expired"
    );

    let label = json!({"note": "asked to reconnect"});
    let reply = t
        .patch_integration("eli", &id, json!({"metadata": label}))
        .await;
    assert_eq!(reply.status(), 200, "{}", reply.body());
    assert_eq!(reply.data()["integration"]["metadata"], label);
    let settings = json!({
        "syncSettings": {"enabled": true, "syncTypes": ["calendar"], "frequency": "daily"},
        "metadata": {"note": "both"},
    });
    let reply = t.patch_integration("eli", &id, settings).await;
    assert_eq!(
        (reply.status(), reply.error_code().as_str()),
        (409, "CONFLICT"),
        "{}",
        reply.body()
    );
    assert_eq!(
        get(&t, "eli", &id).await.data()["integration"]["metadata"],
        label,
        "a refused PATCH changes nothing"
    );
}
