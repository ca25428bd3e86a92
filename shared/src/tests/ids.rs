use super::*;

#[test]
fn integration_ids_are_stable_per_account_and_distinct_across_users() {
    let p = ProviderId::parse("demo").unwrap();
    let a = UserId::parse("alice").unwrap();
    let b = UserId::parse("bob").unwrap();
    assert_eq!(
        IntegrationId::derive(&a, &p, "x"),
        IntegrationId::derive(&a, &p, "x")
    );
    assert_ne!(
        IntegrationId::derive(&a, &p, "x"),
        IntegrationId::derive(&b, &p, "x")
    );
    // Length-prefixed parts: ("ab","c") and ("a","bc") must not collide.
    let ab = UserId::parse("ab").unwrap();
    let a_ = UserId::parse("a").unwrap();
    let pc = ProviderId::parse("c").unwrap();
    let pbc = ProviderId::parse("bc").unwrap();
    assert_ne!(
        IntegrationId::derive(&ab, &pc, "x"),
        IntegrationId::derive(&a_, &pbc, "x")
    );
    let id = IntegrationId::derive(&a, &p, "x");
    assert!(IntegrationId::parse(id.as_str()).is_ok());
}

#[test]
fn ids_refuse_malformed_input() {
    assert!(IntegrationId::parse("../../etc").is_err());
    assert!(IntegrationId::parse("01JZZZZZZZZZZZZZZZZZZZZZZZ").is_err());
    assert!(ProviderId::parse("Google").is_err());
    assert!(ProviderId::parse("").is_err());
    assert!(UserId::parse("").is_err());
    assert!(UserId::parse("a\nb").is_err());
    assert_eq!(ProviderId::parse("my-idp").unwrap().env_prefix(), "MY_IDP");
}

#[test]
fn job_ids_are_what_the_api_documents_and_ours_parse() {
    let ours = JobId::new();
    assert_eq!(JobId::parse(ours.as_str()).unwrap(), ours);
    assert!(JobId::parse(&"a".repeat(26)).is_ok());
    assert!(JobId::parse(&"a".repeat(64)).is_ok());
    for bad in [
        "a".repeat(25),
        "a".repeat(65),
        "A".repeat(32),
        "../".repeat(10),
    ] {
        assert!(JobId::parse(&bad).is_err(), "{bad}");
    }
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        format!("\"{}\"", ours.as_str())
    );
}
