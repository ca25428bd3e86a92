//! Synced records to and from items: events at `EVENT#{externalId}`, contacts at
//! `CONTACT#{externalId}`, under `INTEGRATION#{id}`, each with the mark of what wrote it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::codec::*;
use super::keys;
use crate::domain::{ContactRecord, EventRecord, RecordChange, SyncType, SyncedRecord};
use crate::ids::IntegrationId;
use crate::store::StoreError;

/// A record's key.
pub(super) fn record_key(
    integration: &str,
    sync_type: SyncType,
    external_id: &str,
) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (keys::PK.to_string(), s(keys::integration(integration))),
        (
            keys::SK.to_string(),
            s(keys::record(sync_type, external_id)),
        ),
    ])
}

pub(super) fn event_key(integration: &str, external_id: &str) -> HashMap<String, AttributeValue> {
    record_key(integration, SyncType::Calendar, external_id)
}

pub(super) fn event_from(
    item: &HashMap<String, AttributeValue>,
) -> Result<EventRecord, StoreError> {
    let it = Item(item);
    Ok(EventRecord {
        id: it.s("id")?,
        external_id: it.s("externalId")?,
        title: it.opt_s("title").unwrap_or_default(),
        description: it.opt_s("description"),
        start_time: it.opt_s("startTime"),
        end_time: it.opt_s("endTime"),
        attendees: it.strings("attendees"),
        location: it.opt_s("location"),
        updated_at: it.opt_s("updatedAt"),
        deleted: matches!(item.get("deleted"), Some(AttributeValue::Bool(true))),
    })
}

pub(super) fn contact_from(
    item: &HashMap<String, AttributeValue>,
) -> Result<ContactRecord, StoreError> {
    let it = Item(item);
    Ok(ContactRecord {
        id: it.s("id")?,
        external_id: it.s("externalId")?,
        display_name: it.opt_s("displayName"),
        given_name: it.opt_s("givenName"),
        family_name: it.opt_s("familyName"),
        emails: it.strings("emails"),
        phones: it.strings("phones"),
        organization: it.opt_s("organization"),
        job_title: it.opt_s("jobTitle"),
        updated_at: it.opt_s("updatedAt"),
        deleted: matches!(item.get("deleted"), Some(AttributeValue::Bool(true))),
    })
}

/// At most this many attendees, e-mail addresses or phone numbers, each cut to an e-mail
/// address's longest (RFC 5321: 254): an item stays far below DynamoDB's 400 KB whatever the
/// provider lists.
const MAX_LIST: usize = 500;
const MAX_LIST_ITEM_BYTES: usize = 254;

fn list_value(values: &[String]) -> AttributeValue {
    AttributeValue::L(
        values
            .iter()
            .take(MAX_LIST)
            .map(|a| s(truncate(a, MAX_LIST_ITEM_BYTES)))
            .collect(),
    )
}

/// A record's item, with the mark of what wrote it: a sync job's page, or a write route.
pub(super) fn record_item(
    integration: &IntegrationId,
    record: &SyncedRecord,
    written_by: &str,
    page_index: u32,
    change: RecordChange,
) -> HashMap<String, AttributeValue> {
    let mut item = record_key(
        integration.as_str(),
        record.sync_type(),
        record.external_id(),
    );
    item.extend([
        ("externalId".to_string(), s(record.external_id())),
        (
            "deleted".to_string(),
            AttributeValue::Bool(record.deleted()),
        ),
        ("syncJob".to_string(), s(written_by)),
        ("syncPage".to_string(), n(page_index)),
        ("syncChange".to_string(), s(change.as_str())),
    ]);
    let texts: Vec<(&str, &Option<String>)> = match record {
        SyncedRecord::Event(e) => {
            item.extend([
                ("id".to_string(), s(e.id.clone())),
                ("title".to_string(), s(truncate(&e.title, 1024))),
                ("attendees".to_string(), list_value(&e.attendees)),
            ]);
            vec![
                ("description", &e.description),
                ("startTime", &e.start_time),
                ("endTime", &e.end_time),
                ("location", &e.location),
                ("updatedAt", &e.updated_at),
            ]
        }
        SyncedRecord::Contact(c) => {
            item.extend([
                ("id".to_string(), s(c.id.clone())),
                ("emails".to_string(), list_value(&c.emails)),
                ("phones".to_string(), list_value(&c.phones)),
            ]);
            vec![
                ("displayName", &c.display_name),
                ("givenName", &c.given_name),
                ("familyName", &c.family_name),
                ("organization", &c.organization),
                ("jobTitle", &c.job_title),
                ("updatedAt", &c.updated_at),
            ]
        }
    };
    for (name, value) in texts {
        if let Some(v) = value {
            item.insert(name.to_string(), s(truncate(v, 8 * 1024)));
        }
    }
    item
}
