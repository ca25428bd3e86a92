use super::*;
use crate::domain::RecordChange;
use crate::ids::JobId;
use crate::store::StoredMark;
use crate::sync::source::ProviderEvent;

fn job(page_index: u32) -> SyncJob {
    SyncJob {
        job_id: JobId::parse(&"j".repeat(32)).unwrap(),
        user_id: UserId::parse("u").unwrap(),
        integration_id: IntegrationId::parse(&"a".repeat(32)).unwrap(),
        sync_type: crate::domain::SyncType::Calendar,
        full: false,
        status: SyncStatus::Running,
        counts: SyncCounts::default(),
        error: None,
        created_at: String::new(),
        started_at: None,
        finished_at: None,
        page_index,
        page_token: None,
        since_cursor: None,
        listed: false,
        final_cursor: None,
    }
}

fn event(deleted: bool, updated: &str) -> SyncedRecord {
    let event = ProviderEvent {
        external_id: "e1".into(),
        title: "t".into(),
        description: None,
        start_time: None,
        end_time: None,
        attendees: vec![],
        location: None,
        updated_at: Some(updated.into()),
        deleted,
    };
    SyncedRecord::Event(record_of(
        &IntegrationId::parse(&"a".repeat(32)).unwrap(),
        &event,
    ))
}

fn mark(
    deleted: bool,
    updated: &str,
    by: Option<(&str, u32)>,
    change: Option<RecordChange>,
) -> StoredMark {
    StoredMark {
        updated_at: Some(updated.into()),
        deleted,
        written_by: by.map(|(j, p)| (j.to_string(), p)),
        change,
    }
}

#[test]
fn changes_count_against_what_the_store_holds() {
    let j = job(3);
    assert_eq!(
        classify(&event(false, "t1"), None, &j),
        RecordChange::Created
    );
    assert_eq!(
        classify(&event(true, "t1"), None, &j),
        RecordChange::Unchanged,
        "never seen, already gone"
    );
    let live = mark(false, "t1", None, None);
    assert_eq!(
        classify(&event(false, "t1"), Some(&live), &j),
        RecordChange::Unchanged
    );
    assert_eq!(
        classify(&event(false, "t2"), Some(&live), &j),
        RecordChange::Updated
    );
    assert_eq!(
        classify(&event(true, "t2"), Some(&live), &j),
        RecordChange::Deleted
    );
    let gone = mark(true, "t2", None, None);
    assert_eq!(
        classify(&event(true, "t2"), Some(&gone), &j),
        RecordChange::Unchanged
    );
    assert_eq!(
        classify(&event(false, "t3"), Some(&gone), &j),
        RecordChange::Updated,
        "restored"
    );
}

#[test]
fn a_replayed_page_counts_what_it_counted_the_first_time() {
    let j = job(3);
    let own = mark(
        false,
        "t1",
        Some((j.job_id.as_str(), 3)),
        Some(RecordChange::Created),
    );
    assert_eq!(
        classify(&event(false, "t1"), Some(&own), &j),
        RecordChange::Created
    );
    // Written by an earlier page of the same job: a real comparison.
    let earlier = mark(
        false,
        "t1",
        Some((j.job_id.as_str(), 2)),
        Some(RecordChange::Created),
    );
    assert_eq!(
        classify(&event(false, "t1"), Some(&earlier), &j),
        RecordChange::Unchanged
    );
}

#[test]
fn record_ids_are_stable_and_per_integration() {
    let a = IntegrationId::parse(&"a".repeat(32)).unwrap();
    let b = IntegrationId::parse(&"b".repeat(32)).unwrap();
    assert_eq!(record_id(&a, "e1"), record_id(&a, "e1"));
    assert_ne!(record_id(&a, "e1"), record_id(&b, "e1"));
    assert_eq!(record_id(&a, "e1").len(), 32);
}
