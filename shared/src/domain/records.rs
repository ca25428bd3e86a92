//! The records syncs write, one kind per sync type, and what a page did to each.

use serde::Serialize;

use super::SyncType;

/// A synced calendar event (docs/openapi.yaml `Event`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventRecord {
    pub id: String,
    pub external_id: String,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub attendees: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub updated_at: Option<String>,
    pub deleted: bool,
}

/// How a page changed a record: what the job's counts add up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordChange {
    Created,
    Updated,
    Deleted,
    Unchanged,
}

impl RecordChange {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Deleted => "deleted",
            Self::Unchanged => "unchanged",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Created, Self::Updated, Self::Deleted, Self::Unchanged]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A synced contact (docs/openapi.yaml `Contact`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactRecord {
    pub id: String,
    pub external_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    pub updated_at: Option<String>,
    pub deleted: bool,
}

/// A record of either kind, as a sync page writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncedRecord {
    Event(EventRecord),
    Contact(ContactRecord),
}

impl SyncedRecord {
    pub fn sync_type(&self) -> SyncType {
        match self {
            Self::Event(_) => SyncType::Calendar,
            Self::Contact(_) => SyncType::Contacts,
        }
    }
    pub fn external_id(&self) -> &str {
        match self {
            Self::Event(e) => &e.external_id,
            Self::Contact(c) => &c.external_id,
        }
    }
    /// When the provider last changed it: what tells a changed record from a repeated one.
    pub fn updated_at(&self) -> Option<&str> {
        match self {
            Self::Event(e) => e.updated_at.as_deref(),
            Self::Contact(c) => c.updated_at.as_deref(),
        }
    }
    pub fn deleted(&self) -> bool {
        match self {
            Self::Event(e) => e.deleted,
            Self::Contact(c) => c.deleted,
        }
    }
}
