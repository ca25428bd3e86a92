//! Property tests of every parser of outside input: generated inputs (proptest, a bounded number
//! of cases each) never panic, and every refusal is a typed error. The OAuth `state`, `Retry-After`, provider answers in every catalogue dialect (token,
//! userinfo, error), sync pages (Google and Graph shapes), the catalogue TOML and cursors.
//! Request bodies and queries are fuzzed over HTTP by Schemathesis (tests/api/generated.rs).

use std::time::{Duration, SystemTime};

use proptest::prelude::*;
use serde_json::Value;

use crate::catalogue::{EMBEDDED, ProviderCatalogue};
use crate::ids::ProviderId;
use crate::oauth::{account_from_userinfo, wire};
use crate::retry::{MAX_RETRY_AFTER, parse_retry_after};
use crate::state::StateKey;
use crate::store::{decode_cursor, encode_cursor};
use crate::sync::source::{google_page, graph_page};

/// 1,024 cases a property in `make test` (about 5 s in all); `PARSER_CASES=100000 cargo test
/// -p shared parsers` for a longer hunt.
fn config() -> ProptestConfig {
    let cases = std::env::var("PARSER_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1024);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Any JSON value, a few levels deep, with the keys providers' answers use mixed in so that
/// the parsers' interesting branches are reached, not only "no such field".
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("access_token".to_string()),
        Just("refresh_token".to_string()),
        Just("expires_in".to_string()),
        Just("scope".to_string()),
        Just("error".to_string()),
        Just("error_type".to_string()),
        Just("ok".to_string()),
        Just("type".to_string()),
        Just("code".to_string()),
        Just("data".to_string()),
        Just("authed_user".to_string()),
        Just("items".to_string()),
        Just("value".to_string()),
        Just("nextPageToken".to_string()),
        Just("nextSyncToken".to_string()),
        Just("@odata.nextLink".to_string()),
        Just("@odata.deltaLink".to_string()),
        Just("id".to_string()),
        Just("sub".to_string()),
        Just("email".to_string()),
        Just("start".to_string()),
        Just("status".to_string()),
        ".{0,12}",
    ];
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        ".{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

fn catalogue() -> ProviderCatalogue {
    let env = |name: &str| match name {
        "OIDC_ISSUER" => Some("https://issuer.example".to_string()),
        _ => None,
    };
    ProviderCatalogue::parse(EMBEDDED, &env).expect("the embedded catalogue")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn a_state_is_refused_unless_issued_and_unaltered(
        garbage in ".{0,300}",
        index in any::<prop::sample::Index>(),
        replacement in "[A-Za-z0-9_-]",
    ) {
        let key = StateKey::new(vec![7; 32]).unwrap();
        let demo = ProviderId::parse("demo").unwrap();
        prop_assert!(key.verify(&garbage, &demo, 0).is_err());
        let issued = key.issue(&demo, i64::MAX).value;
        prop_assert!(key.verify(&issued, &demo, 0).is_ok());
        let mut altered: Vec<char> = issued.chars().collect();
        let at = index.index(altered.len());
        let mut new = replacement.chars().next().unwrap();
        if altered[at] == new {
            // Another character of the same alphabet: the state is altered either way.
            new = if new == 'A' { 'B' } else { 'A' };
        }
        altered[at] = new;
        let altered: String = altered.into_iter().collect();
        prop_assert!(key.verify(&altered, &demo, 0).is_err());
    }

    #[test]
    fn retry_after_is_none_or_at_most_the_cap(value in ".{0,40}", secs in any::<u64>()) {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        if let Some(wait) = parse_retry_after(&value, now) {
            prop_assert!(wait <= MAX_RETRY_AFTER);
        }
        let asked = parse_retry_after(&secs.to_string(), now);
        prop_assert_eq!(asked, Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER)));
    }

    #[test]
    fn provider_answers_in_every_dialect_give_a_token_set_or_a_typed_error(
        body in json(),
        raw in prop::collection::vec(any::<u8>(), 0..200),
        form in any::<bool>(),
        now in 0i64..4_000_000_000,
    ) {
        let content_type = form.then_some("application/x-www-form-urlencoded");
        let _ = wire::answer_body(content_type, &raw);
        let text = body.to_string();
        // Read back as JSON (floats may round: serde_json parses them without round-trip).
        let read = wire::answer_body(Some("application/json"), text.as_bytes());
        prop_assert!(read.is_some());
        for provider in catalogue().all() {
            let _ = wire::answer_error(provider, &body);
            let paths = &provider.token_response.code_path;
            if let Ok(set) = wire::token_set(provider, &body, paths, now) {
                prop_assert!(!secrecy::ExposeSecret::expose_secret(&set.access_token).is_empty());
                if let Some(expires_at) = set.expires_at {
                    prop_assert!(expires_at >= now);
                }
            }
            let refresh_paths = &provider.token_response.refresh_path;
            let _ = wire::token_set(provider, &body, refresh_paths, now);
            if let Ok(account) = account_from_userinfo(provider, &body) {
                prop_assert!(!account.external_account_id.is_empty());
            }
        }
    }

    #[test]
    fn sync_pages_of_either_shape_parse_or_are_refused(
        body in json(),
        raw in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let text = body.to_string();
        for bytes in [text.as_bytes(), raw.as_slice()] {
            let _ = google_page(bytes);
            let _ = graph_page(bytes);
        }
    }

    #[test]
    fn a_damaged_catalogue_loads_or_is_refused_with_its_reason(
        cut in any::<prop::sample::Index>(),
        length in 0usize..64,
        insert in ".{0,16}",
    ) {
        let mut text: Vec<char> = EMBEDDED.chars().collect();
        let start = cut.index(text.len());
        let end = (start + length).min(text.len());
        text.splice(start..end, insert.chars());
        let text: String = text.into_iter().collect();
        let env = |_: &str| None;
        if let Err(e) = ProviderCatalogue::parse(&text, &env) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn a_cursor_decodes_only_to_its_own_kind_of_key(raw in ".{0,80}", key in "[ -~]{0,60}") {
        if let Some(decoded) = decode_cursor(&raw, "EVENT#") {
            prop_assert!(decoded.starts_with("EVENT#"));
        }
        let sort_key = format!("AUDIT#{key}");
        prop_assert_eq!(decode_cursor(&encode_cursor(&sort_key), "AUDIT#"), Some(sort_key.clone()));
        prop_assert_eq!(decode_cursor(&encode_cursor(&sort_key), "EVENT#"), None);
    }
}
