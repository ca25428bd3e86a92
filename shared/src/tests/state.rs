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
