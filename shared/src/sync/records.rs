//! A fetched page into stored records: stable record ids, each event's change against what the
//! store holds, and the page's batched write.

use sha2::{Digest, Sha256};

use super::contacts::ProviderContact;
use super::source::ProviderEvent;
use crate::app::App;
use crate::domain::{ContactRecord, EventRecord, RecordChange, SyncCounts, SyncJob, SyncedRecord};
use crate::ids::IntegrationId;
use crate::store::{StoreError, StoredMark};

/// The record id the API shows (docs/openapi.yaml `Event.id`): stable per (integration, provider event).
pub(crate) fn record_id(integration: &IntegrationId, external_id: &str) -> String {
    let mut hash = Sha256::new();
    for part in [integration.as_str(), external_id] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    crate::ids::hex(&hash.finalize()[..16])
}

/// The stored record of a provider event.
pub fn record_of(integration: &IntegrationId, event: &ProviderEvent) -> EventRecord {
    EventRecord {
        id: record_id(integration, &event.external_id),
        external_id: event.external_id.clone(),
        title: event.title.clone(),
        description: event.description.clone(),
        start_time: event.start_time.clone(),
        end_time: event.end_time.clone(),
        attendees: event.attendees.clone(),
        location: event.location.clone(),
        updated_at: event.updated_at.clone(),
        deleted: event.deleted,
    }
}

/// The stored record of a provider contact.
pub fn contact_record_of(integration: &IntegrationId, c: &ProviderContact) -> ContactRecord {
    ContactRecord {
        id: record_id(integration, &c.external_id),
        external_id: c.external_id.clone(),
        display_name: c.display_name.clone(),
        given_name: c.given_name.clone(),
        family_name: c.family_name.clone(),
        emails: c.emails.clone(),
        phones: c.phones.clone(),
        organization: c.organization.clone(),
        job_title: c.job_title.clone(),
        updated_at: c.updated_at.clone(),
        deleted: c.deleted,
    }
}

/// How this page changes a record, given what the store holds.
pub(super) fn classify(
    record: &SyncedRecord,
    mark: Option<&StoredMark>,
    job: &SyncJob,
) -> RecordChange {
    if let Some(m) = mark
        && m.written_by
            .as_ref()
            .is_some_and(|(j, p)| j == job.job_id.as_str() && *p == job.page_index)
        && let Some(change) = m.change
    {
        // This very page wrote it before a crash: count it as that run did.
        return change;
    }
    match (mark, record.deleted()) {
        (None, false) => RecordChange::Created,
        (None, true) => RecordChange::Unchanged,
        (Some(m), true) if m.deleted => RecordChange::Unchanged,
        (Some(_), true) => RecordChange::Deleted,
        (Some(m), false) if !m.deleted && m.updated_at.as_deref() == record.updated_at() => {
            RecordChange::Unchanged
        }
        (Some(_), false) => RecordChange::Updated,
    }
}

/// DynamoDB sort keys take 1,024 bytes; `EVENT#` and some room leave 1,000 for the id.
const MAX_EXTERNAL_ID_BYTES: usize = 1000;

/// A provider event id the table can key: non-empty, within the key limit, no control
/// characters.
pub(crate) fn storable_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_EXTERNAL_ID_BYTES && !id.chars().any(char::is_control)
}

/// Writes one page's records and returns what they count for.
pub(super) async fn write_page(
    app: &App,
    job: &SyncJob,
    records: Vec<SyncedRecord>,
) -> Result<SyncCounts, StoreError> {
    let mut counts = SyncCounts::default();
    if records.is_empty() {
        return Ok(counts);
    }
    // A provider may list a record twice in one page: the last one wins, counted once.
    let mut unique: Vec<SyncedRecord> = Vec::with_capacity(records.len());
    for record in records {
        if !storable_id(record.external_id()) {
            // One record the table cannot key must not fail the page (and the job) for good.
            tracing::warn!(
                integration_id = job.integration_id.as_str(),
                id_bytes = record.external_id().len(),
                "provider record with an unstorable id skipped"
            );
            counts.skipped += 1;
            continue;
        }
        match unique
            .iter()
            .position(|r| r.external_id() == record.external_id())
        {
            Some(i) => unique[i] = record,
            None => unique.push(record),
        }
    }
    let ids: Vec<String> = unique.iter().map(|r| r.external_id().to_string()).collect();
    let marks = app
        .synced_records()
        .marks(&job.integration_id, job.sync_type, &ids)
        .await?;
    let mut page = Vec::with_capacity(unique.len());
    for record in unique {
        let change = classify(&record, marks.get(record.external_id()), job);
        match change {
            RecordChange::Created => counts.created += 1,
            RecordChange::Updated => counts.updated += 1,
            RecordChange::Deleted => counts.deleted += 1,
            RecordChange::Unchanged => {}
        }
        page.push((record, change));
    }
    app.synced_records()
        .put_page(&job.integration_id, &page, &job.job_id, job.page_index)
        .await?;
    Ok(counts)
}
